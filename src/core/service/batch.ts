/**
 * `ai-image generate --batch` (#16): images at half price through OpenAI's Batch API, never paid twice.
 *
 * A run first collects every recorded batch that is final (`<cacheDir>/batches/`: any machine with the key
 * collects; each entry is written once, under its key's lock: `batch-write.ts`), then submits what its specs
 * still miss (`batch-plan.ts`: the checks of `generate`, the budget at batch prices), each key locked while it
 * is submitted so no build starts paying for it meanwhile, and exits; `wait` stays, polling, until every
 * batch is collected (resubmitting what an expired batch did not finish). `cancel` cancels pending batches,
 * waits until they stop, keeps what they finished and submits nothing: their other keys are misses again,
 * for a build or `generate` to make now. `dry-run` prices the plan at batch prices and sends nothing.
 *
 * Per-line errors (a moderation refusal, an invalid request) are the named errors of their specs; such a key
 * is not submitted again in the same run. Loaded on first use: no build loads it.
 */
import path from 'node:path'
import type { Clock } from '../clock.js'
import { AiImageError, isAiImageError } from '../errors.js'
import type { Logger } from '../log.js'
import type { ResolvedOptions } from '../options.js'
import { createBatchClient, type BatchClient } from '../batch/client.js'
import { collectBatch, type CollectedLine } from '../batch/collect.js'
import { FINAL_STATUSES, type BatchInfo } from '../batch/objects.js'
import type { PendingIndex } from '../batch/pending.js'
import { batchesDir, readRecords, type BatchRecord } from '../batch/record.js'
import { submitBatches, type BatchItem } from '../batch/submit.js'
import type { HeldLock } from '../cache/backend.js'
import type { CacheTiers } from '../cache/tiers.js'
import { Budget } from '../engine/budget.js'
import type { CostEstimate } from '../engine/cost.js'
import type { PreparedSpec } from '../engine/prepare.js'
import { OPENAI_BASE_URL, type OpenAIProviderConfig } from '../providers/openai/config.js'
import type { ProviderConfig } from '../providers/registry.js'
import type { ProviderRequest } from '../providers/types.js'
import type { SpecRef } from '../spec/source.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { callsOf, planBatch, type BatchPlanEntry } from './batch-plan.js'
import { writeCollectedLine } from './batch-write.js'
import { cachedKey, type PendingBatch, type PlanDeps } from './plan.js'

/** What a batch run needs of the service. */
export interface BatchDeps {
  options: ResolvedOptions
  log: Logger
  cache: CacheTiers
  clock: Clock
  pending(): Promise<PendingIndex>
  loadSpec: PlanDeps['loadSpec']
  prepare: PlanDeps['prepare']
  /** The request of one call, as the engine would send it synchronously. */
  providerRequest(prepared: PreparedSpec, n: number): Promise<ProviderRequest>
  checkSpec(spec: ValidatedSpec): Promise<void>
}

export interface BatchRunOptions {
  /**
   * `submit`: collect finished batches, then submit what is missing; `cancel`: cancel pending batches, wait
   * until they stop and keep what they finished; `dry-run`: price what would be submitted, send nothing.
   */
  mode: 'submit' | 'cancel' | 'dry-run'
  /** `submit`: stay until every pending batch is collected. */
  wait?: boolean
  /** Between two looks at pending batches while waiting. @default 60000 */
  intervalMs?: number
  /** The refs are a selection (globs): `cancel` cancels only the batches making one of their keys. */
  selection?: boolean
  onEvent?(event: BatchEvent): void
  signal?: AbortSignal
}

export interface BatchCounts {
  total: number
  completed: number
  failed: number
}

