/**
 * The front door of the core: the one object the bundler plugins and the `ai-image` command talk to. It
 * owns the options, the cache, the emitter and (from the first miss on) the generation engine, and offers
 * what front ends need:
 *
 * - `load(ref, target)`: spec → module code and the files to watch, by the warm path (sidecar and derived
 *   files only), the full path (the image read and verified, or generated), the dev server's preview path
 *   (a slow generation answered at once with a preview module, reloaded once the image is ready) or, in a
 *   build, the missing path (a frozen or over-budget miss, reported with every other one by `endBuild`);
 * - `beginBuild()` / `endBuild()` around a build: counters and the budget start at zero, progress is reported
 *   while generating, a build with misses ends with one summary line, and `endBuild` returns the build's error;
 * - events for the dev server: partial frames by key, and the module to reload when a preview's image is in;
 * - what the command needs: `discover`, `plan`, `generateAll`, `inspectEntry`, `buildRecords`, `prune`.
 *
 * The engine, the cache store, the emitter, the scheduler and the budget stay private: nothing outside the
 * core reaches past this door. The generation machinery (`engine/generate.ts`: scheduler, provider, HTTP
 * client) is imported on the first miss, so a warm build never loads it.
 */
import { EventEmitter } from 'node:events'
import path from 'node:path'
import { AiImageError, isAiImageError, specInvalid } from './errors.js'
import { realClock, type Clock } from './clock.js'
import { createLogger, type LogSink, type Logger } from './log.js'
import { loadConfigFile, mergeOptions } from './config-file.js'
import type { DiscoveredSpec } from './discover.js'
import { MIME_OF, sniffFormat } from './image-format.js'
import { esbuildPublicPath, resolveOptions, type Env, type ResolvedOptions } from './options.js'
import { isSpecPath } from './spec-path.js'
import type { EntryLook, Inspection, SidecarLook } from './cache/backend.js'
import { openCache, type TierDefinition } from './cache/backends.js'
import { BUILDS_DIR, outputLabel, readBuildRecords, recordFileName, writeBuildRecord, type BuildRecord } from './cache/build-record.js'
import { DerivedCache } from './cache/derived.js'
import type { PruneReport } from './cache/prune.js'
import type { CacheTiers } from './cache/tiers.js'
import { ImageEmitter } from './emit/emitter.js'
import { imageModuleCode, type AssetSink } from './emit/image-module.js'
import { renderMissingModule } from './emit/module-code.js'
import { Budget } from './engine/budget.js'
import { estimateCost, type CostEstimate } from './engine/cost.js'
import type { ImageEngine } from './engine/generate.js'
import { specDependencies } from './engine/inputs.js'
import { prepareSpec, type PreparedSpec, type ResolvedImage } from './engine/prepare.js'
import { Progress, formatProgress } from './engine/progress.js'
import { RunStats, formatSummary, type RunSummary } from './engine/report.js'
import type { PartialFrame } from './providers/types.js'
import { namedSpec, parseQuerySpec, readSpecFile, refLabel, relativeLabel, type RawSpec, type SpecRef } from './spec/source.js'
import { validateSpec, type ValidatedSpec } from './spec/validate.js'
import type { DevPreviews, PendingPreview, PreviewTarget } from './service/dev-preview.js'
import type { GenerateAllOptions, GenerateAllReport, PendingBatch, PlanDeps, PlanEntry } from './service/plan.js'
import type { BatchRunOptions, BatchRunReport } from './service/batch.js'
import type { PendingIndex } from './batch/pending.js'
import type { GenerationState, Generations } from './service/generations.js'
import { warmImageModule } from './service/warm.js'
import type { AiImageOptions } from '../types.js'

