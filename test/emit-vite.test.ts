/**
 * Emitted images in a real `vite build`: converted and resized files in `dist/`, a srcset whose `w`
 * descriptors match the files, a placeholder; a warm rebuild makes no request and no sharp call and
 * emits byte-identical files; warnings reach Vite's logger.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { describe, expect, it, vi } from 'vitest'
import { CacheStore } from '../src/core/cache/store.js'
import { emulatorSuite } from './helpers/suite.js'
import { withEnv } from './helpers/env.js'
import { spec, type TempProject } from './helpers/project.js'
import { viteBuild } from './helpers/vite.js'

const sharpCalls = vi.hoisted(() => ({ count: 0 }))
vi.mock('sharp', async (importOriginal) => (await import('./helpers/sharp-spy.js')).countedSharp(importOriginal, sharpCalls))

const suite = emulatorSuite()

/** A library build, so the test can import the built module and read its exports. */
const LIB = { build: { lib: { entry: 'src/main.js', formats: ['es' as const], fileName: 'main' }, assetsInlineLimit: 0 } }
const HERO = { prompt: 'a lighthouse at dusk', model: 'gpt-image-2', size: '1024x1024' }

async function build(p: TempProject) {
  return withEnv(suite.openaiEnv(), () => viteBuild(p.root, {}, LIB))
}

let imports = 0
async function builtExports(p: TempProject): Promise<Record<string, unknown>> {
  return { ...((await import(`${pathToFileURL(path.join(p.root, 'dist/main.mjs')).href}?n=${imports++}`)) as Record<string, unknown>) }
}

async function distSnapshot(p: TempProject): Promise<Record<string, string>> {
  const files = await p.list('dist')
  return Object.fromEntries(await Promise.all(files.map(async (f) => [f, (await p.read(`dist/${f}`)).toString('base64')] as const)))
}

describe('emitted images in a vite build', () => {
  it('widths + webp + placeholder: the files, a srcset with the right w descriptors; a warm rebuild runs no sharp', async () => {
    const p = await suite.project({
      'src/main.js': "export { default as src, srcset, placeholder, width, height } from './hero.imgprompt.json'\n",
      'src/hero.imgprompt.json': spec({ ...HERO, emit: { format: 'webp', widths: [64, 128], placeholder: 'blur' } }),
    })
    await build(p)
    const cold = await builtExports(p)
    const inDist = (url: string) => path.join(p.root, 'dist', url)
    const files = await p.list('dist')
    // Library mode names assets without a hash.
    expect(files.filter((f) => !f.endsWith('.mjs')).sort()).toEqual(['hero-128w.webp', 'hero-64w.webp', 'hero.webp'])

    expect([cold.width, cold.height]).toEqual([1024, 1024])
    const entries = String(cold.srcset).split(', ').map((entry) => entry.split(' '))
    expect(entries.map(([, w]) => w)).toEqual(['64w', '128w'])
    for (const [url, descriptor] of entries) {
      const meta = await sharp(inDist(url!)).metadata()
      expect(meta.format).toBe('webp')
      expect(`${meta.width}w`).toBe(descriptor)
    }
    expect((await sharp(inDist(String(cold.src))).metadata()).width).toBe(1024)
    const placeholder = String(cold.placeholder)
    expect(placeholder).toMatch(/^data:image\/webp;base64,/)
    const tiny = await sharp(Buffer.from(placeholder.split(',')[1]!, 'base64')).metadata()
    expect(Math.max(tiny.width!, tiny.height!)).toBeLessThanOrEqual(16)

    const before = await distSnapshot(p)
    suite.emulator.reset()
    sharpCalls.count = 0
    const inspect = vi.spyOn(CacheStore.prototype, 'inspect')
    await build(p)
    expect(suite.emulator.requests).toHaveLength(0)
    expect(sharpCalls.count).toBe(0)
    // The warm path: the committed image is not even read (its derived files are keyed by its SHA-256).
    expect(inspect).not.toHaveBeenCalled()
    inspect.mockRestore()
    expect(await distSnapshot(p)).toEqual(before)
    expect(await builtExports(p)).toEqual(cold)
  })

  it('warns through Vite’s logger when a transparent image is emitted as JPEG', async () => {
    const p = await suite.project({
      'src/main.js': "export { default as src } from './badge.imgprompt.json'\n",
      'src/badge.imgprompt.json': spec({ ...HERO, background: 'transparent', emit: { format: 'jpeg' } }),
    })
    const { logs } = await build(p)
    expect(logs.text()).toMatch(/warn .*badge\.imgprompt\.json: the image has transparent pixels .*flattened onto #ffffff/)
    expect(await p.list('dist')).toContain('badge.jpg')
  })
})