export type BatchEvent =
  /** A batch that is not final yet (progress). */
  | { type: 'status'; batch: string; status: string; counts: BatchCounts; ageSeconds: number }
  /** A collected line's images: the entry written, already cached (another process wrote it), or still partial. */
  | { type: 'entry'; batch: string; label: string; key: string; outcome: 'written' | 'cached' | 'partial'; images: number }
  /** A line failed: the named error of its spec. */
  | { type: 'line-error'; batch: string; label: string; key: string; error: unknown }
  /** A line the batch did not finish (expired, cancelled): its key is missing again. */
  | { type: 'not-done'; batch: string; label: string; key: string; reason: string }
  /** A final batch, collected: its record is removed. */
  | { type: 'collected'; batch: string; status: string; written: number; cached: number; errors: number; notDone: number; usd: number; estimated: boolean }
  /** A batch could not be looked at or collected; `retrying`: it is tried again (while waiting, or on the next run). */
  | { type: 'batch-error'; batch: string; record: string; error: unknown; retrying: boolean }
  | { type: 'cancelled'; batch: string; status: string }
  /** A spec that is not submitted, with its error (invalid, not taken by the Batch API, over budget). */
  | { type: 'refused'; label: string; error: unknown }
  | { type: 'submitted'; batch: string; endpoint: string; requests: number; images: number; specs: string[]; estimateUSD: number; unpricedImages: number }
  /** Waiting for `batches` to finish; the next look in `nextInMs`. */
  | { type: 'waiting'; batches: number; nextInMs: number }

/** One spec as the run (or the dry run) planned it. */
export interface BatchPlanRow {
  label: string
  status: 'submit' | 'hit' | 'pending' | 'refused' | 'upstream' | 'same' | 'skipped'
  key?: string
  /** Images it asks for (`submit`). */
  images?: number
  /** At batch prices (`submit`). */
  estimate?: CostEstimate
  sameAs?: string
  upstream?: string
  pending?: PendingBatch
  error?: unknown
}

export interface BatchRunReport {
  /** The last plan of the run (`dry-run`: what would be submitted). */
  plan: BatchPlanRow[]
  collected: { batches: number; written: number; cached: number; usd: number; estimated: boolean }
  submitted: { batches: number; requests: number; images: number; estimateUSD: number; unpricedImages: number }
  /** Specs (or batches, by their record) that failed, each with its error. */
  failed: Array<{ label: string; error: unknown }>
  /** Keys still pending when the run ends, with their batch. */
  pending: Array<{ key: string; label: string } & PendingBatch>
}

const DEFAULT_INTERVAL_MS = 60_000

export async function runBatch(deps: BatchDeps, refs: readonly SpecRef[], options: BatchRunOptions): Promise<BatchRunReport> {
  const emit = options.onEvent ?? (() => {})
  const report: BatchRunReport = {
    plan: [],
    collected: { batches: 0, written: 0, cached: 0, usd: 0, estimated: false },
    submitted: { batches: 0, requests: 0, images: 0, estimateUSD: 0, unpricedImages: 0 },
    failed: [],
    pending: [],
  }
  const index = await deps.pending()
  const run = new BatchRun(deps, refs, options, emit, report, index)
  try {
    if (options.mode === 'dry-run') await run.plan(true)
    else await run.loop(openaiOf(deps.options))
  } finally {
    await run.close()
  }
  report.pending = [...(await index.all()).values()].map((p) => ({ key: p.key, label: p.label, batch: p.batchId, submitted: p.submitted, ageSeconds: p.ageSeconds }))
  return report
}

/** Collecting and submitting need the OpenAI provider (and its key); nothing is sent otherwise. */
function openaiOf(options: ResolvedOptions): OpenAIProviderConfig {
  const provider = options.provider
  if (provider.kind === 'openai') return provider
  if (provider.kind === 'azure') {
    // Azure OpenAI's Batch API documents chat completions, responses and embeddings, no image operations.
    throw new AiImageError(
      'SPEC_INVALID',
      'the provider is azure, and the Batch API for images is OpenAI-only (Azure OpenAI documents no batch image generation): nothing was uploaded. ' +
        'Generate without --batch, or set provider to openai (OPENAI_API_KEY) for --batch',
      { field: 'provider' },
    )
  }
  throw new AiImageError(
    'AUTH',
    provider.explicit
      ? 'the placeholder provider has no Batch API: set provider to openai to submit or collect batches'
      : 'no API key: set OPENAI_API_KEY to submit or collect batches (the Batch API is OpenAI-only)',
  )
}

