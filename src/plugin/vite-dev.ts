/**
 * Vite dev server: image modules export `<base>@ai-image/<key>-<i>-<digest>.<ext>` URLs, served from
 * memory (placeholders, fresh generations) or the cache.
 *
 * A slow generation never blocks the page: when an image is not ready within a moment, its module is
 * answered at once with preview URLs (`<base>@ai-image/preview/<token>-<i>.<ext>`) that stream the
 * partial frames and then the final image into the page's `<img>` (dev-preview.ts). When the image is
 * ready, the module is reloaded through HMR, so importers get the final URL, width and height; when it
 * fails, the reload shows the error in Vite's overlay.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ViteDevServer } from 'vite'
import type { CacheStore } from '../core/cache/store.js'
import { renderModule } from '../core/emit/module-code.js'
import type { ResolvedImage } from '../core/engine/generate.js'
import { MIME_OF, extensionOf } from '../core/image-format.js'
import type { ImageService } from '../core/service.js'
import { parseSize } from '../core/spec/models.js'
import type { ValidatedSpec } from '../core/spec/validate.js'
import { Preview, sendImage, sendPreview, type PreviewFrame } from './dev-preview.js'

export const DEV_URL_SEGMENT = '@ai-image/'
const PREVIEW_SEGMENT = 'preview/'
/** How long `load` waits for an image before answering with a preview module: cache hits and placeholders fit. */
export const DEV_PREVIEW_AFTER_MS = 300
/** Finished previews stay servable this long, for an `<img>` that asks just after the module reloaded. */
const PREVIEW_TTL_MS = 5 * 60_000
/** Images kept in memory; older ones are read back from the cache when asked for. */
const MAX_DEV_ASSETS = 256
/** Width and height a preview module exports for `size: "auto"` until the image exists. */
const AUTO_PREVIEW_SIZE = { width: 1024, height: 1024 }

export type DevAsset = PreviewFrame

export class DevAssets {
  private readonly files = new Map<string, DevAsset>()

  constructor(private readonly store: () => CacheStore) {}

  /** Register an image and return its dev URL (as a JS string literal). */
  add(base: string, key: string, index: number, asset: DevAsset): string {
    // The digest keeps two different files of one candidate (converted, resized) apart.
    const digest = createHash('sha256').update(asset.data).digest('hex').slice(0, 12)
    const name = `${key}-${index}-${digest}.${extensionOf(asset.mime)}`
    this.files.delete(name)
    this.files.set(name, asset)
    if (this.files.size > MAX_DEV_ASSETS) this.files.delete(this.files.keys().next().value!)
    return JSON.stringify(`${base}${DEV_URL_SEGMENT}${name}`)
  }

  async get(name: string): Promise<DevAsset | undefined> {
    const known = this.files.get(name)
    if (known) return known
    // After a server restart (or an eviction) the browser may ask before the module is loaded again.
    const match = /^([0-9a-f]{64})-(\d+)-([0-9a-f]{12})\.[a-z]+$/.exec(name)
    if (!match) return undefined
    const entry = await this.store().read(match[1]!)
    const image = entry?.images[Number(match[2])]
    return image && image.sha256.startsWith(match[3]!) ? { data: image.data, mime: image.mime } : undefined
  }
}

/** A load answered with a preview module: its image is still on its way. */
interface PendingLoad {
  /** Resolves once the preview module was handed to Vite (reloading before that would be lost). */
  answered: Promise<void>
}

export class DevServer {
  readonly assets: DevAssets
  private server: ViteDevServer | undefined
  private readonly previews = new Map<string, Preview>()
  /** The latest pending load of each module id: only its completion reloads the module. */
  private readonly pending = new Map<string, PendingLoad>()
  /** A failure found after its module was answered, thrown once by the reload that follows. */
  private readonly failures = new Map<string, { fingerprint: string; error: unknown }>()
  private followed: ImageService | undefined
  /** Files each module's image depends on (inputs, masks, upstream specs of chains). */
  private readonly dependencies = new Map<string, readonly string[]>()

  constructor(
    private readonly service: () => ImageService,
    readonly base: string,
  ) {
    this.assets = new DevAssets(() => service().store)
  }

  attach(server: ViteDevServer): void {
    this.server = server
  }