// The vocabulary front ends share with the core, so they import nothing else of it.
export { SPEC_SUFFIX, SPEC_SUFFIX_SOURCE, isSpecPath } from './spec-path.js'
export { VIRTUAL_PREFIX, type SpecRef } from './spec/source.js'
export { BATCH_PRICE_FACTOR, formatUSD, type CostEstimate } from './engine/cost.js'
export { formatAge } from './clock.js'
export type { PendingPreview, PreviewImage, PreviewTarget } from './service/dev-preview.js'
export type { AssetSink, EmittedAsset } from './emit/image-module.js'
export type { BuildRecord } from './cache/build-record.js'
export type { Inspection, EntryLook, ImageLook, SidecarLook } from './cache/backend.js'
export type { Sidecar, SidecarImage } from './cache/entry.js'
export { isEntryFilePath } from './cache/store.js'
export type { GenerationState } from './service/generations.js'
export type { PruneReport } from './cache/prune.js'
export type { DiscoveredSpec } from './discover.js'
export type { LogSink, Logger } from './log.js'
export type { Env, ResolvedOptions } from './options.js'
export type { RunSummary } from './engine/report.js'
export type { ResolvedImage, PreparedSpec } from './engine/prepare.js'
export type { GenerateAllOptions, GenerateAllReport, PendingBatch, PlanEntry, SpecOutcome, SpecStatus } from './service/plan.js'
export type { BatchEvent, BatchRunOptions, BatchRunReport } from './service/batch.js'
export type { ValidatedSpec } from './spec/validate.js'

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
  /** Test seam: the cache tiers after the committed folder. @default TIERS_AFTER_LOCAL (`cache/backends.ts`) */
  tiers?: readonly TierDefinition[]
}

/** A streamed partial frame of a key being generated; `mime` is undefined when the bytes are no image of ours. */
export interface PartialImage extends PartialFrame {
  mime: string | undefined
}

export interface ServiceEvents {
  /** A streamed preview of a key being generated (never cached). */
  partial: [key: string, frame: PartialImage]
  /** The image behind a preview module is ready, or failed: the dev server reloads module `id`. */
  reload: [id: string, label: string]
  /** A generation of a key started, made progress, ended or failed (`generations()` lists those running). */
  generation: [state: GenerationState]
}

export interface LoadTarget {
  /** Emits one file and returns a JS expression of its URL: each bundler spells an asset URL its own way. */
  sink: AssetSink
  /**
   * Told the files the module depends on (the spec file, its inputs and mask and, through chains, the upstream
   * specs and their inputs) as soon as they are known, before anything that may fail: a change to any of them
   * loads the module again.
   */
  watch?(files: readonly string[]): void
  /**
   * The Vite dev server: a slow generation is answered at once with a preview module, a miss throws at once
   * (instead of being listed at the build's end), and PNGs are not recompressed (a build-time saving).
   */
  preview?: PreviewTarget
}

export interface LoadResult {
  code: string
  /** What `watch` was told. */
  watchFiles: string[]
  /**
   * Which path answered: `warm` (the sidecar and the derived files), `full` (the image read and verified, or
   * generated), `preview` (the dev server's preview module; the image is on its way), `missing` (a frozen or
   * over-budget miss of a build, reported by `endBuild`).
   */
  path: 'warm' | 'full' | 'preview' | 'missing'
  /** The cache key (warm and full paths). */
  key?: string
  preview?: PendingPreview
}

export interface BuildEnd {
  summary: RunSummary
  /**
   * Why the build fails: the budget stopped it (BUDGET_EXCEEDED, listing every spec it kept from being
   * generated), or specs had no cached image while generation is frozen (CACHE_MISS_FROZEN, listing them all).
   */
  error?: AiImageError
}

/** A build whose cache keys are recorded for `ai-image prune` (`cache/build-record.ts`). */
export interface BuildOutput {
  /** unplugin's framework name: vite, rollup, rolldown, webpack, rspack, esbuild. */
  bundler: string
  /** Vite's environment (`client`, `ssr`, …). */
  environment?: string
  /** The output folder (absolute, or relative to the root). */
  outputDir: string
}

export interface PruneOptions {
  /** Keys of the entries to keep (every other entry is removed). */
  keep: ReadonlySet<string>
  dryRun: boolean
  report?: PruneReport
}

/** What the service did since it was made (not reset per build): for diagnostics, benchmarks and tests. */
export interface Activity {
  /** `derived`: images made by sharp; `reused`: verified derived-cache hits; `passedThrough`: cached bytes emitted as they are. */
  emit: { derived: number; reused: number; passedThrough: number }
  /** `verifiedReads`: entries read and verified whole; `imagesWritten`: image files written into the committed cache. */
  cache: { verifiedReads: number; imagesWritten: number }
}

const PROGRESS_INTERVAL_MS = 3_000

