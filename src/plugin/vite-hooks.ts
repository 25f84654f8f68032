/**
 * Vite-only hooks: the root, base and logger from the resolved config, and the dev server (image
 * middleware, live previews, HMR reloads when an image is ready, the gallery; vite-dev.ts and
 * vite-gallery.ts, imported when a dev server is configured: a build never loads them). Builds need nothing else: Vite turns `ROLLUP_FILE_URL` references
 * into `base`-aware URLs. Editing a spec file reloads its module (the module's file is the spec);
 * `hotUpdate` does the same for input images and upstream specs.
 */
import type { DevEnvironment, HotUpdateOptions, ResolvedConfig, ViteDevServer } from 'vite'
import type { LogSink } from '../core/service.js'
import type { PluginState } from './state.js'

export function viteHooks(state: PluginState) {
  let resolved: ResolvedConfig | undefined
  return {
    configResolved(config: ResolvedConfig) {
      state.setRoot(config.root)
      const logger = config.logger
      const sink: LogSink = {
        info: (m) => logger.info(m, { timestamp: true }),
        warn: (m) => logger.warn(m, { timestamp: true }),
        error: (m) => logger.error(m, { timestamp: true }),
      }
      state.setSink(sink)
      resolved = config
    },
    // Before the server takes a request (and so before any module loads): Vite awaits it.
    async configureServer(server: ViteDevServer) {
      if (resolved?.command !== 'serve') return
      const config = resolved
      const [{ DevServer }, { installGallery }] = await Promise.all([import('./vite-dev.js'), import('./vite-gallery.js')])
      const dev = new DevServer(() => state.service(), config.base, config.server.origin ? { origin: config.server.origin } : {})
      state.setAssetSinkOverride(() => (asset) => dev.assets.add(config.base, asset.key, asset.index, asset))
      state.dev = dev
      dev.attach(server)
      // Installed now, not in a returned post hook: they run before Vite's transform middleware, which would
      // otherwise load (and generate) a module for whichever page asked.
      server.middlewares.use(dev.guardMiddleware())
      server.middlewares.use(dev.middleware())
      // The gallery at `<base>__ai-image/`, its URL printed beside Vite's (vite-gallery.ts).
      installGallery(server, dev, () => state.service())
    },
    /** An input image or an upstream spec changed: reload the spec modules built from it, and so their importers. */
    hotUpdate(this: { environment: DevEnvironment }, options: HotUpdateOptions) {
      const dependents = state.dev?.dependentsOf(options.file, this.environment.moduleGraph) ?? []
      if (dependents.length === 0) return
      return [...new Set([...options.modules, ...dependents])]
    },
  }
}
