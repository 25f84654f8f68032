/**
 * One object per build (or CLI run) that owns the options, the cache, the scheduler and the provider, and
 * offers the two operations every front end needs: load a spec, and resolve it to an image. The bundler
 * plugin and the `ai-image` command both go through here: one generation path.
 */
import { AiImageError, specInvalid } from './errors.js'
import { CacheStore } from './cache/store.js'
import { ImageEmitter } from './emit/emitter.js'
import { createLogger, type LogSink, type Logger } from './log.js'
import { resolveOptions, type Env, type ResolvedOptions } from './options.js'
import { createProvider } from './providers/index.js'
import type { ImageProvider } from './providers/types.js'
import { ImageEngine, type ResolvedImage } from './engine/generate.js'
import { Scheduler } from './engine/scheduler.js'
import { namedSpec, parseQuerySpec, readSpecFile, relativeLabel, type RawSpec } from './spec/source.js'
import { validateSpec, type ValidatedSpec } from './spec/validate.js'
import type { AiImageOptions } from '../types.js'

export type SpecRef =
  | { kind: 'file'; file: string }
  | { kind: 'query'; query: string; dir: string; id: string }
  | { kind: 'named'; name: string }

export interface ServiceContext {
  root?: string
  env?: Env
  sink?: LogSink
}

export class ImageService {
  readonly options: ResolvedOptions
  readonly log: Logger
  readonly store: CacheStore
  readonly scheduler: Scheduler
  readonly engine: ImageEngine
  /** Converted, resized and placeholder files, from the derived cache or sharp. */
  readonly emitter: ImageEmitter
  private provider: ImageProvider | undefined

  constructor(userOptions: AiImageOptions | undefined, context: ServiceContext = {}) {
    this.options = resolveOptions(userOptions, context)
    this.log = createLogger(this.options.secrets, context.sink)
    this.store = new CacheStore(this.options.cacheDir)
    this.scheduler = new Scheduler({
      concurrency: this.options.concurrency,
      retries: this.options.retries,
      timeout: this.options.timeout,
      log: this.log,
    })
    this.engine = new ImageEngine({
      options: this.options,
      store: this.store,
      scheduler: this.scheduler,
      log: this.log,
      provider: () => (this.provider ??= createProvider(this.options.provider, this.options)),
    })
    this.emitter = new ImageEmitter({ cacheDir: this.options.derivedCacheDir, log: this.log })
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
   * resolved above this one, to report a cycle between specs instead of waiting forever.
   */
  async resolve(spec: ValidatedSpec, chain: readonly string[] = []): Promise<ResolvedImage> {
    const prepared = await this.engine.prepare(spec, async (file) => {
      const here = spec.source.kind === 'file' ? [...chain, spec.source.file] : [...chain]
      if (here.includes(file)) {
        const cycle = [...here.slice(here.indexOf(file)), file].map((f) => relativeLabel(this.options.root, f)).join(' → ')
        throw specInvalid(spec.label, 'image', `the specs form a cycle: ${cycle}`, 'Remove one of the links')
      }
      const upstream = await this.resolve(await this.loadSpec({ kind: 'file', file }), here)
      const picked = upstream.images[upstream.spec.pick]!
      return { data: picked.data, mime: picked.mime, sha256: picked.sha256 }
    })
    try {
      const image = await this.engine.obtain(prepared)
      if (image.placeholder && !this.isPlaceholderExplicit()) for (const notice of this.options.notices) this.log.warnOnce(notice)
      return image
    } catch (error) {
      // Errors of an upstream spec in a chain keep naming that spec's file.
      throw error instanceof AiImageError && !error.file ? error.withFile(spec.label) : error
    }
  }

  private isPlaceholderExplicit(): boolean {
    return this.options.provider.kind === 'placeholder' && this.options.provider.explicit
  }

  async close(): Promise<void> {
    await this.provider?.close()
    this.provider = undefined
  }
}
