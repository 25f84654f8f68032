/**
 * esbuild hooks. esbuild has no asset API for plugins, so images are collected while modules load and,
 * once the build succeeded, written into the outdir as `assets/<name>-<hash>.<ext>` (or added to
 * `outputFiles` with `write: false`) and listed in the metafile. Their URLs are the `publicPath` option
 * (else esbuild's `publicPath`, else '/') joined with that path.
 *
 * Spec files are resolved here by esbuild's own resolver and stay in its `file` namespace with the
 * `?ai-image` suffix: esbuild watches them itself and names them relative to the working directory in
 * its output and metafile (the shared resolveId would put this machine's absolute path there). The shared
 * hooks still handle `virtual:ai-image…` and load everything; esbuild runs their filters as Go regular
 * expressions, so only our ids ever cross into JavaScript.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { BuildOptions, BuildResult, OutputFile, PluginBuild } from 'esbuild'
import { AiImageError } from '../core/errors.js'
import { contentHash, hashedAssetPath, publicUrl } from './assets.js'
import { LOAD_FILTER, SPEC_FILE_FILTER, SPEC_QUERY, VIRTUAL_FILTER } from './ids.js'
import type { PluginState } from './state.js'

/** Marks the resolution this plugin asks esbuild for, so its own callback steps aside. */
const RESOLVING_SPEC = Symbol('unplugin-ai-image resolving a spec file')

export function esbuildHooks(state: PluginState) {
  return {
    onResolveFilter: VIRTUAL_FILTER,
    onLoadFilter: LOAD_FILTER,
    loader: 'js' as const,
    setup(build: PluginBuild) {
      const options = build.initialOptions
      const workingDir = options.absWorkingDir ?? process.cwd()
      state.setRoot(workingDir)
      const outdir = options.outdir ?? (options.outfile ? path.dirname(options.outfile) : undefined)
      if (outdir !== undefined) state.outputDir = path.resolve(workingDir, outdir)
      /** Images of the current build: output path relative to the outdir → bytes. */
      const pending = new Map<string, Buffer>()

      state.setAssetSinkOverride(() => {
        const outdir = outputDir(options, workingDir)
        const prefix = state.service().esbuildPublicPath(options.publicPath)
        return (asset) => {
          const file = hashedAssetPath(asset)
          pending.set(file, asset.data)
          return JSON.stringify(publicUrl(prefix, file))
        }
      })
      build.onResolve({ filter: SPEC_FILE_FILTER }, async (args) => {
        if (args.pluginData === RESOLVING_SPEC) return undefined
        const { kind, importer, resolveDir } = args
        const found = await build.resolve(args.path, { kind, importer, resolveDir, pluginData: RESOLVING_SPEC })
        if (found.errors.length > 0 || found.namespace !== 'file' || !state.service().options.isSpecFile(found.path)) return undefined
        return { path: found.path, suffix: SPEC_QUERY, namespace: 'file' }
      })
      build.onStart(() => {
        pending.clear()
      })
      build.onEnd(async (result) => {
        if (result.errors.length > 0 || pending.size === 0) return
        const outdir = outputDir(options, workingDir)
        for (const [file, data] of pending) {
          const target = path.join(outdir, file)
          if (options.write === false) {
            result.outputFiles?.push(outputFile(target, data))
          } else {
            await mkdir(path.dirname(target), { recursive: true })
            await writeFile(target, data)
          }
          addToMetafile(result, path.relative(workingDir, target), data)
        }
      })
    },
  }
}

function outputDir(options: BuildOptions, workingDir: string): string {
  const dir = options.outdir ?? (options.outfile ? path.dirname(options.outfile) : undefined)
  if (dir === undefined) {
    throw new AiImageError('SPEC_INVALID', 'esbuild needs `outdir` (or `outfile`) to emit images. Set one in the build options', {
      file: 'esbuild build options',
      field: 'outdir',
    })
  }
  return path.resolve(workingDir, dir)
}

/** The shape esbuild gives `outputFiles` entries with `write: false`. */
function outputFile(target: string, data: Buffer): OutputFile {
  const contents = new Uint8Array(data)
  return {
    path: target,
    contents,
    hash: contentHash(data),
    get text() {
      return Buffer.from(contents).toString('utf8')
    },
  }
}

function addToMetafile(result: BuildResult, relative: string, data: Buffer): void {
  if (!result.metafile) return
  result.metafile.outputs[relative.split(path.sep).join('/')] = { bytes: data.length, inputs: {}, imports: [], exports: [] }
}
