/**
 * The unplugin factory: bundler hooks around the image service. It resolves spec imports to module ids,
 * loads them (spec → image → emitted assets → module code) and reports errors through the bundler.
 * Bundler specifics live beside it: asset emission in `assets.ts`, Vite's hooks in `vite-hooks.ts`,
 * webpack's and Rspack's in `webpack-hooks.ts`, esbuild's in `esbuild-hooks.ts`.
 */
import path from 'node:path'
import { existsSync } from 'node:fs'
import type { UnpluginContextMeta, UnpluginOptions } from 'unplugin'
import { AiImageError, isAiImageError } from '../core/errors.js'
import { imageModuleCode } from '../core/emit/image-module.js'
import { warmImageModule } from '../core/emit/warm-module.js'
import { renderMissingModule } from '../core/emit/module-code.js'
import { specDependencies } from '../core/engine/inputs.js'
import { isSpecPath } from '../core/spec-path.js'
import type { AiImageOptions } from '../types.js'
import { rollupAssetSink, type RollupLikeContext } from './assets.js'
import { esbuildHooks } from './esbuild-hooks.js'
import { LOAD_FILTER, RESOLVE_FILTER, SPEC_QUERY, isVirtualRequest, resolveVirtual, specModuleId, specRefOf } from './ids.js'
import { createPluginState } from './state.js'
import { viteHooks } from './vite-hooks.js'
import { buildRecorder, type EmittingCompiler } from './build-record.js'
import { webpackHooks } from './webpack-hooks.js'

export const PLUGIN_NAME = 'unplugin-ai-image'

export function createPlugin(userOptions: AiImageOptions | undefined, meta: UnpluginContextMeta): UnpluginOptions {
  const state = createPluginState(userOptions)
  const recorder = buildRecorder(state, meta.framework, PLUGIN_NAME)
  const esbuild = esbuildHooks(state)

  return {
    name: PLUGIN_NAME,
    enforce: 'pre',

    buildStart() {
      state.missing.clear()
      state.buildFailed = false
      state.service().beginBuild()
    },

    resolveId: {
      filter: { id: RESOLVE_FILTER },
      async handler(id, importer) {
        const { options } = state.service()
        if (id.startsWith('\0')) return id
        if (isVirtualRequest(id)) {
          const resolved = resolveVirtual(id, importer, options.root)
          // The dev server generates a query spec only for an import of a project source (project-queries.ts).
          state.dev?.noteImport(resolved, importer)
          return resolved
        }
        if (id.endsWith(SPEC_QUERY)) {
          // Already ours (a dev server request): keep it when it names a real file; else let the bundler resolve the path.
          return path.isAbsolute(id) && existsSync(id.slice(0, -SPEC_QUERY.length)) ? id : null
        }
        const file = await resolveSpecPath(this as unknown as ResolveContext, id, importer, options.root)
        if (!file || !options.isSpecFile(file)) return null
        const resolved = specModuleId(file, meta.framework)
        // Unchanged (webpack asking again with the path it got from us): let the bundler take it from here.
        return resolved === id ? null : resolved
      },
    },

    // The filter cannot express `include`/`exclude` (globs relative to the root): without this, webpack's
    // load rule would take an excluded spec file from its JSON parser.
    loadInclude: (id) => specRefOf(id, state.service().options) !== undefined,

    load: {
      filter: { id: LOAD_FILTER },
      async handler(id) {
        const service = state.service()
        const ref = specRefOf(id, service.options)
        if (!ref) return null
        // The dev server: only for its own pages, and a query spec only when the project imports it.
        if (state.dev) await state.dev.admit(id, ref)
        const spec = await service.loadSpec(ref)
        if (ref.kind === 'file') this.addWatchFile(ref.file)
        // Inputs, the mask and, through chains, upstream specs and their inputs: any change regenerates this one.
        const dependencies = await specDependencies(spec, (f) => service.loadSpec({ kind: 'file', file: f }))
        for (const file of dependencies) this.addWatchFile(file)

        const sink = state.assetSinkOverride(this) ?? rollupAssetSink(this as unknown as RollupLikeContext)
        // The dev server leaves out lossless PNG recompression, a build-time saving that changes no export.
        const emit = { engine: service.engine, store: service.store, emitter: service.emitter, optimizePng: !state.dev }
        // Warm path first: a cached image whose derived files are all in place needs neither its bytes nor sharp.
        const warm = await warmImageModule(emit, spec, sink)
        if (warm !== undefined) return jsModule(warm)

        let image
        try {
          // The Vite dev server answers a slow generation at once with a live preview module (vite-dev.ts).
          const loaded = state.dev ? await state.dev.load(id, spec, dependencies) : await service.resolve(spec)
          if (typeof loaded === 'string') return jsModule(loaded)
          image = loaded
        } catch (error) {
          // In a build, keep going to list every missing (or over-budget) spec at the end; the dev server shows each at once.
          if (isAiImageError(error) && (error.code === 'CACHE_MISS_FROZEN' || error.code === 'BUDGET_EXCEEDED') && !state.dev) {
            state.missing.set(error.file ?? spec.label, error)
            return { code: renderMissingModule(), map: null }
          }
          throw error
        }
        return jsModule(await imageModuleCode(image, sink, emit))
      },
    },

    // Rollup, Rolldown and Vite pass the build's error (unplugin's type leaves the argument out).
    async buildEnd(...args: unknown[]) {
      const error = args[0]
      const missing = [...state.missing].filter(([, e]) => e.code === 'CACHE_MISS_FROZEN').map(([file]) => file).sort()
      state.missing.clear()
      const service = state.service()
      // Paid requests in flight land in the cache before the build ends; then the summary of what it cost.
      await service.endBuild({ failed: error !== undefined && error !== null })
      // Close the connection pool so the process can exit; it is recreated on the next miss (watch mode).
      await service.close()
      const overBudget = service.budget.buildError()
      // A failed build saw part of its modules only: it records no keys (build-record.ts).
      if ((error !== undefined && error !== null) || overBudget || missing.length > 0) state.buildFailed = true
      if (overBudget) throw overBudget
      if (missing.length > 0) throw frozenMissesError(missing)
    },

    // Each build that succeeded records the cache keys it used, for `ai-image prune` (build-record.ts).
    rollup: { writeBundle: recorder.writeBundle },
    rolldown: { writeBundle: recorder.writeBundle },
    vite: { ...viteHooks(state), writeBundle: recorder.writeBundle },
    webpack: withRecorder(webpackHooks(state, PLUGIN_NAME), recorder.webpack),
    rspack: withRecorder(webpackHooks(state, PLUGIN_NAME), recorder.webpack),
    esbuild: { ...esbuild, setup: (build) => (esbuild.setup(build), recorder.esbuild(build)) },
  }
}

