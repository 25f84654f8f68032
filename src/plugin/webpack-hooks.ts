/**
 * webpack and Rspack hooks: the root is the compiler's `context`; images become assets of the module that
 * imports them (so a module restored from webpack's cache brings its images along) with a content-hashed
 * name; URLs go through the runtime public path, so `output.publicPath` (including `'auto'`) decides
 * where they point. `virtual:ai-image…` requests are resolved before webpack sees them, because webpack
 * treats `virtual:` as a URL scheme and refuses it before any resolver plugin runs.
 */
import type { AssetSink } from '../core/service.js'
import { hashedAssetPath } from './assets.js'
import { isVirtualRequest, resolveVirtual } from './ids.js'
import type { PluginState } from './state.js'

/** The part of a webpack/Rspack loader context that emits a file. */
interface LoaderContextLike {
  emitFile(name: string, content: Buffer, sourceMap?: undefined, assetInfo?: { immutable?: boolean }): void
}

interface ResolveDataLike {
  request: string
  contextInfo: { issuer: string }
}

interface NormalModuleFactoryLike {
  hooks: { beforeResolve: { tap(name: string, fn: (data: ResolveDataLike) => undefined): void } }
}

/** The part of webpack's and Rspack's `Compiler` these hooks use. */
export interface WebpackLikeCompiler {
  context: string
  options?: { output?: { path?: string } }
  hooks: { normalModuleFactory: { tap(name: string, fn: (factory: NormalModuleFactoryLike) => void): void } }
}

export function webpackHooks(state: PluginState, pluginName: string) {
  return (compiler: WebpackLikeCompiler): void => {
    state.setRoot(compiler.context)
    if (compiler.options?.output?.path) state.outputDir = compiler.options.output.path
    state.setAssetSinkOverride((context) => webpackAssetSink(loaderContextOf(context)))
    compiler.hooks.normalModuleFactory.tap(pluginName, (factory) => {
      factory.hooks.beforeResolve.tap(pluginName, (data) => {
        // The resolved id starts with `\0`, which is no scheme; the plugin's resolveId then passes it through.
        if (isVirtualRequest(data.request)) {
          data.request = resolveVirtual(data.request, data.contextInfo.issuer || undefined, state.service().options.root)
        }
        return undefined
      })
    })
  }
}

/** `__webpack_public_path__ + "assets/hero-1a2b3c4d.png"`: webpack's runtime knows the public path, even `'auto'`. */
export function webpackAssetSink(loader: LoaderContextLike): AssetSink {
  return (asset) => {
    const file = hashedAssetPath(asset)
    loader.emitFile(file, asset.data, undefined, { immutable: true })
    return `__webpack_public_path__ + ${JSON.stringify(file)}`
  }
}

function loaderContextOf(context: unknown): LoaderContextLike {
  const native = (context as { getNativeBuildContext?: () => { loaderContext?: LoaderContextLike } }).getNativeBuildContext?.()
  if (!native?.loaderContext) throw new Error('unplugin-ai-image: images can only be emitted while webpack or Rspack loads a module')
  return native.loaderContext
}