export class ImageService {
  readonly options: ResolvedOptions
  readonly log: Logger
  readonly events = new EventEmitter<ServiceEvents>()
  /** The `ai-image.config.*` file the options came from (`forProject`), when there is one. */
  readonly configFile: string | undefined
  /** The committed folder, then the tiers after it (`cache/backends.ts`). */
  readonly #cache: CacheTiers
  /** Converted, resized and placeholder files, from the derived cache or sharp. */
  readonly #emitter: ImageEmitter
  /** Counters of the current build (reset by `beginBuild`). */
  readonly #stats = new RunStats()
  readonly #budget: Budget
  readonly #progress: Progress
  readonly #clock: Clock
  /** The dev server's previews, made on its first load (a build never loads them). */
  #previews: DevPreviews | undefined
  /** Keys being obtained: concurrent imports of one key share one promise. */
  readonly #inflight = new Map<string, Promise<ResolvedImage>>()
  /** Keys of committed entries this build used (hits, generations; not placeholders), for its build record. */
  readonly #usedKeys = new Set<string>()
  /** Frozen and over-budget misses of this build, by spec, reported together by `endBuild`. */
  readonly #missing = new Map<string, AiImageError>()
  /** Build records written by this service: a later build of the same kind (watch mode) adds to them. */
  readonly #recorded = new Set<string>()
  #engine: ImageEngine | undefined
  #engineLoading: Promise<ImageEngine> | undefined
  /** Keys batches are making (#16), read on the first miss that would generate (a warm build never reads them). */
  #pendingIndex: Promise<PendingIndex> | undefined
  /** This service serves a dev server (a load with a preview target): a pending key shows a placeholder there. */
  #devServer = false
  /** The batch record of each key the dev server shows a placeholder for: once it goes (collected, cancelled), the module reloads. */
  readonly #pendingRecords = new Map<string, string>()
  /** Generations running and failed lately, by key (made with the engine). */
  #generations: Generations | undefined

  /** The service of a project: `ai-image.config.*` in its root under the inline options (which win). */
  static forProject(inline: AiImageOptions | undefined, context: ServiceContext & { root: string }): ImageService {
    const config = loadConfigFile(context.root)
    return new ImageService(mergeOptions(config.options, inline), context, config.file)
  }