/** A webpack/Rspack compiler hook that also records the build's keys once its output is written. */
function withRecorder<C>(hooks: (compiler: C) => void, record: (compiler: EmittingCompiler) => void): (compiler: C) => void {
  return (compiler) => {
    hooks(compiler)
    record(compiler as unknown as EmittingCompiler)
  }
}

/** `moduleType` tells Rolldown (Vite 8) this is JavaScript whatever the id looks like. */
function jsModule(code: string) {
  return { code, map: null, moduleType: 'js' } as { code: string; map: null }
}

function frozenMissesError(files: string[]): AiImageError {
  return new AiImageError(
    'CACHE_MISS_FROZEN',
    `${files.length} spec${files.length > 1 ? 's have' : ' has'} no cached image and generation is frozen (CI is set):\n` +
      files.map((f) => `  - ${f}`).join('\n') +
      '\nGenerate them where an API key is available with `npx ai-image generate` (or a build without CI), ' +
      'commit the cache folder, or set `frozen: false` to allow paid generation here.',
    { data: { missing: files } },
  )
}

interface ResolveContext {
  resolve?: (id: string, importer?: string, options?: { skipSelf?: boolean }) => Promise<{ id: string } | null>
}

/** Absolute path of an imported spec file: relative, absolute, root-relative (`/src/…`) or aliased. */
async function resolveSpecPath(context: ResolveContext, id: string, importer: string | undefined, root: string): Promise<string | undefined> {
  if (id.startsWith('.')) return path.resolve(importer ? path.dirname(importer) : root, id)
  if (path.isAbsolute(id)) {
    if (existsSync(id)) return id
    const fromRoot = path.join(root, id)
    return existsSync(fromRoot) ? fromRoot : id
  }
  // Bare or aliased: ask the bundler's own resolver (skipping us), where it offers one.
  const resolved = await context.resolve?.(id, importer, { skipSelf: true })
  return resolved && isSpecPath(resolved.id) ? resolved.id : undefined
}
