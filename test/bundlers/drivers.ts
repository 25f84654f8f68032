/**
 * One driver per bundler: the same build (entry → an ES module in `<root>/dist`), the same watch, and the
 * bundler's own error channel turned into `BuildFailed` (a rejected promise for Rollup, Rolldown and Vite,
 * stats errors for webpack and Rspack, the failure's messages for esbuild). The plugin comes from source.
 */
import path from 'node:path'
import { rspack, type Configuration as RspackConfiguration, type Stats as RspackStats } from '@rspack/core'
import * as esbuild from 'esbuild'
import { rolldown, watch as rolldownWatch } from 'rolldown'
import { rollup, watch as rollupWatch } from 'rollup'
import { build as viteBuild, type InlineConfig } from 'vite'
import webpack, { type Configuration as WebpackConfiguration, type Stats as WebpackStats } from 'webpack'
import esbuildPlugin from '../../src/esbuild.js'
import rolldownPlugin from '../../src/rolldown.js'
import rollupPlugin from '../../src/rollup.js'
import rspackPlugin from '../../src/rspack.js'
import type { AiImageOptions } from '../../src/types.js'
import vitePlugin from '../../src/vite.js'
import webpackPlugin from '../../src/webpack.js'

export const OUT_DIR = 'dist'

export interface BuildRun {
  outDir: string
  /** The built entry: an ES module. */
  entry: string
}

/** A build that failed, with every message the bundler reported. */
export class BuildFailed extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join('\n'))
  }
}

export type BuildOutcome = BuildRun | BuildFailed

export interface Driver {
  name: 'vite' | 'rollup' | 'rolldown' | 'webpack' | 'rspack' | 'esbuild'
  /**
   * How the driver's image URLs start, when they are not `file:` URLs resolved against the chunk (Rollup,
   * Rolldown, and webpack's `publicPath: 'auto'` in an ES module give those).
   */
  publicPath: string
  build(root: string, options: AiImageOptions, entry?: string): Promise<BuildRun>
  /** Builds now and after every change, reporting each outcome; resolves to a stop function. */
  watch(root: string, options: AiImageOptions, report: (outcome: BuildOutcome) => void): Promise<() => Promise<void>>
}

const DEFAULT_ENTRY = 'src/main.js'

function runOf(root: string, entry: string): BuildRun {
  const outDir = path.join(root, OUT_DIR)
  return { outDir, entry: path.join(outDir, `${path.basename(entry, '.js')}.js`) }
}

function failure(error: unknown): BuildFailed {
  if (error instanceof BuildFailed) return error
  // esbuild's failure lists `{ text }`, Rolldown's `{ message }`; Rollup throws a single error.
  const listed = (error as { errors?: Array<{ text?: string; message?: string }> }).errors?.map((e) => e.text ?? e.message ?? '')
  return new BuildFailed(listed?.length ? listed : [String((error as Error).message ?? error)])
}

// ---- Rollup, Rolldown and Vite: the same bundle and watcher shapes. ----

interface RollupLikeBundle {
  write(output: ReturnType<typeof rollupOutput>): Promise<unknown>
  close(): Promise<void>
}

interface RollupLikeWatcher {
  on(name: 'event', listener: (event: { code: string; error?: unknown; result?: { close(): unknown } | null }) => void): unknown
  close(): Promise<void>
}

const rollupOutput = (root: string) => ({ dir: path.join(root, OUT_DIR), format: 'es' as const, entryFileNames: '[name].js' })

async function built(root: string, entry: string, build: () => Promise<RollupLikeBundle | void>): Promise<BuildRun> {
  try {
    const bundle = await build()
    if (bundle) {
      try {
        await bundle.write(rollupOutput(root))
      } finally {
        await bundle.close()
      }
    }
  } catch (error) {
    throw failure(error)
  }
  return runOf(root, entry)
}

