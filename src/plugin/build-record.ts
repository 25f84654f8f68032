/**
 * Each bundler's build records the cache keys it used (`service.recordBuild`), so that
 * `ai-image prune` keeps them even when the command cannot see the specs behind them. Written once the
 * output is written (Rollup, Rolldown and Vite: `writeBundle`; webpack and Rspack: `afterEmit`; esbuild:
 * `onEnd`), by a build that succeeded: a failed build saw only part of its modules. The first build of a
 * plugin instance replaces the record of its kind; later ones (watch rebuilds, which load only what
 * changed) add to it.
 */
import path from 'node:path'
import type { PluginBuild } from 'esbuild'
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
    await state.service().recordBuild({ bundler, ...(environment ? { environment } : {}), outputDir })
  }

  return {
    /** Rollup, Rolldown and Vite (`this.environment`: Vite's client, ssr, …). */
    writeBundle(this: unknown, output: RollupOutputLike): Promise<void> {
      const dir = output.dir ?? (output.file ? path.dirname(output.file) : undefined)
      if (dir !== undefined) state.outputDir = path.resolve(dir)
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
