/**
 * One object per build (or CLI run) that owns the options, the cache, the scheduler and the provider, and
 * offers the two operations every front end needs: load a spec, and resolve it to an image. The bundler
 * plugin and the `ai-image` command both go through here: one generation path.
 *
 * A build is bracketed by `beginBuild()` / `endBuild()`: counters and the budget start at zero, progress is
 * reported while generating, and a build with misses ends with one summary line. The CLI's batch helpers
 * (`generateAll`, `plan`, `estimate`) live in engine/batch.ts and use the same path.
 */
import { AiImageError, specInvalid } from './errors.js'
import { CacheStore } from './cache/store.js'
import { ImageEmitter } from './emit/emitter.js'
import { createLogger, type LogSink, type Logger } from './log.js'
import { resolveOptions, type Env, type ResolvedOptions } from './options.js'
import { createProvider } from './providers/index.js'
import type { ImageProvider } from './providers/types.js'
import { ImageEngine, type ResolvedImage } from './engine/generate.js'
import { isSpecPath } from './spec-path.js'
import { Scheduler } from './engine/scheduler.js'
import { generateAll, planSpecs, type BatchOptions, type BatchReport, type PlanEntry } from './engine/batch.js'
import { Budget } from './engine/budget.js'
import { realClock, type Clock } from './clock.js'
import { estimateCost, type CostEstimate } from './engine/cost.js'
import { Progress, formatProgress } from './engine/progress.js'
import { RunStats, formatSummary, type RunSummary } from './engine/report.js'
import { KeyLocks } from './cache/lock.js'
import { tidyWorkDir } from './cache/workdir.js'
import { namedSpec, parseQuerySpec, readSpecFile, relativeLabel, type RawSpec } from './spec/source.js'
import { validateSpec, type ValidatedSpec } from './spec/validate.js'
import type { AiImageOptions } from '../types.js'

export type SpecRef =
  | { kind: 'file'; file: string }
  | { kind: 'query'; query: string; dir: string; id: string }
  | { kind: 'named'; name: string }

export interface ResolveOptions {
  /** Spec files being resolved above this one (chains), to report a cycle. */
  chain?: readonly string[]
  /** Called with the cache key once the inputs are resolved, before any generation. */
  onKey?: (key: string) => void
}

export interface ServiceContext {
  root?: string
  env?: Env
  sink?: LogSink
  /** Test seam: virtual time for every wait of the engine. */
  clock?: Clock
  /** How often progress is reported while generating. @default 3000 */
  progressIntervalMs?: number
}

const PROGRESS_INTERVAL_MS = 3_000

export class ImageService {
  readonly options: ResolvedOptions
  readonly log: Logger
  readonly store: CacheStore
  readonly scheduler: Scheduler
  readonly engine: ImageEngine
  /** Converted, resized and placeholder files, from the derived cache or sharp. */
  readonly emitter: ImageEmitter
  /** Counters of the current build (reset by `beginBuild`). */
  readonly stats = new RunStats()
  readonly budget: Budget
  readonly progress: Progress
  private readonly clock: Clock
  private provider: ImageProvider | undefined

  constructor(userOptions: AiImageOptions | undefined, context: ServiceContext = {}) {
    this.options = resolveOptions(userOptions, context)
    this.log = createLogger(this.options.secrets, context.sink)
    this.store = new CacheStore(this.options.cacheDir)
    this.clock = context.clock ?? realClock
    this.budget = new Budget(this.options.budget)
    this.scheduler = new Scheduler({
      concurrency: this.options.concurrency,
      retries: this.options.retries,
      timeout: this.options.timeout,
      rateLimit: this.options.rateLimit,
      log: this.log,
      stats: this.stats,
      budget: this.budget,
      clock: this.clock,
    })
    this.progress = new Progress({
      clock: this.clock,
      intervalMs: context.progressIntervalMs ?? PROGRESS_INTERVAL_MS,
      probe: { inFlight: () => this.scheduler.inFlight(), waiting: () => this.scheduler.gate.waiting, pausedFor: () => this.scheduler.gate.pausedFor() },
      report: (snapshot) => this.log.info(formatProgress(snapshot)),
    })
    this.engine = new ImageEngine({
      options: this.options,
      store: this.store,
      scheduler: this.scheduler,
      log: this.log,
      stats: this.stats,
      progress: this.progress,
      locks: new KeyLocks(this.options.cacheDir, { clock: this.clock }),
      clock: this.clock,
      provider: () => (this.provider ??= createProvider(this.options.provider, this.options)),
    })
    this.emitter = new ImageEmitter({ cacheDir: this.options.derivedCacheDir, log: this.log })
  }

  /** A build (or CLI run) starts: counters, budget and progress from zero. */
  beginBuild(): void {
    this.stats.reset()
    this.engine.usedKeys.clear()
    this.budget.reset()
    this.progress.reset()
    this.scheduler.reopen()
  }

