/**
 * The unplugin factory: bundler hooks around the image service. It resolves spec imports to module ids,
 * loads them (spec → image → emitted assets → module code) and reports errors through the bundler.
 * Everything bundler-specific about asset URLs lives in `assets.ts`.
 */
import path from 'node:path'
import { existsSync } from 'node:fs'
import type { UnpluginContextMeta, UnpluginOptions } from 'unplugin'
import type { ResolvedConfig, ViteDevServer } from 'vite'
import { AiImageError, isAiImageError } from '../core/errors.js'
import { assetFileName } from '../core/emit/asset-name.js'
import { renderMissingModule, renderModule } from '../core/emit/module-code.js'
import type { LogSink } from '../core/log.js'
import { ImageService } from '../core/service.js'
import { isSpecPath } from '../core/engine/inputs.js'
import type { AiImageOptions } from '../types.js'
import { rollupAssetUrl, type AssetUrl } from './assets.js'
import { LOAD_FILTER, RESOLVE_FILTER, SPEC_QUERY, isVirtualRequest, resolveVirtual, specRefOf } from './ids.js'
import { DevAssets } from './vite-dev.js'

export const PLUGIN_NAME = 'unplugin-ai-image'

interface ViteState {
  base: string
  serve: boolean
  devAssets?: DevAssets
}

export function createPlugin(userOptions: AiImageOptions | undefined, _meta: UnpluginContextMeta): UnpluginOptions {
  let root = userOptions?.root ?? process.cwd()
  let sink: LogSink | undefined
  let service: ImageService | undefined
  let vite: ViteState | undefined
  /** Frozen misses of this build, reported together at its end. */
  const missing = new Map<string, AiImageError>()

  const getService = () => (service ??= new ImageService(userOptions, { root, ...(sink ? { sink } : {}) }))

  /** A URL expression for an emitted image, as this bundler spells it. */
  const assetUrl: AssetUrl = (context, asset) => {
    if (vite?.serve) return (vite.devAssets ??= new DevAssets(getService().store)).add(vite.base, asset.key, asset.index, asset)
    return rollupAssetUrl(context, asset)
  }

  return {
    name: PLUGIN_NAME,
    enforce: 'pre',

    buildStart() {
      missing.clear()
      getService()
    },

    resolveId: {
      filter: { id: RESOLVE_FILTER },
      async handler(id, importer) {
        const svc = getService()
        if (id.startsWith('\0')) return id
        if (isVirtualRequest(id)) return resolveVirtual(id, importer, svc.options.root)
        if (id.endsWith(SPEC_QUERY)) {
          // Already ours (a dev server request): keep it when it names a real file; else let the bundler resolve the path.
          return path.isAbsolute(id) && existsSync(id.slice(0, -SPEC_QUERY.length)) ? id : null
        }
        const file = await resolveSpecPath(this as unknown as ResolveContext, id, importer, svc.options.root)
        return file && svc.options.isSpecFile(file) ? `${file}${SPEC_QUERY}` : null
      },
    },

    load: {
      filter: { id: LOAD_FILTER },
      async handler(id) {
        const svc = getService()
        const ref = specRefOf(id, svc.options.root)
        if (!ref) return null
        const spec = await svc.loadSpec(ref)
        if (ref.kind === 'file') this.addWatchFile(ref.file)
        for (const input of [...spec.inputs, ...(spec.mask ? [spec.mask] : [])]) this.addWatchFile(input)

        let image
        try {
          image = await svc.resolve(spec)
        } catch (error) {
          // In a build, keep going to list every missing spec at the end; the dev server shows each at once.
          if (isAiImageError(error) && error.code === 'CACHE_MISS_FROZEN' && !vite?.serve) {
            missing.set(error.file ?? spec.label, error)
            return { code: renderMissingModule(), map: null }
          }
          throw error
        }
        const count = image.images.length
        const urls = image.images.map((file, index) =>
          assetUrl(this as unknown as Parameters<AssetUrl>[0], {
            key: image.key,
            index,
            name: assetFileName(spec, image.key, index, count, file.mime),
            data: file.data,
            mime: file.mime,
          }),
        )
        const code = renderModule({
          images: image.images.map((file, i) => ({ url: urls[i]!, width: file.width, height: file.height })),
          pick: spec.pick,
          alt: spec.alt,
          key: image.key,
          srcset: [],
          placeholder: undefined,
        })
        // `moduleType` tells Rolldown (Vite 8) this is JavaScript whatever the id looks like.
        return { code, map: null, moduleType: 'js' } as { code: string; map: null }
      },
    },

    async buildEnd() {
      if (missing.size > 0) {
        const files = [...missing.keys()].sort()
        missing.clear()
        throw new AiImageError(
          'CACHE_MISS_FROZEN',
          `${files.length} spec${files.length > 1 ? 's have' : ' has'} no cached image and generation is frozen (CI is set):\n` +
            files.map((f) => `  - ${f}`).join('\n') +
            '\nGenerate them where an API key is available with `npx ai-image generate` (or a build without CI), ' +
            'commit the cache folder, or set `frozen: false` to allow paid generation here.',
          { data: { missing: files } },
        )
      }
      // Close the connection pool so the process can exit; it is recreated on the next miss (watch mode).
      await service?.close()
    },

    vite: {
      configResolved(config: ResolvedConfig) {
        root = userOptions?.root ?? config.root
        vite = { base: config.base, serve: config.command === 'serve' }
        const logger = config.logger
        sink = {
          info: (m) => logger.info(m, { timestamp: true }),
          warn: (m) => logger.warn(m, { timestamp: true }),
          error: (m) => logger.error(m, { timestamp: true }),
        }
        service?.log.setSink(sink)
      },
      configureServer(server: ViteDevServer) {
        const assets = (vite!.devAssets ??= new DevAssets(getService().store))
        server.middlewares.use(assets.middleware())
      },
    },
  }
}

interface ResolveContext {
  resolve?: (id: string, importer?: string, options?: { skipSelf?: boolean }) => Promise<{ id: string } | null>
}

/** Absolute path of an imported spec file: relative, absolute, root-relative (`/src/…`) or aliased. */
async function resolveSpecPath(context: ResolveContext, id: string, importer: string | undefined, root: string): Promise<string | undefined> {
  if (id.startsWith('.') && importer) return path.resolve(path.dirname(importer), id)
  if (path.isAbsolute(id)) {
    if (existsSync(id)) return id
    const fromRoot = path.join(root, id)
    return existsSync(fromRoot) ? fromRoot : id
  }
  if (id.startsWith('.')) return path.resolve(root, id)
  // Bare or aliased: ask the bundler's own resolver (skipping us), where it offers one.
  const resolved = await context.resolve?.(id, importer, { skipSelf: true })
  return resolved && isSpecPath(resolved.id) ? resolved.id : undefined
}
