/**
 * What the hooks of one plugin instance share: the root and log sink (known late in Vite), the image
 * service (created on first use, from `ai-image.config.*` under the inline options), how assets are
 * emitted, and whether the current build failed.
 */
import { ImageService, type AssetSink, type LogSink } from '../core/service.js'
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
  /**
   * Set when the current build failed (frozen misses, the budget, an error Rollup reports to `buildEnd`): it
   * records no keys. (A failed load stops the record too: see build-record.ts.)
   */
  buildFailed: boolean
  /** The build's output folder: webpack's and Rspack's `output.path`, esbuild's `outdir`, the Rollup family's `dir` as written. */
  outputDir?: string
  /** Specs the current build rendered as placeholders, said once its output is written (the Rollup family). */
  placeholders: string[]
}

export function createPluginState(userOptions: AiImageOptions | undefined): PluginState {
  let root = userOptions?.root ?? process.cwd()
  let sink: LogSink | undefined
  let service: ImageService | undefined
  let override: ((context: unknown) => AssetSink) | undefined
  return {
    // `ai-image.config.*` in the root serves the plugin and the CLI alike; inline options win.
    service: () => (service ??= ImageService.forProject(userOptions, { root, ...(sink ? { sink } : {}) })),
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
    buildFailed: false,
    placeholders: [],
  }
}
