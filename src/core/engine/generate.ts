/**
 * A cache miss → an image: frozen builds refuse it, the placeholder provider renders it in memory (never
 * written to the cache), and any other provider generates it through the scheduler into the cache.
 * Loaded on the first miss of a process (the service imports it lazily), so a warm build never loads the
 * scheduler, the provider or the HTTP client.
 *
 * One key is generated once across processes: a process takes the key's lock (`cache.tryLock`) and looks in
 * the cache again once it holds it. What was paid for is kept: each call's images land in the cache the
 * moment they arrive (the key's draft, `cache/draft.ts`), a failed call does not throw away its siblings,
 * and a later run requests only the candidates still missing. The sidecar is written last.
 */
import pLimit, { type LimitFunction } from 'p-limit'
import { AiImageError, isAiImageError } from '../errors.js'
import { realClock, type Clock } from '../clock.js'
import { sha256 } from '../hash.js'
import { readImageFacts } from '../image-format.js'
import type { EntryDraft } from '../cache/draft.js'
import { LOCK_POLL_MS } from '../cache/backend.js'
import { sidecarFor, type SidecarImage } from '../cache/store.js'
import type { CacheTiers } from '../cache/tiers.js'
import type { Logger } from '../log.js'
import { checkGeneratedImage } from '../providers/check-image.js'
import { createProvider, type ProviderConfig } from '../providers/registry.js'
import { pixelBound } from '../providers/limits.js'
import { renderPlaceholders } from '../providers/placeholder/provider.js'
import { addUsage } from '../providers/usage.js'
import type { ImageProvider, PartialFrame, ProviderRequest } from '../providers/types.js'
import { redactDeep } from '../secrets.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { Budget } from './budget.js'
import { costFromUsage, estimateCost, roundUSD, type PriceOverrides } from './cost.js'
import type { SidecarCost } from '../cache/entry.js'
import { checkInputs } from './inputs.js'
import type { PreparedSpec, ResolvedImage, ResolvedImageFile } from './prepare.js'
import type { Progress } from './progress.js'
import type { RunStats } from './report.js'
import { Scheduler } from './scheduler.js'

/** What the engine reads of the resolved plugin options. */
export interface EngineOptions {
  provider: ProviderConfig
  frozen: boolean
  concurrency: number
  retries: number
  timeout: number
  rateLimit: { imagesPerMinute?: number; requestsPerMinute?: number; maxWait: number }
  prices: PriceOverrides
}

export interface EngineDeps {
  options: EngineOptions
  cache: CacheTiers
  log: Logger
  /** Counters of the current build; shared with the service and the scheduler. */
  stats: RunStats
  budget: Budget
  progress?: Progress
  /** Every wait of the engine (pacing, backoff, lock polling). */
  clock?: Clock
  /** A streamed preview of a key being generated. */
  onPartial?: (key: string, frame: PartialFrame) => void
  /** A paid request for `key` is about to be sent (the dev server answers a module with a preview from then on). */
  onDispatch?: (key: string) => void
  /**
   * Asked under the key's lock, once the cache still misses, right before paying: throws to refuse (a key a
   * batch is making, #16: a batch submitted while this process waited for the lock).
   */
  beforeGenerate?: (prepared: PreparedSpec) => Promise<void>
  /** Candidates of a key being generated that are finished (made or failed) so far, of its `total`. */
  onProgress?: (key: string, done: number, total: number) => void
}

/** One request of a generation: which candidates (indices of `n`) it asks for. */
interface PlannedCall {
  indices: number[]
}

/** What the calls of one generation cost: priced from usage, and the images whose answers had none. */
interface GenerationCost {
  usageUSD: number
  usageImages: number
  imagesWithoutUsage: number
}

export class ImageEngine {
  /** The one queue of paid requests of this process's builds (slots, pacing, retries, budget). */
  readonly scheduler: Scheduler
  private readonly stats: RunStats
  /** Keys this process generates (and holds locks for) at once. */
  private readonly generations: LimitFunction
  private readonly clock: Clock
  /** Created on the first generation, so a frozen or placeholder miss needs neither a key nor a connection pool. */
  private provider: Promise<ImageProvider> | undefined
  private housekeeping: Promise<void> | undefined
  private toldAboutWaiting = false

  constructor(private readonly deps: EngineDeps) {
    const { options, stats, budget, log } = deps
    this.stats = stats
    this.clock = deps.clock ?? realClock
    this.scheduler = new Scheduler({
      concurrency: options.concurrency,
      retries: options.retries,
      timeout: options.timeout,
      rateLimit: options.rateLimit,
      log,
      stats,
      budget,
      clock: this.clock,
    })
    this.generations = pLimit(2 * options.concurrency)
  }

