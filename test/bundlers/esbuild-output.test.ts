/**
 * esbuild has no asset API: the plugin writes images into the outdir itself. With `write: false` they go
 * to `outputFiles` instead and nothing touches the disk; the metafile lists them; without an outdir the
 * build fails with a message that says what to set; `publicPath` falls back to esbuild's own, then '/'.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import * as esbuild from 'esbuild'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveOptions } from '../../src/core/options.js'
import aiImage from '../../src/esbuild.js'
import { makeProject, spec, type TempProject } from '../helpers/project.js'

const projects: TempProject[] = []
afterAll(() => Promise.all(projects.map((p) => p.remove())))

async function project(): Promise<TempProject> {
  const created = await makeProject({
    'src/main.js': "import hero from './hero.imgprompt.json'\nexport const result = hero\n",
    'src/hero.imgprompt.json': spec({ prompt: 'a kite', model: 'gpt-image-2', size: '1280x1024' }),
  })
  projects.push(created)
  return created
}

const base = (root: string): esbuild.BuildOptions => ({
  absWorkingDir: root,
  entryPoints: ['src/main.js'],
  bundle: true,
  format: 'esm',
  logLevel: 'silent',
})

describe('esbuild output', () => {
  it('puts images in outputFiles with write: false, lists them in the metafile and writes nothing', async () => {
    const { root } = await project()
    const result = await esbuild.build({ ...base(root), outdir: 'out', write: false, metafile: true, plugins: [aiImage({ provider: 'placeholder' })] })
    const image = result.outputFiles.find((f) => f.path.endsWith('.png'))!
    expect(path.relative(root, image.path)).toMatch(/^out[/\\]assets[/\\]hero-[0-9a-f]{8}\.png$/)
    expect((await sharp(image.contents).metadata()).width).toBe(1280)
    expect(image.hash).toMatch(/^[0-9a-f]{8}$/)
    const js = result.outputFiles.find((f) => f.path.endsWith('main.js'))!.text
    expect(js).toContain(`"/assets/${path.basename(image.path)}"`)
    expect(result.metafile.outputs[`out/assets/${path.basename(image.path)}`]?.bytes).toBe(image.contents.length)
    expect(existsSync(path.join(root, 'out'))).toBe(false)
  })

  it("uses esbuild's publicPath when the plugin has none, and the plugin's over it", async () => {
    const { root } = await project()
    const build = async (pluginPublicPath: string | undefined) => {
      const result = await esbuild.build({
        ...base(root),
        outdir: 'out',
        write: false,
        publicPath: 'https://static.example.com/app/',
        plugins: [aiImage({ provider: 'placeholder', ...(pluginPublicPath === undefined ? {} : { publicPath: pluginPublicPath }) })],
      })
      return result.outputFiles.find((f) => f.path.endsWith('main.js'))!.text
    }
    expect(await build(undefined)).toMatch(/"https:\/\/static\.example\.com\/app\/assets\/hero-[0-9a-f]{8}\.png"/)
    expect(await build('')).toMatch(/"assets\/hero-[0-9a-f]{8}\.png"/)
  })

  it('rejects a publicPath that is not a string, naming the option', () => {
    expect(() => resolveOptions({ publicPath: 42 as unknown as string }, { env: {} })).toThrow(/SPEC_INVALID.*option "publicPath" must be a string/)
  })

  it('fails without an outdir, saying what to set', async () => {
    const { root } = await project()
    const failure = await esbuild.build({ ...base(root), write: false, plugins: [aiImage({ provider: 'placeholder' })] }).catch((e: esbuild.BuildFailure) => e)
    expect(failure).toBeInstanceOf(Error)
    const text = (failure as esbuild.BuildFailure).errors.map((e) => e.text).join('\n')
    expect(text).toContain('SPEC_INVALID')
    expect(text).toContain('`outdir`')
  })
})