  /**
   * A build ends: paid requests still in flight land in the cache first (after a failure, requests not yet
   * sent are cancelled instead), then one summary line if anything was asked of the API.
   */
  async endBuild(options: { failed?: boolean } = {}): Promise<RunSummary> {
    if (options.failed) this.scheduler.cancelQueued('the build failed')
    await this.engine.settle()
    this.progress.reset()
    if (this.stats.startedAt !== undefined) this.stats.finishedAt = this.clock.now()
    const summary = this.stats.snapshot()
    if (this.stats.hadMisses) this.log.info(formatSummary(summary))
    await tidyWorkDir(this.options.cacheDir)
    return summary
  }

  /** What this build did so far: hits, generated images, retries, tokens, estimated cost. */
  summary(): RunSummary {
    return this.stats.snapshot()
  }

  /** Estimated cost of generating a spec (all of its `n`), from the price table and `prices`. Sends nothing. */
  estimate(spec: ValidatedSpec): CostEstimate {
    return estimateCost(spec, this.options.prices)
  }

  /** For `--dry-run`: per spec, whether it is cached, what a miss would generate and cost. Sends nothing. */
  plan(refs: readonly SpecRef[]): Promise<PlanEntry[]> {
    return planSpecs(this, refs)
  }

  /** Generate every spec that misses (one build: progress, budget, closing summary); never throws per spec. */
  generateAll(refs: readonly SpecRef[], options: BatchOptions = {}): Promise<BatchReport> {
    return generateAll(this, refs, options)
  }

  async readSpec(ref: SpecRef): Promise<RawSpec> {
    switch (ref.kind) {
      case 'file':
        return readSpecFile(ref.file, this.options.root)
      case 'query':
        return parseQuerySpec(ref.query, ref.dir, ref.id)
      case 'named':
        return namedSpec(ref.name, this.options.images, this.options.root)
    }
  }

  async loadSpec(ref: SpecRef): Promise<ValidatedSpec> {
    return validateSpec(await this.readSpec(ref), {
      root: this.options.root,
      defaults: this.options.defaults,
      warn: (message) => this.log.warnOnce(message),
    })
  }

  /**
   * The image of a spec: a verified cache hit, or generated now. `chain` holds the spec files being
   * resolved above this one, to report a cycle between specs instead of waiting forever. `onKey` learns
   * the cache key as soon as it is known (the dev server follows that key's streamed previews).
   */
  async resolve(spec: ValidatedSpec, { chain = [], onKey }: ResolveOptions = {}): Promise<ResolvedImage> {
    // A chained edit the provider cannot make must fail before its upstream specs are generated (and paid
    // for); other specs are checked on a miss only, so a cache hit needs no provider at all.
    if (spec.inputs.some(isSpecPath) && this.options.provider.kind !== 'placeholder') this.engine.checkSpec(spec)
    const prepared = await this.prepare(spec, chain, async (upstream, here) => {
      const image = await this.resolve(upstream, { chain: here })
      return image.images[image.spec.pick]!
    })
    onKey?.(prepared.key)
    try {
      const image = await this.engine.obtain(prepared)
      if (image.placeholder && !this.isPlaceholderExplicit()) for (const notice of this.options.notices) this.log.warnOnce(notice)
      return image
    } catch (error) {
      // Errors of an upstream spec in a chain keep naming that spec's file.
      throw error instanceof AiImageError && !error.file ? error.withFile(spec.label) : error
    }
  }

  /**
   * Inputs and key of a spec. A `*.imgprompt.json` input is another spec whose picked image `upstream`
   * supplies (resolving it, or only reading the cache for a dry run); a cycle between specs is an error.
   */
  async prepare(
    spec: ValidatedSpec,
    chain: readonly string[],
    upstream: (spec: ValidatedSpec, chain: readonly string[]) => Promise<{ data: Buffer; mime: string; sha256: string }>,
  ) {
    return this.engine.prepare(spec, async (file) => {
      const here = spec.source.kind === 'file' ? [...chain, spec.source.file] : [...chain]
      if (here.includes(file)) {
        const cycle = [...here.slice(here.indexOf(file)), file].map((f) => relativeLabel(this.options.root, f)).join(' → ')
        throw specInvalid(spec.label, 'image', `the specs form a cycle: ${cycle}`, 'Remove one of the links')
      }
      const picked = await upstream(await this.loadSpec({ kind: 'file', file }), here)
      return { data: picked.data, mime: picked.mime, sha256: picked.sha256 }
    })
  }

  private isPlaceholderExplicit(): boolean {
    return this.options.provider.kind === 'placeholder' && this.options.provider.explicit
  }

  async close(): Promise<void> {
    await this.provider?.close()
    this.provider = undefined
  }
}
