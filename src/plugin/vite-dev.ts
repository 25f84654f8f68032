/**
 * Vite dev server: image modules export `<base>@ai-image/<key>-<i>-<digest>.<ext>` URLs, served from
 * memory (placeholders, fresh generations) or the cache.
 *
 * A slow generation never blocks the page: the service answers its load at once with a preview module
 * (`service/dev-preview.ts`) whose URLs (`<base>@ai-image/preview/<token>-<i>.<ext>`) this server streams:
 * the partial frames and then the final image, into the page's `<img>` (dev-preview.ts). When the image is
 * ready, the service asks for the module to be reloaded through HMR, so importers get the final URL, width
 * and height; when it fails, the reload shows the error in Vite's overlay.
 *
 * Only the server's own pages may make it generate (request-guard.ts): requests of other sites for the
 * plugin's URLs are refused before Vite sees them, `load` refuses work for any other foreign request, and a
 * virtual query spec is generated only when a project source imports it (project-queries.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import path from 'node:path'
import type { ViteDevServer } from 'vite'
import { AiImageError } from '../core/errors.js'
import { isSpecPath, type ImageService, type PendingPreview, type PreviewTarget, type SpecRef } from '../core/service.js'
import { Preview, sendImage, sendPreview, type PreviewFrame } from './dev-preview.js'
import { ASSET_NAME, DEV_URL_SEGMENT, PREVIEW_SEGMENT, isPluginUrl, parseImageUrl } from './dev-urls.js'
import { hmrUpdateReloadsPage } from './hmr-reach.js'
import { ProjectQueries } from './project-queries.js'
import { RequestGuard, sendForbidden, type GuardConfig } from './request-guard.js'

export { DEV_URL_SEGMENT } from './dev-urls.js'
/** Finished previews keep their final images in memory this long; after that they are read from the cache. */
const PREVIEW_TTL_MS = 5 * 60_000
/** Finished previews kept servable (a page whose image changed no export keeps their URLs); the oldest go first. */
const MAX_KEPT_PREVIEWS = 2048
/** Modules to reload through HMR are sent together once none has come for this long (at most `RELOAD_MAX_WAIT_MS`). */
const RELOAD_QUIET_MS = 250
const RELOAD_MAX_WAIT_MS = 1_000
/** Images kept in memory; older ones are read back from the cache when asked for. */
const MAX_DEV_ASSETS = 256

export type DevAsset = PreviewFrame

export class DevAssets {
  private readonly files = new Map<string, DevAsset>()

  constructor(private readonly service: () => ImageService) {}

  /** Register an image (`name`: its file name, whose extension it keeps) and return its dev URL (as a JS string literal). */
  add(base: string, key: string, index: number, asset: DevAsset & { name: string }): string {
    // The digest keeps two different files of one candidate (converted, resized) apart.
    const digest = createHash('sha256').update(asset.data).digest('hex').slice(0, 12)
    const name = `${key}-${index}-${digest}${path.extname(asset.name)}`
    this.files.delete(name)
    this.files.set(name, { data: asset.data, mime: asset.mime })
    if (this.files.size > MAX_DEV_ASSETS) this.files.delete(this.files.keys().next().value!)
    return JSON.stringify(`${base}${DEV_URL_SEGMENT}${name}`)
  }

  async get(name: string): Promise<DevAsset | undefined> {
    const known = this.files.get(name)
    if (known) return known
    // After a server restart (or an eviction) the browser may ask before the module is loaded again.
    const match = ASSET_NAME.exec(name)
    if (!match) return undefined
    const image = await this.service().cachedImage(match[1]!, Number(match[2]))
    return image && image.sha256.startsWith(match[3]!) ? { data: image.data, mime: image.mime } : undefined
  }
}

export class DevServer {
  readonly assets: DevAssets
  /** Tells the server's own pages from pages of other sites; holds the per-server token. */
  readonly guard: RequestGuard
  private readonly queries: ProjectQueries
  private server: ViteDevServer | undefined
  private readonly previews = new Map<string, Preview>()
  private followed: ImageService | undefined
  /** Files each module's image depends on (the spec file, inputs, masks, upstream specs of chains). */
  private readonly dependencies = new Map<string, readonly string[]>()
  /** Modules whose image is in and whose exports changed, reloaded together (one page reload for a vanilla app). */
  private readonly dueReloads = new Set<string>()
  private reloadTimer: NodeJS.Timeout | undefined
  private firstDueAt = 0

