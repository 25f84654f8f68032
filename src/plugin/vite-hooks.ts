/**
 * Vite-only hooks: the root, base and logger from the resolved config, and the dev server (image
 * middleware, live previews, HMR reloads when an image is ready; vite-dev.ts). Builds need nothing else:
 * Vite turns `ROLLUP_FILE_URL` references into `base`-aware URLs. Editing a spec file or an input image
 * needs no hook either: both are watch files of the module, so Vite invalidates it and updates its importers.
 */
import type { ResolvedConfig, ViteDevServer } from 'vite'
import type { LogSink } from '../core/log.js'
import type { PluginState } from './state.js'
import { DevServer } from './vite-dev.js'

export function viteHooks(state: PluginState) {
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
      if (config.command === 'serve') {
        const dev = new DevServer(() => state.service(), config.base)
        state.setAssetSinkOverride(() => (asset) => dev.assets.add(config.base, asset.key, asset.index, asset))
        state.dev = dev
      }
    },
    configureServer(server: ViteDevServer) {
      if (!state.dev) return
      state.dev.attach(server)
      server.middlewares.use(state.dev.middleware())
    },
  }
}