  constructor(userOptions: AiImageOptions | undefined, context: ServiceContext = {}, configFile?: string) {
    this.options = resolveOptions(userOptions, context)
    this.configFile = configFile
    this.log = createLogger(this.options.secrets, context.sink)
    this.#clock = context.clock ?? realClock
    this.#cache = openCache(this.options, { warn: (message) => this.log.warn(message), clock: this.#clock }, context.tiers)
    this.#emitter = new ImageEmitter({ cacheDir: this.options.derivedCacheDir, log: this.log })
    this.#budget = new Budget(this.options.budget)
    this.#progress = new Progress({
      clock: this.#clock,
      intervalMs: context.progressIntervalMs ?? PROGRESS_INTERVAL_MS,
      probe: {
        inFlight: () => this.#engine?.scheduler.inFlight() ?? 0,
        waiting: () => this.#engine?.scheduler.gate.waiting ?? 0,
        pausedFor: () => this.#engine?.scheduler.gate.pausedFor() ?? 0,
      },
      report: (snapshot) => this.log.info(formatProgress(snapshot)),
    })
  }

  /** A build (or CLI run) starts: counters, budget and progress from zero. */
  beginBuild(): void {
    this.#stats.reset()
    this.#usedKeys.clear()
    this.#missing.clear()
    this.#budget.reset()
    this.#progress.reset()
    this.#engine?.scheduler.reopen()
  }

  /**
   * The module of a spec. Warm path first: a cached image whose derived files are all in place needs neither
   * its bytes nor sharp. Otherwise the full path (or, in the dev server, the preview path) gives the same module.
   */
  async load(ref: SpecRef, target: LoadTarget): Promise<LoadResult> {
    const spec = await this.loadSpec(ref)
    const dependencies = await specDependencies(spec, (file) => this.loadSpec({ kind: 'file', file }))
    const watchFiles = ref.kind === 'file' ? [ref.file, ...dependencies] : dependencies
    target.watch?.(watchFiles)
    const emit = { emitter: this.#emitter, optimizePng: target.preview === undefined }

    const warm = await warmImageModule({ ...emit, cache: this.#cache, prepare: (s) => this.#prepareUnchained(s) }, spec, target.sink)
    if (warm) {
      this.#stats.hits++
      this.#usedKeys.add(warm.key)
      return { code: warm.code, watchFiles, path: 'warm', key: warm.key }
    }

    let image: ResolvedImage
    try {
      if (target.preview) {
        this.#devServer = true
        const previews = (this.#previews ??= new (await import('./service/dev-preview.js')).DevPreviews((id, label) => this.events.emit('reload', id, label)))
        const answer = await previews.load(spec, target.preview, (onKey) => this.resolve(spec, { onKey }))
        if ('code' in answer) return { code: answer.code, watchFiles, path: 'preview', preview: answer.preview }
        image = answer.image
      } else {
        image = await this.resolve(spec)
      }
    } catch (error) {
      // A build goes on, to list every missing (or over-budget) spec at its end; the dev server shows each at once.
      if (!target.preview && isAiImageError(error) && (error.code === 'CACHE_MISS_FROZEN' || error.code === 'BUDGET_EXCEEDED')) {
        this.#missing.set(error.file ?? spec.label, error)
        return { code: renderMissingModule(), watchFiles, path: 'missing' }
      }
      throw error
    }
    // The dev server's placeholder of a key pending in a batch reloads once the batch's record goes.
    const record = image.placeholder ? this.#pendingRecords.get(image.key) : undefined
    const files = record ? [...watchFiles, record] : watchFiles
    if (record) target.watch?.(files)
    const code = await imageModuleCode(image, target.sink, emit)
    return { code, watchFiles: files, path: 'full', key: image.key }
  }

  /**
   * A build ends: paid requests still in flight land in the cache first (after a failure, requests not yet
   * sent are cancelled instead), then one summary line if anything was asked of the API, and the build's error.
   */
  async endBuild(options: { failed?: boolean } = {}): Promise<BuildEnd> {
    if (options.failed) this.#engine?.scheduler.cancelQueued('the build failed')
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()])
    this.#progress.reset()
    if (this.#stats.startedAt !== undefined) this.#stats.finishedAt = this.#clock.now()
    const summary = this.#stats.snapshot()
    if (this.#stats.hadMisses) this.log.info(formatSummary(summary))
    await this.#cache.endRun()
    const misses = [...this.#missing].filter(([, error]) => error.code === 'CACHE_MISS_FROZEN')
    this.#missing.clear()
    const missingError = async () => {
      if (misses.length === 0) return undefined
      const { pendingOfError } = await import('./service/plan.js')
      const pending = misses.flatMap(([file, error]) => {
        const batch = pendingOfError(error)
        return batch ? [{ file, pending: batch }] : []
      })
      const frozen = misses.filter(([file]) => !pending.some((p) => p.file === file)).map(([file]) => file)
      const { missingImagesError } = await import('./service/pending.js')
      return missingImagesError(frozen.sort(), pending.sort((a, b) => a.file.localeCompare(b.file)))
    }
    const error = this.#budget.buildError() ?? (await missingError())
    return { summary, ...(error ? { error } : {}) }
  }

  /** What this build did so far: hits, generated images, retries, tokens, estimated cost. */
  summary(): RunSummary {
    return this.#stats.snapshot()
  }

  /** Estimated cost of generating a spec (`images`, default all of its `n`), from the price table and `prices`. Sends nothing. */
  estimate(spec: Pick<ValidatedSpec, 'model' | 'request'>, images?: number): CostEstimate {
    return estimateCost(spec, this.options.prices, images)
  }

  /** For `--dry-run`, `check`, `ls`: per spec, whether it is cached, what a miss would generate and cost. Sends nothing. */
  async plan(refs: readonly SpecRef[]): Promise<PlanEntry[]> {
    const { planSpecs } = await import('./service/plan.js')
    return planSpecs(this.#planDeps(), refs)
  }

  /** Generate every spec that misses (one build: progress, budget, closing summary); never throws per spec. */
  async generateAll(refs: readonly SpecRef[], options: GenerateAllOptions = {}): Promise<GenerateAllReport> {
    const { generateAll } = await import('./service/plan.js')
    return generateAll(this.#planDeps(), refs, options)
  }

  /** Every spec of the project, found without a bundler; `filter` globs narrow it to matching spec files. */
  async discover(filter: readonly string[] = []): Promise<DiscoveredSpec[]> {
    const { discoverSpecs } = await import('./discover.js')
    return discoverSpecs(this.options, filter)
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

  /** How messages name a spec (its file relative to the root, or its virtual id). */
  labelOf(ref: SpecRef): string {
    return refLabel(this.options.root, ref)
  }

  /**
   * The image of a spec: a verified cache hit, or generated now. `chain` holds the spec files being
   * resolved above this one, to report a cycle between specs instead of waiting forever. `onKey` learns
   * the cache key as soon as it is known (the dev server follows that key's streamed previews).
   */
  async resolve(spec: ValidatedSpec, { chain = [], onKey }: ResolveOptions = {}): Promise<ResolvedImage> {
    // A chained edit the provider cannot make must fail before its upstream specs are generated (and paid
    // for); other specs are checked on a miss only, so a cache hit needs no provider at all.
    if (spec.inputs.some(isSpecPath) && this.options.provider.kind !== 'placeholder') await (await this.#loadEngine()).checkSpec(spec)
    const prepared = await this.prepare(spec, chain, async (upstream, here) => {
      const image = await this.resolve(upstream, { chain: here })
      return image.images[image.spec.pick]!
    })
    onKey?.(prepared.key)
    try {
      const image = await this.#obtain(prepared)
      if (image.placeholder && !this.#isPlaceholderExplicit()) for (const notice of this.options.notices) this.log.warnOnce(notice)
      return image
    } catch (error) {
      // Errors of an upstream spec in a chain keep naming that spec's file.
      throw error instanceof AiImageError && !error.file ? error.withFile(spec.label) : error
    }
  }

  /**
   * Inputs and key of a spec (for the Batch API layer too: the requests of a spec and their key material). A
   * `*.imgprompt.json` input is another spec whose picked image `upstream` supplies (resolving it, or only
   * reading the cache for a dry run); a cycle between specs is an error.
   */
  async prepare(
    spec: ValidatedSpec,
    chain: readonly string[],
    upstream: (spec: ValidatedSpec, chain: readonly string[]) => Promise<{ data: Buffer; mime: string; sha256: string }>,
  ): Promise<PreparedSpec> {
    return prepareSpec(spec, this.options.root, async (file) => {
      const here = spec.source.kind === 'file' ? [...chain, spec.source.file] : [...chain]
      if (here.includes(file)) {
        const cycle = [...here.slice(here.indexOf(file)), file].map((f) => relativeLabel(this.options.root, f)).join(' → ')
        throw specInvalid(spec.label, 'image', `the specs form a cycle: ${cycle}`, 'Remove one of the links')
      }
      const picked = await upstream(await this.loadSpec({ kind: 'file', file }), here)
      return { data: picked.data, mime: picked.mime, sha256: picked.sha256 }
    })
  }

  /** The committed entry of a key, read and verified whole (`check`, `ls`). */
  inspectEntry(key: string): Promise<Inspection> {
    return this.#cache.inspect(key)
  }

  /** Candidate `index` of the committed entry of `key`, verified (the dev server serves it after a restart). */
  async cachedImage(key: string, index: number): Promise<{ data: Buffer; mime: string; sha256: string } | undefined> {
    const image = (await this.#cache.read(key))?.images[index]
    return image && { data: image.data, mime: image.mime, sha256: image.sha256 }
  }

  /** URL prefix of esbuild's emitted images: the `publicPath` option, else esbuild's own, else '/'. */
  esbuildPublicPath(esbuildOption: string | undefined): string {
    return esbuildPublicPath(this.options, esbuildOption)
  }

  /**
   * Record the cache keys this build used (for `ai-image prune`, on any machine). The first record of a kind
   * replaces the file; later builds of the same kind (watch mode, which loads only what changed) add to it. A
   * record that cannot be written only warns: the build itself succeeded.
   */
  async recordBuild(build: BuildOutput): Promise<void> {
    const { root, cacheDir } = this.options
    const identity = { bundler: build.bundler, ...(build.environment ? { environment: build.environment } : {}), output: outputLabel(root, build.outputDir) }
    const name = recordFileName(identity)
    try {
      await writeBuildRecord(cacheDir, identity, this.#usedKeys, this.#recorded.has(name) ? 'merge' : 'replace')
      this.#recorded.add(name)
    } catch (error) {
      this.log.warnOnce(
        `could not record which cache entries this build uses in ${path.join(cacheDir, BUILDS_DIR, name)} (${(error as Error).message}); ` +
          '`ai-image prune` keeps only the entries of specs it finds itself until a build records them',
      )
    }
  }

  /** The build records of the cache folder, and what could not be read (a problem stops prune). */
  buildRecords(): Promise<{ records: BuildRecord[]; problems: string[] }> {
    return readBuildRecords(this.options.cacheDir)
  }

  /**
   * Remove every committed entry not in `keep` (never one another process is generating), leftovers of
   * interrupted runs, and derived files of images no kept entry holds. Counts what was (or would be) removed.
   */
  async prune({ keep, dryRun, report = {} }: PruneOptions): Promise<{ removed: number; derived: number }> {
    const removed = await this.#cache.prune(keep, dryRun, report)
    const images = new Set<string>()
    for (const key of keep) {
      const found = await this.#cache.local.inspect(key).catch(() => undefined)
      for (const image of found?.status === 'hit' ? found.entry.images : []) images.add(image.sha256)
    }
    const derived = await new DerivedCache(this.options.derivedCacheDir).prune(images, dryRun)
    return { removed, derived: derived.length }
  }

  // — gallery (#15): what the gallery reads of the cache and of the generations, through the cache's tiers —

  /** Keys of the entries of every cache tier (a listing: nothing is verified). */
  cacheKeys(): Promise<string[]> {
    return this.#cache.keys()
  }

  /** The checked sidecar of the entry of `key` (no image read): the committed folder's, else a later tier's. */
  entrySidecar(key: string): Promise<SidecarLook> {
    return this.#cache.sidecar(key)
  }

  /** The entry of `key` image by image, each verified on its own; an entry the folder lacks is read from the later tiers. */
  browseEntry(key: string): Promise<EntryLook> {
    return this.#cache.browse(key)
  }

  /** Generations running now, then those that failed lately (until their key is generated again). */
  generations(): GenerationState[] {
    return this.#generations?.list() ?? []
  }

  /**
   * Why generating `images` (default all of its `n`) of `spec` now would be refused: generation is frozen, or
   * the budget of this build (the dev server's session) would not let it through. Reserves nothing: the
   * budget is applied again before each paid call.
   */
  spendRefusal(spec: ValidatedSpec, images?: number): string | undefined {
    const { provider, frozen } = this.options
    if (provider.kind === 'placeholder') return frozen && !provider.explicit ? 'generation is frozen (CI is set) and no provider is configured' : undefined
    if (frozen) return 'generation is frozen (CI is set, or `frozen: true`)'
    const estimate = this.estimate(spec, images)
    return this.#budget.refusal({ label: spec.label, images: estimate.images, usd: estimate.usd })
  }

  activity(): Activity {
    return { emit: { ...this.#emitter.stats }, cache: { ...this.#cache.counts } }
  }

  async close(): Promise<void> {
    await this.#engine?.close()
  }

  #planDeps(): PlanDeps {
    return {
      root: this.options.root,
      beginBuild: () => this.beginBuild(),
      endBuild: () => this.endBuild(),
      loadSpec: (ref) => this.loadSpec(ref),
      resolve: (spec) => this.resolve(spec),
      prepare: (spec, chain, upstream) => this.prepare(spec, chain, upstream),
      inspect: (key) => this.#cache.inspect(key),
      keptCandidates: (key) => this.#cache.keptCandidates(key),
      estimate: (spec, images) => this.estimate(spec, images),
      pendingOf: async (key): Promise<PendingBatch | undefined> => (await import('./service/pending.js')).pendingBatchOf(await this.#pending(), key),
    }
  }

  /** The key of a spec without chained inputs (the warm path leaves chains to the full path). */
  #prepareUnchained(spec: ValidatedSpec): Promise<PreparedSpec> {
    return prepareSpec(spec, this.options.root, async () => {
      throw new Error('unreachable: specs with chained inputs take the full path')
    })
  }

  /** The image of a prepared spec: from the cache, or from the engine. Concurrent calls share one promise. */
  #obtain(prepared: PreparedSpec): Promise<ResolvedImage> {
    let pending = this.#inflight.get(prepared.key)
    if (!pending) {
      pending = this.#obtainUncached(prepared).finally(() => this.#inflight.delete(prepared.key))
      this.#inflight.set(prepared.key, pending)
    }
    // Every importer gets its own spec (labels, pick and emit options differ); the pixels are shared.
    return pending.then((image) => {
      if (!image.placeholder) this.#usedKeys.add(image.key)
      return image.spec === prepared.spec ? image : { ...image, spec: prepared.spec }
    })
  }

  async #obtainUncached(prepared: PreparedSpec): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const found = await this.#cache.inspect(key)
    if (found.status === 'hit') {
      this.#stats.hits++
      return { key, spec, hit: true, placeholder: false, sidecar: found.entry.sidecar, images: found.entry.images }
    }
    if (found.status === 'corrupt') this.log.warn(`${spec.label}: cache entry ${key.slice(0, 12)} is corrupt (${found.reason}); treating it as a miss`)
    const pending = await this.#pendingRefusal(prepared)
    if (pending) return pending
    const engine = await this.#loadEngine()
    return this.#generations!.track(key, spec.label, Number(spec.request.n), () => engine.obtainMiss(prepared))
  }

  // — batch generation (#16) —

  /**
   * A miss that a batch is making is never generated (it would be paid twice): a build gets its error (listed
   * with the others at the build's end), the dev server a placeholder captioned with the batch. Undefined when
   * no batch makes it, or when the miss would render a placeholder anyway (nothing is paid).
   */
  async #pendingRefusal(prepared: PreparedSpec): Promise<ResolvedImage | undefined> {
    const { provider, frozen } = this.options
    if (provider.kind === 'placeholder' && (provider.explicit || !frozen)) return undefined
    this.#pendingRecords.delete(prepared.key)
    const found = await (await this.#pending()).get(prepared.key)
    if (!found) return undefined
    const { pendingMiss, pendingPlaceholder } = await import('./service/pending.js')
    if (!this.#devServer) throw pendingMiss(prepared.spec.label, prepared.key, found)
    this.#pendingRecords.set(prepared.key, found.file)
    const request = (await this.#loadEngine()).providerRequest(prepared, Number(prepared.spec.request.n))
    return pendingPlaceholder(prepared, request, found, this.log)
  }

  #pending(): Promise<PendingIndex> {
    return (this.#pendingIndex ??= import('./batch/pending.js').then(({ PendingIndex }) => new PendingIndex(this.options.cacheDir, (message) => this.log.warnOnce(message))))
  }

  /**
   * \`ai-image generate --batch\`: collect finished batches into the cache, then submit what is still missing of
   * \`refs\` to the Batch API (or, with \`cancel\`, cancel pending batches and keep what they finished; with
   * \`dryRun\`, price the batch and send nothing). Loaded on first use.
   */
  async batch(refs: readonly SpecRef[], options: BatchRunOptions): Promise<BatchRunReport> {
    const { runBatch } = await import('./service/batch.js')
    return runBatch(
      {
        options: this.options,
        log: this.log,
        cache: this.#cache,
        clock: this.#clock,
        pending: () => this.#pending(),
        loadSpec: (ref) => this.loadSpec(ref),
        prepare: (spec, chain, upstream) => this.prepare(spec, chain, upstream),
        providerRequest: async (prepared, n) => (await this.#loadEngine()).providerRequest(prepared, n),
        checkSpec: async (spec) => (await this.#loadEngine()).checkSpec(spec),
      },
      refs,
      options,
    )
  }

  /** The generation machinery, imported and made on the first miss of this service. */
  #loadEngine(): Promise<ImageEngine> {
    return (this.#engineLoading ??= Promise.all([import('./engine/generate.js'), import('./service/generations.js')]).then(([{ ImageEngine }, { Generations }]) => {
      const generations = (this.#generations = new Generations((state) => this.events.emit('generation', state)))
      this.#engine = new ImageEngine({
        options: this.options,
        cache: this.#cache,
        log: this.log,
        stats: this.#stats,
        budget: this.#budget,
        progress: this.#progress,
        clock: this.#clock,
        beforeGenerate: async (prepared) => {
          const pending = await (await this.#pending()).get(prepared.key)
          if (pending) throw (await import('./service/pending.js')).pendingMiss(prepared.spec.label, prepared.key, pending)
        },
        onPartial: (key, frame) => {
          const format = sniffFormat(frame.data)
          this.events.emit('partial', key, { ...frame, mime: format ? MIME_OF[format] : undefined })
        },
        onProgress: (key, done, total) => generations.progress(key, done, total),
      })
      return this.#engine
    }))
  }

  #isPlaceholderExplicit(): boolean {
    return this.options.provider.kind === 'placeholder' && this.options.provider.explicit
  }
}