function reportEvents(watcher: RollupLikeWatcher, root: string, report: (outcome: BuildOutcome) => void): () => Promise<void> {
  watcher.on('event', (event) => {
    if (event.code !== 'BUNDLE_END' && event.code !== 'ERROR') return
    void event.result?.close()
    report(event.code === 'ERROR' ? failure(event.error) : runOf(root, DEFAULT_ENTRY))
  })
  return () => watcher.close()
}

/** Rollup has no root of its own, so the plugin gets `root`. */
export const rollupDriver: Driver = {
  name: 'rollup',
  publicPath: '',
  build: (root, options, entry = DEFAULT_ENTRY) =>
    built(root, entry, () => rollup({ input: path.join(root, entry), plugins: [rollupPlugin({ root, ...options })], onwarn: () => {} })),
  async watch(root, options, report) {
    const input = { input: path.join(root, DEFAULT_ENTRY), plugins: [rollupPlugin({ root, ...options })], onwarn: () => {} }
    const watcher = rollupWatch({ ...input, output: rollupOutput(root), watch: { buildDelay: 50 } })
    return reportEvents(watcher as unknown as RollupLikeWatcher, root, report)
  },
}

export const rolldownDriver: Driver = {
  name: 'rolldown',
  publicPath: '',
  build: (root, options, entry = DEFAULT_ENTRY) =>
    built(root, entry, () => rolldown({ input: path.join(root, entry), cwd: root, plugins: [rolldownPlugin({ root, ...options })], onLog: () => {} })),
  async watch(root, options, report) {
    const input = { input: path.join(root, DEFAULT_ENTRY), cwd: root, plugins: [rolldownPlugin({ root, ...options })], onLog: () => {} }
    const watcher = rolldownWatch({ ...input, output: rollupOutput(root) })
    return reportEvents(watcher as unknown as RollupLikeWatcher, root, report)
  },
}

/** Vite: an app build of one JS entry that keeps its exports; images under `base` ('/'). */
function viteConfig(root: string, options: AiImageOptions, entry: string, watch: boolean): InlineConfig {
  return {
    root,
    configFile: false,
    logLevel: 'silent',
    plugins: [vitePlugin(options)],
    build: {
      outDir: OUT_DIR,
      minify: false,
      watch: watch ? {} : null,
      rolldownOptions: {
        input: path.join(root, entry),
        preserveEntrySignatures: 'exports-only',
        output: { entryFileNames: '[name].js' },
      },
    },
  }
}

export const viteDriver: Driver = {
  name: 'vite',
  publicPath: '/',
  build: (root, options, entry = DEFAULT_ENTRY) =>
    built(root, entry, async () => {
      await viteBuild(viteConfig(root, options, entry, false))
    }),
  async watch(root, options, report) {
    const watcher = await viteBuild(viteConfig(root, options, DEFAULT_ENTRY, true))
    return reportEvents(watcher as unknown as RollupLikeWatcher, root, report)
  },
}

// ---- webpack and Rspack: an ES module library; errors arrive in the stats. ----

interface CompilerLike {
  run(callback: (error: Error | null, stats?: WebpackStats | RspackStats) => void): void
  watch(options: { aggregateTimeout: number }, callback: (error: Error | null, stats?: WebpackStats | RspackStats) => void): { close(callback: () => void): void }
  close(callback: (error?: Error | null) => void): void
}

function outcomeOf(root: string, entry: string, error: Error | null, stats: WebpackStats | RspackStats | undefined): BuildOutcome {
  if (error) return failure(error)
  if (stats?.hasErrors()) return new BuildFailed((stats.toJson({ all: false, errors: true }).errors ?? []).map((e) => e.message))
  return runOf(root, entry)
}

/** A webpack or Rspack driver; `buildWithRules` adds module rules of the test's own. */
export interface WebpackLikeDriver extends Driver {
  buildWithRules(root: string, options: AiImageOptions, rules: object[]): Promise<BuildRun>
}

type CreateCompiler = (root: string, options: AiImageOptions, entry: string, rules: object[]) => CompilerLike

