/**
 * Each bundler's build records the cache keys it used (`core/cache/build-record.ts`), so that
 * `ai-image prune` keeps them even when the command cannot see the specs behind them. Written once the
 * output is written (Rollup, Rolldown and Vite: `writeBundle`; webpack and Rspack: `afterEmit`; esbuild:
 * `onEnd`), by a build that succeeded: a failed build saw only part of its modules. The first build of a
 * plugin instance replaces the record of its kind; later ones (watch rebuilds, which load only what
 * changed) add to it.
 */
import path from 'node:path'
import type { PluginBuild } from 'esbuild'
import { outputLabel, recordFileName, writeBuildRecord, type BuildIdentity } from '../core/cache/build-record.js'
import type { PluginState } from './state.js'

interface RollupOutputLike {
  dir?: string
  file?: string
}

/** The part of webpack's and Rspack's `Compiler` the recorder uses. */
export interface EmittingCompiler {
  options: { output: { path?: string } }
  hooks: { afterEmit: { tapPromise(name: string, fn: (compilation: { errors: ArrayLike<unknown> }) => Promise<void>): void } }
}

export function buildRecorder(state: PluginState, bundler: string, pluginName: string) {
  async function record(outputDir: string | undefined, environment?: string): Promise<void> {
    if (state.buildFailed || outputDir === undefined) return
    const service = state.service()
    const { root, cacheDir } = service.options
    const identity: BuildIdentity = { bundler, ...(environment ? { environment } : {}), output: outputLabel(root, outputDir) }
    const name = recordFileName(identity)
    try {
      await writeBuildRecord(cacheDir, identity, service.engine.usedKeys, state.recorded.has(name) ? 'merge' : 'replace')
      state.recorded.add(name)
    } catch (error) {
      // The build itself succeeded: its images are emitted. Only a later prune is less informed.
      service.log.warnOnce(
        `could not record which cache entries this build uses in ${path.join(cacheDir, 'builds', name)} (${(error as Error).message}); ` +
          '`ai-image prune` keeps only the entries of specs it finds itself until a build records them',
      )
    }
  }

  return {
    /** Rollup, Rolldown and Vite (`this.environment`: Vite's client, ssr, …). */
    writeBundle(this: unknown, output: RollupOutputLike): Promise<void> {
      const dir = output.dir ?? (output.file ? path.dirname(output.file) : undefined)
      const environment = (this as { environment?: { name?: unknown } } | undefined)?.environment?.name
      return record(dir === undefined ? undefined : path.resolve(dir), typeof environment === 'string' ? environment : undefined)
    },
    webpack(compiler: EmittingCompiler): void {
      compiler.hooks.afterEmit.tapPromise(pluginName, async (compilation) => {
        if (compilation.errors.length === 0) await record(compiler.options.output.path)
      })
    },
    esbuild(build: PluginBuild): void {
      const options = build.initialOptions
      const dir = options.outdir ?? (options.outfile ? path.dirname(options.outfile) : undefined)
      build.onEnd(async (result) => {
        if (result.errors.length === 0 && dir !== undefined) await record(path.resolve(options.absWorkingDir ?? process.cwd(), dir))
      })
    },
  }
}