  constructor(
    private readonly service: () => ImageService,
    readonly base: string,
    guard: GuardConfig = {},
  ) {
    this.assets = new DevAssets(service)
    this.guard = new RequestGuard(guard)
    this.queries = new ProjectQueries(service)
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
        { file: this.service().labelOf(ref), data: { refused: foreign } },
      )
    }
    if (ref.kind === 'query') await this.queries.assertImported(id, ref)
  }

  attach(server: ViteDevServer): void {
    this.server = server
    this.service().prepareDevPreviews()
    // A spec created while the server runs gets its TypeScript declaration at once (the editor types its
    // import as soon as it is saved); a deleted spec's declaration goes with it.
    const declarations = (specs: string[], gone: string[]) => {
      this.service()
        .updateDeclarations(specs, gone)
        .then(
          (report) => {
            for (const { file, reason } of report?.refused ?? []) this.service().log.warnOnce(`${file} ${reason}: the TypeScript declaration of its spec was not written there`)
          },
          (error: unknown) => this.service().log.warn(`could not update the TypeScript declaration of a spec (${(error as Error).message})`),
        )
    }
    server.watcher.on('add', (file) => {
      if (isSpecPath(file)) declarations([file], [])
    })
    server.watcher.on('unlink', (file) => {
      if (isSpecPath(file)) declarations([], [file])
    })
  }

  /** The files module `id` depends on: a change to any of them reloads it (`dependentsOf`). */
  noteDependencies(id: string, files: readonly string[]): void {
    this.dependencies.set(id, files)
  }

  /**
   * How the service may answer a slow load of module `id`: a preview module whose URLs this server streams.
   * The preview collects partial frames from the start (an `<img>` that connects late gets the latest one);
   * `answered` says whether the load needed it.
   */
  previewTarget(id: string): PreviewTarget {
    this.followService(this.service())
    const preview = new Preview(randomBytes(12).toString('hex'))
    this.previews.set(preview.token, preview)
    return {
      id,
      token: preview.token,
      url: (index, ext) => JSON.stringify(`${this.base}${DEV_URL_SEGMENT}${PREVIEW_SEGMENT}${preview.token}-${index}.${ext}`),
      onKey: (key) => (preview.key = key),
    }
  }

  /** The load of a preview target ended: with a preview module (`pending`: stream it until the image is in), or without one. */
  answered(target: PreviewTarget, pending: PendingPreview | undefined): void {
    const preview = this.previews.get(target.token)
    if (!preview) return
    if (!pending) {
      this.previews.delete(target.token)
      return
    }
    // The first frame comes at once: the page never shows an empty box while the image is generated.
    pending.firstFrames.then(
      (frames) => frames.forEach((frame, index) => preview.first(index, frame)),
      () => {},
    )
    pending.outcome.then(
      (images) => preview.finish(images),
      (error: unknown) => preview.fail(error),
    )
    void preview.settled().then(() => {
      this.keepWithin(MAX_KEPT_PREVIEWS)
      // A failure is shown by the reload that follows; a finished image stays servable from the cache (a
      // placeholder, never cached, is dropped: its page gets it again on its next load).
      setTimeout(() => void this.releaseFinished(preview), PREVIEW_TTL_MS).unref()
    })
  }

  /** A preview finished a while ago: its images are read from the cache from now on, or it goes. */
  private async releaseFinished(preview: Preview): Promise<void> {
    const cached = preview.state === 'done' && preview.key !== undefined && (await this.service().cachedImage(preview.key, 0).catch(() => undefined))
    if (cached) preview.release()
    else this.previews.delete(preview.token)
  }

  /** At most `max` previews: the oldest finished ones go (their pages get the image on their next load). */
  private keepWithin(max: number): void {
    for (const [token, preview] of this.previews) {
      if (this.previews.size <= max) return
      if (preview.state !== 'pending') this.previews.delete(token)
    }
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
        if (!preview) return sendText(res, 404, 'unplugin-ai-image: no such preview (it ended; reload the page)')
        if (!preview.released) return sendPreview(req, res, preview, image.index)
        // A preview finished long ago: its image is the cache entry of its key.
        this.service()
          .cachedImage(preview.key!, image.index)
          .then(
            (cached) => (cached ? sendImage(req, res, cached) : sendText(res, 404, 'unplugin-ai-image: no such image (reload the page)')),
            (error: unknown) => next(error),
          )
        return
      }
      this.assets.get(image.name).then(
        (asset) => (asset ? sendImage(req, res, asset) : sendText(res, 404, 'unplugin-ai-image: no such image (reload the page)')),
        (error: unknown) => next(error),
      )
    }
  }

  /** Partial frames of every generation, routed to the previews of their key; reloads the service asks for. */
  private followService(service: ImageService): void {
    if (this.followed === service) return
    this.followed = service
    service.events.on('partial', (key, frame) => {
      for (const preview of this.previews.values()) if (preview.key === key) preview.partial(frame.index, frame.data, frame.mime)
    })
    service.events.on('reload', (id, _label, hmr) => {
      if (hmr) this.scheduleReload(id)
      else this.refreshQuietly(id)
    })
  }

  /**
   * Reload module `id` through HMR, together with the others that become due meanwhile: two images finishing
   * close together reload a vanilla page once (Vite's client folds full reloads that arrive together).
   */
  private scheduleReload(id: string): void {
    const now = Date.now()
    if (this.dueReloads.size === 0) this.firstDueAt = now
    this.dueReloads.add(id)
    clearTimeout(this.reloadTimer)
    const wait = Math.max(0, Math.min(RELOAD_QUIET_MS, this.firstDueAt + RELOAD_MAX_WAIT_MS - now))
    this.reloadTimer = setTimeout(() => void this.reloadDue(), wait)
    this.reloadTimer.unref()
  }

  /** Invalidate each due module in every environment that holds it and send the HMR updates, back to back. */
  private async reloadDue(): Promise<void> {
    const ids = [...this.dueReloads]
    this.dueReloads.clear()
    for (const id of ids) {
      for (const environment of Object.values(this.server?.environments ?? {})) {
        const module = environment.moduleGraph.getModuleById(id)
        // The server may have closed meanwhile; the next page load gets the image from the cache.
        if (module) await environment.reloadModule(module).catch((error: unknown) => this.service().log.warn(`could not reload ${id} after generating its image (${(error as Error).message})`))
      }
    }
  }

  /**
   * The image changed no export: a page that accepts the module's HMR update gets it (the final URLs, without
   * a page reload); any other page keeps its module (the preview URL serves the final image) and the module is
   * only invalidated, so the next page load gets the final one.
   */
  private refreshQuietly(id: string): void {
    for (const environment of Object.values(this.server?.environments ?? {})) {
      const module = environment.moduleGraph.getModuleById(id)
      if (!module) continue
      if (hmrUpdateReloadsPage(module)) environment.moduleGraph.invalidateModule(module)
      else this.scheduleReload(id)
    }
  }
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers })
  res.end(text)
}