function webpackLikeDriver(name: 'webpack' | 'rspack', publicPath: string, createCompiler: CreateCompiler): WebpackLikeDriver {
  const build = async (root: string, options: AiImageOptions, entry: string, rules: object[]) => {
    const compiler = createCompiler(root, options, entry, rules)
    const outcome = await new Promise<BuildOutcome>((resolve) => compiler.run((error, stats) => resolve(outcomeOf(root, entry, error, stats))))
    await new Promise<void>((resolve) => compiler.close(() => resolve()))
    if (outcome instanceof BuildFailed) throw outcome
    return outcome
  }
  return {
    name,
    publicPath,
    build: (root, options, entry = DEFAULT_ENTRY) => build(root, options, entry, []),
    buildWithRules: (root, options, rules) => build(root, options, DEFAULT_ENTRY, rules),
    async watch(root, options, report) {
      const compiler = createCompiler(root, options, DEFAULT_ENTRY, [])
      const watching = compiler.watch({ aggregateTimeout: 50 }, (error, stats) => report(outcomeOf(root, DEFAULT_ENTRY, error, stats)))
      return () => new Promise<void>((resolve) => watching.close(() => compiler.close(() => resolve())))
    },
  }
}

function webpackLikeConfig(root: string, entry: string, publicPath: string | undefined, rules: object[]) {
  return {
    mode: 'production' as const,
    context: root,
    entry: { [path.basename(entry, '.js')]: `./${entry}` },
    devtool: false as const,
    output: {
      path: path.join(root, OUT_DIR),
      filename: '[name].js',
      module: true,
      library: { type: 'module' as const },
      ...(publicPath === undefined ? {} : { publicPath }),
    },
    module: { rules },
    optimization: { minimize: false },
    infrastructureLogging: { level: 'error' as const },
  }
}

/** webpack keeps its default `publicPath: 'auto'`: in an ES module that is the chunk's own URL. */
export const webpackDriver = webpackLikeDriver('webpack', '', (root, options, entry, rules) => {
  const config: WebpackConfiguration = {
    ...webpackLikeConfig(root, entry, undefined, rules),
    experiments: { outputModule: true },
    plugins: [webpackPlugin(options)],
  }
  return webpack(config) as unknown as CompilerLike
})

/** Rspack gets an explicit `output.publicPath`. */
export const rspackDriver = webpackLikeDriver('rspack', '/static/', (root, options, entry, rules) => {
  const config: RspackConfiguration = { ...webpackLikeConfig(root, entry, '/static/', rules), plugins: [rspackPlugin(options)] }
  return rspack(config) as unknown as CompilerLike
})

// ---- esbuild: the plugin's `publicPath` option; errors are the failure's messages. ----

export const ESBUILD_PUBLIC_PATH = 'https://cdn.example.com/img'

function esbuildOptions(root: string, options: AiImageOptions, entry: string): esbuild.BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    outdir: OUT_DIR,
    metafile: true,
    logLevel: 'silent',
    plugins: [esbuildPlugin({ publicPath: ESBUILD_PUBLIC_PATH, ...options })],
  }
}

export const esbuildDriver: Driver = {
  name: 'esbuild',
  publicPath: `${ESBUILD_PUBLIC_PATH}/`,
  async build(root, options, entry = DEFAULT_ENTRY) {
    try {
      await esbuild.build(esbuildOptions(root, options, entry))
    } catch (error) {
      throw failure(error)
    }
    return runOf(root, entry)
  },
  async watch(root, options, report) {
    const base = esbuildOptions(root, options, DEFAULT_ENTRY)
    // After the plugin, so its end callback sees the images written.
    const probe: esbuild.Plugin = {
      name: 'probe',
      setup(build) {
        build.onEnd((result) => report(result.errors.length ? new BuildFailed(result.errors.map((e) => e.text)) : runOf(root, DEFAULT_ENTRY)))
      },
    }
    const context = await esbuild.context({ ...base, plugins: [...(base.plugins ?? []), probe] })
    await context.watch()
    return () => context.dispose()
  },
}
