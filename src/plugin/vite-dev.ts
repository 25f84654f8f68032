/**
 * Vite dev server: image modules export `<base>@ai-image/<key>-<i>-<digest>.<ext>` URLs, served from
 * memory (placeholders, fresh generations) or the cache.
 *
 * A slow generation never blocks the page: when an image is not ready within a moment, its module is
 * answered at once with preview URLs (`<base>@ai-image/preview/<token>-<i>.<ext>`) that stream the
 * partial frames and then the final image into the page's `<img>` (dev-preview.ts). When the image is
 * ready, the module is reloaded through HMR, so importers get the final URL, width and height; when it
 * fails, the reload shows the error in Vite's overlay.
 *
 * Only the server's own pages may make it generate (request-guard.ts): requests of other sites for the
 * plugin's URLs are refused before Vite sees them, `load` refuses work for any other foreign request, and a
 * virtual query spec is generated only when a project source imports it (project-queries.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ViteDevServer } from 'vite'
import type { CacheStore } from '../core/cache/store.js'
import { renderModule } from '../core/emit/module-code.js'
import type { ResolvedImage } from '../core/engine/generate.js'
import { MIME_OF, extensionOf } from '../core/image-format.js'
import { AiImageError } from '../core/errors.js'
import type { ImageService, SpecRef } from '../core/service.js'
import { parseSize } from '../core/spec/models.js'
import { VIRTUAL_PREFIX, relativeLabel } from '../core/spec/source.js'
import type { ValidatedSpec } from '../core/spec/validate.js'
import { Preview, sendImage, sendPreview, type PreviewFrame } from './dev-preview.js'
import { ASSET_NAME, DEV_URL_SEGMENT, PREVIEW_SEGMENT, isPluginUrl, parseImageUrl } from './dev-urls.js'
import { ProjectQueries } from './project-queries.js'
import { RequestGuard, sendForbidden, type GuardConfig } from './request-guard.js'

export { DEV_URL_SEGMENT } from './dev-urls.js'
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
    const match = ASSET_NAME.exec(name)
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
  /** Tells the server's own pages from pages of other sites; holds the per-server token. */
  readonly guard: RequestGuard
  private readonly queries: ProjectQueries
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
    guard: GuardConfig = {},
  ) {
    this.assets = new DevAssets(() => service().store)
    this.guard = new RequestGuard(guard)
    this.queries = new ProjectQueries(() => service().options)
  }

  /** `resolveId` resolved an import of a virtual query spec to `id`, for `importer`. */
  noteImport(id: string, importer: string | undefined): void {
    this.queries.noteResolved(id, importer)
  }

  /**
   * Resolves when the spec of module `id` may be loaded (and so generated) now; throws a SPEC_INVALID error
   * when the request being served comes from a page of another site, or when it is a virtual query spec
   * that no project source imports. Nothing is read or sent before this.
   */
  async admit(id: string, ref: SpecRef): Promise<void> {
    const foreign = this.guard.currentForeignReason()
    if (foreign !== undefined) {
      throw new AiImageError(
        'SPEC_INVALID',
        `refused: a page of another site asked the dev server for this image (${foreign}). ` +
          "The dev server loads and generates images only for its own pages: open the page from the dev server's own address",
        { file: this.labelOf(ref), data: { refused: foreign } },
      )
    }
    if (ref.kind === 'query') await this.queries.assertImported(id, ref)
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

  /**
   * Refuses requests of other sites for the plugin's URLs (403) before any of Vite's middlewares sees
   * them, and lets the rest of the chain know whether the request it serves is foreign (`admit`).
   */
  guardMiddleware() {
    return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      const reason = this.guard.foreignReason(req)
      if (reason !== undefined) {
        const { root, isSpecFile } = this.service().options
        if (isPluginUrl(req.url ?? '/', { base: this.base, root, isSpecFile })) return sendForbidden(res, reason)
      }
      this.guard.run(req, next)
    }
  }

  /** Serves `<base>@ai-image/…`: images and live previews; 400 for a malformed URL, 404 for an unknown image. */
  middleware() {
    return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      const image = parseImageUrl(req.url ?? '/', this.base)
      if (image === undefined) return next()
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET and HEAD', { allow: 'GET, HEAD' })
      if (image.kind === 'malformed') return sendText(res, 400, `unplugin-ai-image: ${image.reason}`)
      if (image.kind === 'preview') {
        const preview = this.previews.get(image.token)
        return preview ? sendPreview(req, res, preview, image.index) : sendText(res, 404, 'unplugin-ai-image: no such preview (it ended; reload the page)')
      }
      this.assets.get(image.name).then(
        (asset) => (asset ? sendImage(req, res, asset) : sendText(res, 404, 'unplugin-ai-image: no such image (reload the page)')),
        (error: unknown) => next(error),
      )
    }
  }

  private labelOf(ref: SpecRef): string {
    if (ref.kind === 'file') return relativeLabel(this.service().options.root, ref.file)
    return ref.kind === 'query' ? ref.id : `${VIRTUAL_PREFIX}/${ref.name}`
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

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers })
  res.end(text)
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
