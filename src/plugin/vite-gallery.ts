/**
 * The gallery in `vite dev` (`core/gallery/dev-server.ts`): its path, `<base>__ai-image/`, is served before
 * Vite's own middlewares (an app's SPA fallback never answers it); its URL is printed beside Vite's; spec-file
 * changes seen by Vite's watcher reach its open pages. Requests of other sites, and of other machines (a
 * server started with `--host`), are refused before anything loads. The gallery's modules load on the first request to its path: a dev server whose gallery nobody
 * opens never loads them. Builds and `vite preview` have no gallery at all: this is installed by
 * `configureServer`, which only the dev server calls.
 */
import path from 'node:path'
import type { ViteDevServer } from 'vite'
import type { DevGallery } from '../core/gallery/index.js'
import type { ImageService, SpecRef } from '../core/service.js'
import { DEV_URL_SEGMENT, GALLERY_SEGMENT } from './dev-urls.js'
import { RESOLVED_VIRTUAL } from './ids.js'
import { notThisMachine, sendForbidden, sendNetworkForbidden } from './request-guard.js'
import type { DevServer } from './vite-dev.js'

export function installGallery(server: ViteDevServer, dev: DevServer, service: () => ImageService): void {
  const { base } = dev
  const galleryPath = `${base}${GALLERY_SEGMENT}`
  let gallery: Promise<DevGallery> | undefined
  const open = () =>
    (gallery ??= import('../core/gallery/index.js').then(({ DevGallery, projectView }) => {
      const images = service()
      return new DevGallery({
        view: projectView(images),
        path: galleryPath,
        guard: dev.guard,
        forbidden: sendForbidden,
        // The dev server's own image URLs (`vite-dev.ts`), which it serves from the cache, verified.
        imageUrl: ({ key, index, record }) => `${base}${DEV_URL_SEGMENT}${key}-${index}-${record.sha256.slice(0, 12)}.${record.mime.slice('image/'.length)}`,
        projectName: path.basename(server.config.root),
        log: images.log,
        importers: (ref) => importersInGraph(server, ref),
      })
    }))

  server.middlewares.use((req, res, next) => {
    const pathname = (req.url ?? '/').split(/[?#]/, 1)[0]!
    if (!pathname.startsWith(galleryPath) && pathname !== galleryPath.slice(0, -1)) return next()
    const remote = notThisMachine(req)
    if (remote !== undefined) return sendNetworkForbidden(res, remote)
    const foreign = dev.guard.foreignReason(req)
    if (foreign !== undefined) return sendForbidden(res, foreign)
    open()
      .then((opened) => opened.handle(req, res))
      .catch(next)
  })

  for (const change of ['change', 'add', 'unlink'] as const) {
    server.watcher.on(change, (file: string) => void gallery?.then((opened) => opened.fileChanged(file, change)).catch(() => {}))
  }
  server.httpServer?.once('close', () => void gallery?.then((opened) => opened.close()).catch(() => {}))

  // Beside Vite's own URLs, as other dev tools do (vite-plugin-inspect): `resolvedUrls` already hold the base.
  const printUrls = server.printUrls.bind(server)
  server.printUrls = () => {
    printUrls()
    for (const url of server.resolvedUrls?.local ?? []) server.config.logger.info(`  ➜  AI image gallery: ${url}${GALLERY_SEGMENT}`)
  }
}

/** Files whose modules import the spec's module in any environment of the dev server (those it has loaded). */
function importersInGraph(server: ViteDevServer, ref: SpecRef): string[] {
  const files = new Set<string>()
  for (const environment of Object.values(server.environments)) {
    const graph = environment.moduleGraph
    const modules = ref.kind === 'file' ? [...(graph.getModulesByFile(ref.file) ?? [])] : ref.kind === 'named' ? [graph.getModuleById(`${RESOLVED_VIRTUAL}/${ref.name}`)] : []
    for (const module of modules) for (const importer of module?.importers ?? []) if (importer.file) files.add(importer.file)
  }
  return [...files]
}
