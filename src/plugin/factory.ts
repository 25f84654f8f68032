/**
 * The unplugin factory: bundler hooks around the image service's front door. It resolves spec imports to
 * module ids, hands each load to `service.load` (which owns the warm, full, dev-preview and missing paths)
 * with the bundler's asset sink and watcher, and reports the build's errors through the bundler.
 * Bundler specifics live beside it: asset emission in `assets.ts`, Vite's hooks in `vite-hooks.ts`,
 * webpack's and Rspack's in `webpack-hooks.ts`, esbuild's in `esbuild-hooks.ts`.
 */
import path from 'node:path'
import { existsSync } from 'node:fs'
import type { UnpluginContextMeta, UnpluginOptions } from 'unplugin'
import { isAiImageError } from '../core/errors.js'
import { isSpecPath, type PendingPreview } from '../core/service.js'
import type { AiImageOptions } from '../types.js'
import { rollupAssetSink, type RollupLikeContext } from './assets.js'
import { esbuildHooks } from './esbuild-hooks.js'
import { LOAD_FILTER, RESOLVE_FILTER, SPEC_QUERY, isVirtualRequest, resolveVirtual, specModuleId, specRefOf } from './ids.js'
import { createPluginState } from './state.js'
import { viteHooks } from './vite-hooks.js'
import { buildRecorder, type EmittingCompiler } from './build-record.js'
import { webpackHooks } from './webpack-hooks.js'

export const PLUGIN_NAME = 'unplugin-ai-image'
const ROLLUP_FAMILY = new Set(['vite', 'rollup', 'rolldown'])

export function createPlugin(userOptions: AiImageOptions | undefined, meta: UnpluginContextMeta): UnpluginOptions {
  const state = createPluginState(userOptions)
  const recorder = buildRecorder(state, meta.framework, PLUGIN_NAME)
  const esbuild = esbuildHooks(state)

  /** After the output is written (and Vite listed its files): the placeholders this build shipped. */
  function closeBundle(): void {
    const labels = state.placeholders
    state.placeholders = []
    if (labels.length > 0) state.service().reportPlaceholders(labels, state.outputDir)
  }

  return {
    name: PLUGIN_NAME,
    enforce: 'pre',

    // Every spec of the project is judged before anything is paid for: a build fails at once, listing each
    // invalid spec; the dev server says which are invalid and goes on (an import of one shows its error).
    async buildStart() {
      state.buildFailed = false
      const service = state.service()
      service.beginBuild()
      const check = await service.checkProject(state.dev ? 'dev' : 'build')
      if (!state.dev) {
        if (check.error) throw check.error
        return
      }
      for (const { label, error } of check.invalid) {
        service.log.warn(`${label} is invalid: ${describeInvalid(error)} (the dev server goes on; an import of it fails until it is fixed)`)
      }
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
        const dev = state.dev
        const preview = dev?.previewTarget(id)
        let pending: PendingPreview | undefined
        try {
          const loaded = await service.load(ref, {
            sink: state.assetSinkOverride(this) ?? rollupAssetSink(this as unknown as RollupLikeContext),
            // The spec file, its inputs, the mask and, through chains, upstream specs: any change reloads this module.
            watch: (files) => {
              for (const file of files) this.addWatchFile(file)
              dev?.noteDependencies(id, files)
            },
            ...(preview ? { preview } : {}),
          })
          pending = loaded.preview
          return jsModule(loaded.code)
        } finally {
          if (preview) dev!.answered(preview, pending)
        }
      },
    },

    // Rollup, Rolldown and Vite pass the build's error (unplugin's type leaves the argument out).
    async buildEnd(...args: unknown[]) {
      const failed = args[0] !== undefined && args[0] !== null
      const service = state.service()
      // Paid requests in flight land in the cache before the build ends; then the summary of what it cost,
      // and the build's error: every frozen miss at once, or what the budget kept from being generated.
      const { error, placeholders } = await service.endBuild({ failed })
      // A build names every spec it rendered as a placeholder, and the folder that holds them: once the output is
      // written where the bundler says where (the Rollup family: `closeBundle`), else now.
      if (!state.dev) {
        if (ROLLUP_FAMILY.has(meta.framework)) state.placeholders = placeholders
        else service.reportPlaceholders(placeholders, state.outputDir)
      }
      // Close the connection pool so the process can exit; it is recreated on the next miss (watch mode).
      await service.close()
      // A failed build saw part of its modules only: it records no keys (build-record.ts).
      if (failed || error) state.buildFailed = true
      if (error) throw error
    },

    // Each build that succeeded records the cache keys it used, for `ai-image prune` (build-record.ts).
    rollup: { writeBundle: recorder.writeBundle, closeBundle },
    rolldown: { writeBundle: recorder.writeBundle, closeBundle },
    vite: { ...viteHooks(state), writeBundle: recorder.writeBundle, closeBundle },
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

/** An invalid spec's problem for a log line that names the spec already. */
function describeInvalid(error: unknown): string {
  if (isAiImageError(error)) return `${error.code}: ${error.bareMessage}`
  return error instanceof Error ? error.message : String(error)
}

/** `moduleType` tells Rolldown (Vite 8) this is JavaScript whatever the id looks like. */
function jsModule(code: string) {
  return { code, map: null, moduleType: 'js' } as { code: string; map: null }
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