  /**
   * The image of a key the cache does not have (`found`: why): refused when frozen, rendered by the
   * placeholder provider, or generated. Concurrent calls for one key are the caller's to share.
   */
  async obtainMiss(prepared: PreparedSpec): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const { options } = this.deps
    const provider = options.provider
    if (options.frozen && !(provider.kind === 'placeholder' && provider.explicit)) {
      throw new AiImageError('CACHE_MISS_FROZEN', `no cached image for this spec (key ${key.slice(0, 12)})`, {
        file: spec.label,
        data: { key },
      })
    }
    if (provider.kind === 'placeholder') return this.renderPlaceholder(prepared)
    try {
      return await this.generateOnce(prepared)
    } catch (error) {
      this.stats.failed++
      throw error
    }
  }

  /** The provider's own restrictions (Azure: no webp, no variations, …), without spending anything. */
  async checkSpec(spec: ValidatedSpec): Promise<void> {
    ;(await this.providerOf()).checkSpec(spec)
  }

  /** Close the provider's connection pool (so the process can exit); it is created again on the next miss. */
  async close(): Promise<void> {
    const provider = this.provider
    this.provider = undefined
    await (await provider?.catch(() => undefined))?.close()
  }

  private providerOf(): Promise<ImageProvider> {
    return (this.provider ??= createProvider(this.deps.options.provider, { ...this.deps.options, notice: (message) => this.deps.log.warnOnce(message) }))
  }

  private async renderPlaceholder(prepared: PreparedSpec): Promise<ResolvedImage> {
    const result = await renderPlaceholders(this.providerRequest(prepared, Number(prepared.spec.request.n)))
    const images: ResolvedImageFile[] = []
    for (const image of result.images) {
      const facts = (await readImageFacts(image.data))!
      images.push({ data: image.data, sha256: sha256(image.data), width: facts.width, height: facts.height, mime: facts.mime })
    }
    this.stats.placeholders++
    return { key: prepared.key, spec: prepared.spec, hit: false, placeholder: true, images }
  }

  /**
   * Generate under the key's lock. At most `2 × concurrency` keys are held by this process at a time (enough
   * to keep every request slot busy), so builds sharing a cache folder split the work between them instead
   * of one taking every lock. A key locked by another live process is set aside and looked at again later;
   * once its lock is free, the cache usually has the entry that process made.
   */
  private async generateOnce(prepared: PreparedSpec): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const provider = await this.providerOf()
    // Provider-specific restrictions fail before any lock, request or spending.
    provider.checkSpec(spec)
    await checkInputs(spec, prepared.inputs, prepared.mask)
    provider.checkInputs?.(spec, prepared.inputs)
    await (this.housekeeping ??= this.cleanLeftovers())

    const total = Number(spec.request.n)
    const tally = { accounted: 0, ok: false }
    const finish = (images: number, ok: boolean) => {
      tally.accounted += images
      this.deps.progress?.finish(images, ok)
      this.deps.onProgress?.(key, tally.accounted, total)
    }
    this.deps.progress?.add(total)
    try {
      for (let poll: number = LOCK_POLL_MS.min; ; poll = Math.min(LOCK_POLL_MS.max, poll * 2)) {
        const result = await this.generations(async () => {
          const held = await this.deps.cache.tryLock(key)
          if (!held.lock) {
            this.tellWaiting(held.holder)
            return undefined
          }
          try {
            const found = await this.deps.cache.inspect(key)
            if (found.status === 'hit') {
              this.stats.hits++
              return { key, spec, hit: true, placeholder: false, sidecar: found.entry.sidecar, images: found.entry.images }
            }
            await this.deps.beforeGenerate?.(prepared)
            return await this.generate(prepared, provider, finish)
          } finally {
            await held.lock.release()
          }
        })
        if (result) {
          tally.ok = true
          return result
        }
        // A failed build stops waiting for other processes too.
        await this.clock.sleep(poll * (1 + Math.random()), this.scheduler.cancelSignal)
      }
    } finally {
      // Images made by another process count as done; those of a failed generation as failed.
      if (tally.accounted < total) this.deps.progress?.finish(total - tally.accounted, tally.ok)
    }
  }

  private tellWaiting(holder: string | undefined): void {
    if (this.toldAboutWaiting) return
    this.toldAboutWaiting = true
    this.deps.log.info(
      `another process${holder ? ` (${holder})` : ''} is generating images this build needs; its keys are left to it instead of paid twice`,
    )
  }

  private async generate(
    prepared: PreparedSpec,
    provider: ImageProvider,
    finish: (images: number, ok: boolean) => void,
  ): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const { log } = this.deps
    const total = Number(spec.request.n)
    const records: SidecarImage[] = new Array(total)
    const files: ResolvedImageFile[] = new Array(total)

    // Candidates an interrupted earlier run already paid for and wrote (each checked like a cache entry).
    const draft = await this.deps.cache.draft(key)
    const { state, kept, dropped } = draft
    for (const reason of dropped) {
      log.warn(`${spec.label}: the journal of the unfinished cache entry ${key.slice(0, 12)} is not used for ${reason}; that image is generated again`)
    }
    for (const [index, image] of kept) {
      if (index >= total) continue
      records[index] = state.images[String(index)]!
      files[index] = { data: image.data, sha256: image.sha256, width: image.width, height: image.height, mime: image.mime, ...(image.token ? { token: image.token } : {}) }
    }
    const missing = [...Array(total).keys()].filter((i) => !records[i])
    // Candidates of an earlier run count as priced by its usage, when the journal kept one.
    const spent: GenerationCost = { usageUSD: 0, usageImages: 0, imagesWithoutUsage: state.usage ? 0 : total - missing.length }
    // The entry's folder must take the images before any of them is paid for (a read-only cache, a file or
    // a link in its place is an error now, not a paid image that cannot be stored).
    if (missing.length > 0) await draft.prepare()
    if (missing.length < total) {
      log.info(`${spec.label}: resuming an interrupted generation, ${total - missing.length} of ${total} images kept`)
      finish(total - missing.length, true)
    }

    // A model that returns fewer images per call than asked (dall-e-3: one) gets several calls.
    const calls: PlannedCall[] = []
    for (let i = 0; i < missing.length; i += spec.perCallN) calls.push({ indices: missing.slice(i, i + spec.perCallN) })
    const outcomes = await Promise.allSettled(
      calls.map(async (call) => {
        try {
          await this.runCall(prepared, provider, call, draft, records, files, spent)
          finish(call.indices.length, true)
        } catch (error) {
          finish(call.indices.length, false)
          throw error
        }
      }),
    )
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as unknown)
    if (failures.length > 0) throw keptNote(pickFailure(failures), spec.label, records.filter(Boolean).length, total)

    const sidecar = sidecarFor(key, prepared.material, redactDeep({
      provider: provider.describe(spec.model),
      created: state.created || Math.floor(Date.now() / 1000),
      revised_prompt: records.find((r) => r.revised_prompt)?.revised_prompt ?? null,
      usage: state.usage,
      cost: this.entryCost(spec, state.usage, spent),
      request_id: state.request_ids.length ? state.request_ids.join(', ') : null,
      images: records,
    }))
    await draft.commit(sidecar)

    const generatedNow = missing.length
    const estimate = estimateCost(spec, this.deps.options.prices, generatedNow)
    this.stats.generated++
    this.stats.images += generatedNow
    this.stats.resumedImages += total - generatedNow
    if (estimate.usd === undefined) this.stats.unpricedImages += generatedNow
    else this.stats.estimatedUSD += estimate.usd
    return { key, spec, hit: false, placeholder: false, sidecar, images: files }
  }

  /**
   * The sidecar's `cost`: from the usage of every answer (basis `usage`), else with an estimate for the images
   * whose answers had none (basis `estimate`); undefined when neither can be priced.
   */
  private entryCost(spec: ValidatedSpec, usage: Record<string, unknown> | null, spent: GenerationCost): SidecarCost | undefined {
    const { prices } = this.deps.options
    const total = Number(spec.request.n)
    const fromUsage = spent.imagesWithoutUsage < total ? costFromUsage(spec.model, usage, prices) : undefined
    if (fromUsage && spent.imagesWithoutUsage === 0) return { usd: roundUSD(fromUsage.usd), basis: 'usage' }
    const rest = estimateCost(spec, prices, fromUsage ? spent.imagesWithoutUsage : total).usd
    if (rest === undefined) return undefined
    return { usd: roundUSD((fromUsage?.usd ?? 0) + rest), basis: 'estimate' }
  }

  /** One paid request through the scheduler; its images land in the cache and the journal at once. */
  private async runCall(
    prepared: PreparedSpec,
    provider: ImageProvider,
    call: PlannedCall,
    draft: EntryDraft,
    records: SidecarImage[],
    files: ResolvedImageFile[],
    spent: GenerationCost,
  ): Promise<void> {
    const { spec, key } = prepared
    const n = call.indices.length
    const request = this.providerRequest(prepared, n)
    const { prices } = this.deps.options
    // The budget reserves an estimate that errs high (prompt, inputs, previews) and counts the actual cost once the answer says it.
    const paid = { label: spec.label, images: n, usd: estimateCost(spec, prices, n).usd }
    const result = await this.scheduler.run(paid, async ({ signal, release, charge }) => {
      this.deps.onDispatch?.(key)
      const answer = await provider.generate(request, {
        signal,
        onAnswerRead: release,
        onPartial: (frame) => this.deps.onPartial?.(key, { ...frame, index: call.indices[frame.index] ?? frame.index }),
      })
      release()
      const actual = costFromUsage(spec.model, answer.usage, prices)
      if (actual) charge(actual.usd)
      if (answer.images.length !== n) {
        throw new AiImageError('BAD_RESPONSE', `asked for ${n} image(s), got ${answer.images.length}`, {
          file: spec.label,
          retryable: true,
          possiblyBilled: true,
        })
      }
      // Checked inside the attempt, so a broken image is retried like any other broken answer.
      const facts = await Promise.all(
        answer.images.map((image) =>
          checkGeneratedImage(
            image.data,
            { format: spec.responseFormat, size: sizeToCheck(spec), bound: pixelBound(spec.model, spec.request.size) },
            spec.label,
            answer.requestId,
          ),
        ),
      )
      return { answer, facts }
    })

    // The last guard before anything of the answer is stored (cache, journal): no known secret value in it.
    const answer = redactDeep(result.answer)
    // Each image lands in the cache the moment it arrives; the sidecar (written last) makes the entry.
    for (const [i, image] of answer.images.entries()) {
      const index = call.indices[i]!
      const facts = result.facts[i]!
      const { record, token } = await draft.writeCandidate(index, image.data, {
        mime: facts.mime,
        width: facts.width,
        height: facts.height,
        ...(image.revisedPrompt ? { revised_prompt: image.revisedPrompt } : {}),
      })
      records[index] = record
      files[index] = { data: image.data, sha256: record.sha256, width: facts.width, height: facts.height, mime: facts.mime, ...(token ? { token } : {}) }
    }
    const { state } = draft
    state.usage = addUsage(state.usage ?? undefined, answer.usage) ?? null
    state.created ||= answer.created
    if (answer.requestId) state.request_ids.push(answer.requestId)
    this.stats.tokens += totalTokens(answer.usage)
    const actual = costFromUsage(spec.model, answer.usage, prices)
    if (actual) {
      spent.usageUSD += actual.usd
      spent.usageImages += n
      this.stats.actualUSD += actual.usd
      this.stats.usagePricedImages += n
    } else {
      spent.imagesWithoutUsage += n
    }
    await draft.save()
  }

  private async cleanLeftovers(): Promise<void> {
    try {
      const removed = await this.deps.cache.tidyLeftovers((skipped) => this.deps.log.warnOnce(`housekeeping skipped ${skipped}`))
      if (removed.length > 0) this.deps.log.info(`removed ${removed.length} leftover file(s) of an interrupted earlier run from the cache folder`)
    } catch (error) {
      this.deps.log.warn(`could not clean leftovers in the cache folder: ${(error as Error).message}`)
    }
  }

  /** The request of one call for `n` candidates of a prepared spec (the Batch API layer sends the same). */
  providerRequest(prepared: PreparedSpec, n: number): ProviderRequest {
    const { spec, key } = prepared
    return {
      label: spec.label,
      key,
      endpoint: spec.endpoint,
      params: { ...spec.request, n },
      userSet: spec.userSet,
      inputs: prepared.inputs.map(({ name, data, mime }) => ({ name, data, mime })),
      ...(prepared.mask ? { mask: { name: prepared.mask.name, data: prepared.mask.data, mime: prepared.mask.mime } } : {}),
      ...(spec.transport.user === undefined ? {} : { user: spec.transport.user }),
      ...(spec.transport.stream ? { stream: { partialImages: spec.transport.partialImages } } : {}),
    }
  }
}