class BatchRun {
  #client: BatchClient | undefined
  /** Keys whose line failed in this run: reported, not submitted again until the next run. */
  readonly #failedKeys = new Set<string>()
  /** Batches that cannot be collected with this key (reported once, not waited for). */
  readonly #broken = new Set<string>()
  /** Specs whose refusal was reported (a waiting run plans again each round). */
  readonly #reported = new Set<string>()
  readonly #budget: Budget

  constructor(
    private readonly deps: BatchDeps,
    private readonly refs: readonly SpecRef[],
    private readonly options: BatchRunOptions,
    private readonly emit: (event: BatchEvent) => void,
    private readonly report: BatchRunReport,
    private readonly index: PendingIndex,
  ) {
    this.#budget = new Budget(deps.options.budget)
  }

  async close(): Promise<void> {
    await this.#client?.close()
    await this.deps.cache.endRun()
  }

  async loop(config: OpenAIProviderConfig): Promise<void> {
    this.#client = createBatchClient(config, { timeout: this.deps.options.timeout, clock: this.deps.clock })
    const cancelling = this.options.mode === 'cancel' ? await this.cancel() : undefined
    const interval = this.options.intervalMs ?? DEFAULT_INTERVAL_MS
    for (;;) {
      const open = await this.collectAll()
      if (this.options.mode === 'submit') {
        await this.plan(false)
        // Just submitted: open too.
        for (const { record } of await this.records()) if (!this.#broken.has(record.id) && !open.includes(record.id)) open.push(record.id)
      }
      const waitingFor = cancelling ? open.filter((id) => cancelling.has(id)) : this.options.wait ? open : []
      if (waitingFor.length === 0) return
      this.emit({ type: 'waiting', batches: waitingFor.length, nextInMs: interval })
      await this.deps.clock.sleep(interval, this.options.signal)
    }
  }

  private records(): Promise<Array<{ record: BatchRecord; file: string }>> {
    return readRecords(this.deps.options.cacheDir, (message) => this.deps.log.warnOnce(message))
  }

  /** The record file of a batch, relative to the root, for messages (delete it to give up on the batch). */
  private recordLabel(id: string): string {
    return path.relative(this.deps.options.root, path.join(batchesDir(this.deps.options.cacheDir), `${id}.json`)).split(path.sep).join('/')
  }

  /** Cancel the selected batches (all, or those making a key of the selected specs); the ids of those that stop. */
  private async cancel(): Promise<Set<string>> {
    const client = this.#client!
    const wanted = this.options.selection ? await this.keysOfRefs() : undefined
    const ids = new Set<string>()
    for (const { record } of await this.records()) {
      if (wanted && !Object.keys(record.keys).some((key) => wanted.has(key))) continue
      let batch: BatchInfo | undefined
      try {
        batch = await client.cancelBatch(record.id, this.options.signal)
      } catch (error) {
        // Already final, or already cancelling: it is collected as it is.
        batch = await client.retrieveBatch(record.id, this.options.signal).catch(() => undefined)
        if (!batch || !(FINAL_STATUSES.has(batch.status) || batch.status === 'cancelling')) {
          this.batchFailed(record.id, error)
          continue
        }
      }
      ids.add(record.id)
      this.emit({ type: 'cancelled', batch: record.id, status: batch.status })
    }
    return ids
  }

  private async keysOfRefs(): Promise<Set<string>> {
    const keys = new Set<string>()
    const inspect = (key: string) => this.deps.cache.inspect(key)
    for (const ref of this.refs) {
      try {
        keys.add((await cachedKey({ prepare: this.deps.prepare, inspect }, await this.deps.loadSpec(ref), [])).key)
      } catch {
        // An invalid spec, or one waiting for its upstream image, has no batch.
      }
    }
    return keys
  }

  /** Collect every final batch; the ids of those still running. */
  private async collectAll(): Promise<string[]> {
    const open: string[] = []
    for (const { record } of await this.records()) {
      if (this.#broken.has(record.id)) continue
      const tally = { written: 0, cached: 0, usd: 0, estimated: false }
      try {
        const summary = await collectBatch(this.#client!, this.deps.options.cacheDir, record, {
          onLine: (line) => this.take(record, line, tally),
          warn: (message) => this.deps.log.warn(message),
          ...(this.options.signal ? { signal: this.options.signal } : {}),
        })
        if (!summary.finished) {
          open.push(record.id)
          const { batch } = summary
          this.emit({ type: 'status', batch: record.id, status: batch.status, counts: batch.counts, ageSeconds: Math.max(0, Math.floor(Date.now() / 1000) - record.submitted) })
          continue
        }
        const { collected } = this.report
        collected.batches++
        collected.written += tally.written
        collected.cached += tally.cached
        collected.usd += tally.usd
        collected.estimated ||= tally.estimated
        this.emit({ type: 'collected', batch: record.id, status: summary.batch.status, written: tally.written, cached: tally.cached, errors: summary.errors, notDone: summary.notDone, usd: tally.usd, estimated: tally.estimated })
      } catch (error) {
        const retrying = isAiImageError(error) && (error.retryable || error.code === 'NETWORK' || error.code === 'TIMEOUT' || error.code === 'RATE_LIMITED')
        if (retrying) {
          open.push(record.id)
          const label = this.recordLabel(record.id)
          // Tried again by this run while it waits; otherwise by the next run, and this one says it failed.
          if (!this.waits()) this.report.failed.push({ label, error })
          this.emit({ type: 'batch-error', batch: record.id, record: label, error, retrying })
        } else this.batchFailed(record.id, error)
      }
    }
    return open
  }

  /** This run stays until batches finish: waiting, or cancelling. */
  private waits(): boolean {
    return this.options.mode === 'cancel' || this.options.wait === true
  }

  private batchFailed(id: string, error: unknown): void {
    this.#broken.add(id)
    const record = this.recordLabel(id)
    this.report.failed.push({ label: record, error })
    this.emit({ type: 'batch-error', batch: id, record, error, retrying: false })
  }

  /** One collected line: its entry written (once, under the key's lock), or its spec's error. */
  private async take(record: BatchRecord, line: CollectedLine, tally: { written: number; cached: number; usd: number; estimated: boolean }): Promise<void> {
    const base = { batch: record.id, label: line.label, key: line.key }
    if (line.kind === 'error') {
      this.#failedKeys.add(line.key)
      this.report.failed.push({ label: line.label, error: line.error })
      this.emit({ type: 'line-error', ...base, error: line.error })
      return
    }
    if (line.kind === 'not-done') {
      this.emit({ type: 'not-done', ...base, reason: line.reason })
      return
    }
    const outcome = await writeCollectedLine({ cache: this.deps.cache, clock: this.deps.clock, prices: this.deps.options.prices, ...(this.options.signal ? { signal: this.options.signal } : {}) }, record, line)
    if (outcome.kind === 'written') {
      tally.written++
      if (outcome.cost) {
        tally.usd += outcome.cost.usd
        tally.estimated ||= outcome.cost.basis === 'estimate'
      }
    } else if (outcome.kind === 'cached') tally.cached++
    this.emit({ type: 'entry', ...base, outcome: outcome.kind, images: outcome.kind === 'cached' ? 0 : outcome.images })
  }

  /** Plan the selected specs; unless `dryRun`, submit the misses (each key locked until its batch is recorded). */
  async plan(dryRun: boolean): Promise<void> {
    const { deps } = this
    const entries = await planBatch(
      {
        root: deps.options.root,
        provider: plannedProvider(deps.options.provider, dryRun),
        prices: deps.options.prices,
        pending: this.index,
        loadSpec: deps.loadSpec,
        prepare: deps.prepare,
        inspect: (key) => deps.cache.inspect(key),
        keptCandidates: (key) => deps.cache.keptCandidates(key),
        checkSpec: deps.checkSpec,
      },
      this.refs,
      this.#failedKeys,
    )
    const misses: Array<Extract<BatchPlanEntry, { kind: 'miss' }>> = []
    this.report.plan = []
    for (const entry of entries) {
      if (entry.kind === 'miss') {
        // The budget of `generate`, at batch prices: a spec that would pass it is not submitted.
        try {
          this.#budget.reserve({ label: entry.label, images: entry.indices.length, usd: entry.estimate.usd })
        } catch (error) {
          this.refuse(entry.label, error, entry.key)
          continue
        }
        misses.push(entry)
        this.report.plan.push({ label: entry.label, status: 'submit', key: entry.key, images: entry.indices.length, estimate: entry.estimate })
      } else if (entry.kind === 'refused') this.refuse(entry.label, entry.error, entry.key)
      else this.report.plan.push(rowOf(entry))
    }
    if (dryRun || misses.length === 0) return
    await this.submit(misses)
  }

  private refuse(label: string, error: unknown, key?: string): void {
    this.report.plan.push({ label, status: 'refused', ...(key ? { key } : {}), error })
    if (this.#reported.has(label)) return
    this.#reported.add(label)
    this.report.failed.push({ label, error })
    this.emit({ type: 'refused', label, error })
  }

  private async submit(misses: ReadonlyArray<Extract<BatchPlanEntry, { kind: 'miss' }>>): Promise<void> {
    const { deps } = this
    const held: HeldLock[] = []
    const estimates = new Map<string, CostEstimate>()
    try {
      const items: BatchItem[] = []
      for (const entry of misses) {
        // Held until the batch is recorded: a build that wants this key meanwhile waits, then finds it pending.
        const attempt = await deps.cache.tryLock(entry.key)
        if (!attempt.lock) {
          deps.log.info(`${entry.label}: another process${attempt.holder ? ` (${attempt.holder})` : ''} is generating it; not submitted`)
          continue
        }
        held.push(attempt.lock)
        if ((await deps.cache.inspect(entry.key)).status === 'hit' || (await this.index.get(entry.key))) continue
        estimates.set(entry.key, entry.estimate)
        for (const indices of callsOf(entry)) {
          items.push({ request: await deps.providerRequest(entry.prepared, indices.length), indices, material: entry.prepared.material })
        }
      }
      if (items.length === 0) return
      let submitted
      try {
        submitted = await submitBatches(this.#client!, items, {
          cacheDir: deps.options.cacheDir,
          provider: deps.options.provider,
          warn: (message) => deps.log.warn(message),
          ...(this.options.signal ? { signal: this.options.signal } : {}),
        })
      } catch (error) {
        this.report.failed.push({ label: 'Batch API', error })
        this.emit({ type: 'refused', label: 'Batch API', error })
        return
      }
      for (const { record } of submitted) {
        const keys = Object.keys(record.keys)
        let estimateUSD = 0
        let unpricedImages = 0
        for (const key of keys) {
          const estimate = estimates.get(key)!
          if (estimate.usd === undefined) unpricedImages += estimate.images
          else estimateUSD += estimate.usd
        }
        const images = record.lines.reduce((sum, line) => sum + line.indices.length, 0)
        const event = { batch: record.id, endpoint: record.endpoint, requests: record.lines.length, images, specs: keys.map((key) => record.keys[key]!.label), estimateUSD, unpricedImages }
        const total = this.report.submitted
        total.batches++
        total.requests += event.requests
        total.images += images
        total.estimateUSD += estimateUSD
        total.unpricedImages += unpricedImages
        this.emit({ type: 'submitted', ...event })
      }
    } finally {
      for (const lock of held) await lock.release()
    }
  }
}

/**
 * The provider a plan checks specs against: a dry run without a key (the automatic placeholder) prices the
 * batch as OpenAI would take it; anything else is what the run would use.
 */
function plannedProvider(provider: ProviderConfig, dryRun: boolean): ProviderConfig {
  return dryRun && provider.kind === 'placeholder' && !provider.explicit ? { kind: 'openai', apiKey: undefined, baseURL: OPENAI_BASE_URL } : provider
}

function rowOf(entry: Exclude<BatchPlanEntry, { kind: 'miss' | 'refused' }>): BatchPlanRow {
  switch (entry.kind) {
    case 'hit':
      return { label: entry.label, status: 'hit', key: entry.key }
    case 'pending':
      return { label: entry.label, status: 'pending', key: entry.key, pending: { batch: entry.pending.batchId, submitted: entry.pending.submitted, ageSeconds: entry.pending.ageSeconds } }
    case 'upstream':
      return { label: entry.label, status: 'upstream', upstream: entry.upstream }
    case 'same':
      return { label: entry.label, status: 'same', key: entry.key, sameAs: entry.sameAs }
    case 'skipped':
      return { label: entry.label, status: 'skipped', key: entry.key }
  }
}
