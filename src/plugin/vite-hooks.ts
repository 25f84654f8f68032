/**
 * Vite-only hooks: the root, base and logger from the resolved config, and the dev server's image
 * middleware. Builds need nothing else: Vite turns `ROLLUP_FILE_URL` references into `base`-aware URLs.
 */
import type { ResolvedConfig, ViteDevServer } from 'vite'
import type { LogSink } from '../core/log.js'
import type { PluginState } from './state.js'
import { DevAssets } from './vite-dev.js'

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
        const dev = new DevAssets(() => state.service().store)
        state.setAssetSinkOverride(() => (asset) => dev.add(config.base, asset.key, asset.index, asset))
        state.dev = { assets: dev, base: config.base }
      }
    },
    configureServer(server: ViteDevServer) {
      if (state.dev) server.middlewares.use(state.dev.assets.middleware())
    },
  }
}