/** The size to insist on: none for `auto` (and for models we do not know). */
function sizeToCheck(spec: ValidatedSpec): string | undefined {
  const size = spec.request.size
  return spec.knownModel && typeof size === 'string' && size !== 'auto' ? size : undefined
}

function totalTokens(usage: Record<string, unknown> | undefined): number {
  const total = usage?.total_tokens
  if (typeof total === 'number') return total
  const input = usage?.input_tokens
  const output = usage?.output_tokens
  return (typeof input === 'number' ? input : 0) + (typeof output === 'number' ? output : 0)
}

/** The failure to report for a spec: a real API verdict rather than a cancellation of its siblings. */
function pickFailure(failures: unknown[]): unknown {
  return failures.find((f) => isAiImageError(f)) ?? failures[0]
}

/** Say what was kept, so a user knows a rerun pays only for the rest. */
function keptNote(error: unknown, label: string, kept: number, total: number): unknown {
  if (!isAiImageError(error) || kept === 0) return error
  return new AiImageError(error.code, `${error.bareMessage} (${kept} of ${total} images were kept in the cache; the next build requests only the rest)`, {
    file: error.file ?? label,
    ...(error.field ? { field: error.field } : {}),
    ...(error.status ? { status: error.status } : {}),
    ...(error.requestId ? { requestId: error.requestId } : {}),
    ...(error.data ? { data: error.data } : {}),
    cause: error,
  })
}