  /**
   * The image of a spec, or, when it is not ready within `DEV_PREVIEW_AFTER_MS`, the code of a preview
   * module whose URLs stream the generation live. `dependencies` are the files whose change must reload it.
   */
  async load(id: string, spec: ValidatedSpec, dependencies: readonly string[]): Promise<ResolvedImage | string> {
    this.dependencies.set(id, dependencies)
    // Whatever an older load of this module still waits for, this load now owns the module.
    this.pending.delete(id)
    const fingerprint = specFingerprint(spec)
    const failed = this.failures.get(id)
    if (failed) {
      this.failures.delete(id)
      if (failed.fingerprint === fingerprint) throw failed.error
    }
    const service = this.service()
    this.followPartials(service)
    const preview = new Preview(randomBytes(12).toString('hex'))
    this.previews.set(preview.token, preview)
    const image = service.resolve(spec, { onKey: (key) => (preview.key = key) })
    const ready = await Promise.race([image.then(() => true, () => true), delay(DEV_PREVIEW_AFTER_MS).then(() => false)])
    if (ready) {
      this.previews.delete(preview.token)
      return image
    }

    let answered!: () => void
    const load: PendingLoad = { answered: new Promise((resolve) => (answered = resolve)) }
    this.pending.set(id, load)
    image.then(
      (resolved) => preview.finish(resolved.images.map(({ data, mime }) => ({ data, mime }))),
      (error: unknown) => {
        preview.fail(error)
        if (this.pending.get(id) === load) this.failures.set(id, { fingerprint, error })
      },
    )
    void preview
      .settled()
      .then(async () => {
        await load.answered
        setTimeout(() => this.previews.delete(preview.token), PREVIEW_TTL_MS).unref()
        if (this.pending.get(id) !== load) return // the spec changed meanwhile; a newer load owns the module
        this.pending.delete(id)
        await this.reload(id)
      })
      // The server may have closed meanwhile; the next page load gets the image from the cache.
      .catch((error: unknown) => service.log.warn(`${spec.label}: could not reload the module after generating it (${(error as Error).message})`))
    const code = this.previewModule(spec, preview)
    // Vite receives the code right after this returns; a reload from then on reaches the module.
    setImmediate(answered)
    return code
  }

  /**
   * Modules of `graph` whose image depends on `file`. Vite skips import analysis of `.json?…` ids, so
   * the files a spec module watches never become its imports: the link is kept here instead.
   */
  dependentsOf<M>(file: string, graph: { getModuleById(id: string): M | undefined }): M[] {
    const found: M[] = []
    for (const [id, files] of this.dependencies) {
      const module = files.includes(file) ? graph.getModuleById(id) : undefined
      if (module) found.push(module)
    }
    return found
  }

  middleware() {
    return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      const url = req.url ?? ''
      const at = url.indexOf(`/${DEV_URL_SEGMENT}`)
      if (at === -1 || (req.method !== 'GET' && req.method !== 'HEAD')) return next()
      const name = decodeURIComponent(url.slice(at + DEV_URL_SEGMENT.length + 1).split('?')[0]!)
      if (name.startsWith(PREVIEW_SEGMENT)) {
        const match = /^([0-9a-f]+)-(\d+)\.[a-z]+$/.exec(name.slice(PREVIEW_SEGMENT.length))
        const preview = match ? this.previews.get(match[1]!) : undefined
        return preview ? sendPreview(req, res, preview, Number(match![2])) : next()
      }
      this.assets.get(name).then((asset) => (asset ? sendImage(req, res, asset) : next()), next)
    }
  }

  /** Partial frames of every generation, routed to the previews of their key. */
  private followPartials(service: ImageService): void {
    if (this.followed === service) return
    this.followed = service
    service.engine.events.on('partial', (key, frame) => {
      for (const preview of this.previews.values()) if (preview.key === key) preview.partial(frame.index, frame.data)
    })
  }

  private previewModule(spec: ValidatedSpec, preview: Preview): string {
    const size = (typeof spec.request.size === 'string' && parseSize(spec.request.size)) || AUTO_PREVIEW_SIZE
    const count = Number(spec.request.n ?? 1)
    const ext = extensionOf(MIME_OF[spec.responseFormat])
    return renderModule({
      images: Array.from({ length: count }, (_, i) => ({
        url: JSON.stringify(`${this.base}${DEV_URL_SEGMENT}${PREVIEW_SEGMENT}${preview.token}-${i}.${ext}`),
        ...size,
      })),
      pick: spec.pick,
      alt: spec.alt,
      key: preview.key ?? '',
      srcset: [],
      placeholder: undefined,
    })
  }

  /** Invalidate the module in every environment that holds it and send the HMR update to its importers. */
  private async reload(id: string): Promise<void> {
    for (const environment of Object.values(this.server?.environments ?? {})) {
      const module = environment.moduleGraph.getModuleById(id)
      if (module) await environment.reloadModule(module)
    }
  }
}

/** What a spec asks for, to tell whether a remembered failure still applies. */
function specFingerprint(spec: ValidatedSpec): string {
  return JSON.stringify([spec.endpoint, spec.request, spec.inputs, spec.mask ?? null, spec.seed])
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
