/**
 * What the hooks of one plugin instance share: the root and log sink (known late in Vite), the image
 * service (created on first use, from `ai-image.config.*` under the inline options), how assets are
 * emitted, and the frozen misses of the current build.
 */
import type { AssetSink } from '../core/emit/image-module.js'
import type { AiImageError } from '../core/errors.js'
import type { LogSink } from '../core/log.js'
import { loadConfigFile, mergeOptions } from '../core/config-file.js'
import { ImageService } from '../core/service.js'
import type { AiImageOptions } from '../types.js'
import type { DevServer } from './vite-dev.js'

export interface PluginState {
  service(): ImageService
  setRoot(root: string): void
  setSink(sink: LogSink): void
  /**
   * Replaces Rollup-style asset emission: the Vite dev server serves images itself; webpack, Rspack and
   * esbuild emit their own way. `make` gets the load hook's context (`this`).
   */
  setAssetSinkOverride(make: ((context: unknown) => AssetSink) | undefined): void
  assetSinkOverride(context?: unknown): AssetSink | undefined
  /** Set when running in the Vite dev server. */
  dev?: DevServer
  /** Frozen misses of this build, reported together at its end. */
  missing: Map<string, AiImageError>
  /**
   * Set when the current build failed (frozen misses, the budget, an error Rollup reports to `buildEnd`): it
   * records no keys. (A failed load stops the record too: see build-record.ts.)
   */
  buildFailed: boolean
  /** Build records this plugin instance wrote: a later build of the same kind (watch mode) adds to them. */
  recorded: Set<string>
}

export function createPluginState(userOptions: AiImageOptions | undefined): PluginState {
  let root = userOptions?.root ?? process.cwd()
  let sink: LogSink | undefined
  let service: ImageService | undefined
  let override: ((context: unknown) => AssetSink) | undefined
  return {
    // `ai-image.config.*` in the root serves the plugin and the CLI alike; inline options win.
    service: () => (service ??= new ImageService(mergeOptions(loadConfigFile(root).options, userOptions), { root, ...(sink ? { sink } : {}) })),
    setRoot(next) {
      // An explicit `root` option wins over the bundler's.
      if (!userOptions?.root) root = next
    },
    setSink(next) {
      sink = next
      service?.log.setSink(next)
    },
    setAssetSinkOverride(make) {
      override = make
    },
    assetSinkOverride: (context) => override?.(context),
    missing: new Map(),
    buildFailed: false,
    recorded: new Set(),
  }
}
