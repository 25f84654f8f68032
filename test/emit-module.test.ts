/**
 * Image modules through the service, against the emulator: the exports of DESIGN.md for converted,
 * resized and placeholder images; a hit exports what a miss exported; a warm build never calls sharp;
 * derived files are rebuilt when deleted or corrupt; image jobs run with bounded parallelism.
 */
import { readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { describe, expect, it, vi } from 'vitest'
import type { EmittedAsset } from '../src/core/emit/image-module.js'
import { sharpJobSlots } from '../src/core/emit/limit.js'
import type * as Optimize from '../src/core/emit/pipeline.js'
import type { LogSink } from '../src/core/log.js'
import { ImageService } from '../src/core/service.js'
import { emulatorSuite, png } from './helpers/suite.js'
import { spec } from './helpers/project.js'

/** Every `sharp(…)` call anywhere in the plugin (the warm path must make none). */
const sharpCalls = vi.hoisted(() => ({ count: 0 }))
vi.mock('sharp', async (importOriginal) => (await import('./helpers/sharp-spy.js')).countedSharp(importOriginal, sharpCalls))

/** Image jobs in flight, to check the bound. */
const jobs = vi.hoisted(() => ({ active: 0, peak: 0, total: 0 }))
vi.mock('../src/core/emit/pipeline.js', async (importOriginal) => {
  const actual = await importOriginal<typeof Optimize>()
  return {
    ...actual,
    deriveImage: async (...args: Parameters<typeof actual.deriveImage>) => {
      jobs.active++
      jobs.total++
      jobs.peak = Math.max(jobs.peak, jobs.active)
      try {
        return await actual.deriveImage(...args)
      } finally {
        jobs.active--
      }
    },
  }
})

const suite = emulatorSuite()
const project = (files: Record<string, string>) => suite.project(files)

interface Built {
  code: string
  assets: EmittedAsset[]
  exports: Record<string, unknown>
  service: ImageService
  warnings: string[]
}

let modules = 0
/** One import of a spec file, as the bundler plugin does it (through the front door), with a sink that records every file. */
async function load(root: string, file: string): Promise<Built> {
  const warnings: string[] = []
  const sink: LogSink = { info: () => {}, warn: (m) => void warnings.push(m), error: () => {} }
  const service = new ImageService({ provider: 'openai', frozen: false }, { root, env: suite.emulator.openaiEnv(), sink })
  const assets: EmittedAsset[] = []
  const { code } = await service.load(
    { kind: 'file', file: path.join(root, file) },
    {
      sink: (asset) => {
        assets.push(asset)
        return JSON.stringify(`/assets/${asset.name}`)
      },
    },
  )
  const moduleFile = path.join(root, `module-${modules++}.mjs`)
  await writeFile(moduleFile, code)
  const exports = { ...((await import(pathToFileURL(moduleFile).href)) as Record<string, unknown>) }
  return { code, assets, exports, service, warnings }
}

const HERO = { prompt: 'a lighthouse at dusk', model: 'gpt-image-2', size: '1024x1024' }

describe('module exports', () => {
  it('webp, widths and a blur placeholder: default, width, height, srcset with w descriptors, placeholder', async () => {
    const p = await project({
      'src/hero.imgprompt.json': spec({ ...HERO, emit: { format: 'webp', widths: [128, 64, 2048], placeholder: 'blur' } }),
    })
    const { exports, assets } = await load(p.root, 'src/hero.imgprompt.json')

    expect(exports.default).toBe('/assets/hero.webp')
    expect([exports.width, exports.height]).toEqual([1024, 1024])
    // 2048 is above the image's 1024: served by the full-size image, not upscaled.
    expect(exports.srcset).toBe('/assets/hero-64w.webp 64w, /assets/hero-128w.webp 128w, /assets/hero.webp 1024w')
    expect(exports.images).toEqual([{ src: '/assets/hero.webp', width: 1024, height: 1024 }])
    expect(exports.placeholder).toMatch(/^data:image\/webp;base64,/)

    expect(assets.map((a) => a.name)).toEqual(['hero.webp', 'hero-64w.webp', 'hero-128w.webp'])
    for (const asset of assets) {
      const meta = await sharp(asset.data).metadata()
      expect(meta.format).toBe('webp')
      expect(asset.mime).toBe('image/webp')
      expect(`${meta.width}w`).toBe(asset.name === 'hero.webp' ? '1024w' : /-(\d+w)\./.exec(asset.name)![1])
    }
  })

  it('candidates are all converted; widths and the placeholder belong to the picked one', async () => {
    const p = await project({
      'src/pears.imgprompt.json': spec({ ...HERO, n: 2, pick: 1, emit: { format: 'jpeg', quality: 70, widths: [100], placeholder: 'thumbhash' } }),
    })
    const { exports, assets } = await load(p.root, 'src/pears.imgprompt.json')
    expect(assets.map((a) => a.name)).toEqual(['pears-0.jpg', 'pears-1.jpg', 'pears-1-100w.jpg'])
    expect(exports.default).toBe('/assets/pears-1.jpg')
    expect(exports.srcset).toBe('/assets/pears-1-100w.jpg 100w')
    expect(exports.placeholder).toMatch(/^data:image\/png;base64,/)
    for (const asset of assets) expect(asset.data.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true)
  })

  it('without emit options: the cached PNG, optimized losslessly, no srcset, no placeholder', async () => {
    const p = await project({ 'src/plain.imgprompt.json': spec(HERO) })
    const { exports, assets } = await load(p.root, 'src/plain.imgprompt.json')
    expect(exports.srcset).toBe('')
    expect(exports.placeholder).toBeUndefined()
    expect(assets.map((a) => [a.name, a.mime])).toEqual([['plain.png', 'image/png']])
    // The emulator's PNG is a flat colour written with zlib level 1: the optimizer makes it much smaller.
    const cached = (await p.list('.ai-image')).find((f) => f.endsWith('.png'))!
    const original = await p.read(`.ai-image/${cached}`)
    expect(assets[0]!.data.length).toBeLessThan(original.length)
    const pixels = (data: Buffer) => sharp(data).ensureAlpha().raw().toBuffer()
    expect((await pixels(assets[0]!.data)).equals(await pixels(original))).toBe(true)
  })
})

describe('hit and miss, warm and cold', () => {
  it('a hit exports exactly what the miss exported; a warm build runs no sharp; derived files are rebuilt when deleted or corrupt', async () => {
    const p = await project({
      'src/hero.imgprompt.json': spec({ ...HERO, emit: { format: 'avif', widths: [96, 160], placeholder: 'thumbhash' } }),
    })
    const files = (built: Built) => built.assets.map((a) => ({ name: a.name, mime: a.mime, variant: a.variant, data: a.data.toString('base64') }))

    const miss = await load(p.root, 'src/hero.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(miss.service.activity().emit).toMatchObject({ derived: 1, reused: 0 })
    const derivedDir = path.join(p.root, 'node_modules/.cache/unplugin-ai-image')
    expect((await readdir(derivedDir, { recursive: true })).filter((f) => f.endsWith('.avif'))).toHaveLength(3)

    sharpCalls.count = 0
    const hit = await load(p.root, 'src/hero.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(sharpCalls.count).toBe(0)
    expect(hit.service.activity().emit).toMatchObject({ derived: 0, reused: 1 })
    expect(hit.code).toBe(miss.code)
    expect(hit.exports).toEqual(miss.exports)
    expect(files(hit)).toEqual(files(miss))

    // Deleted: rebuilt, same exports and bytes.
    await rm(derivedDir, { recursive: true })
    const rebuilt = await load(p.root, 'src/hero.imgprompt.json')
    expect(sharpCalls.count).toBeGreaterThan(0)
    expect(rebuilt.service.activity().emit).toMatchObject({ derived: 1, reused: 0 })
    expect(rebuilt.exports).toEqual(miss.exports)
    expect(files(rebuilt)).toEqual(files(miss))

    // Corrupt (one byte flipped in a variant): a miss, rebuilt and repaired.
    const variantFile = (await readdir(derivedDir, { recursive: true })).find((f) => f.endsWith('-96w.avif'))!
    const target = path.join(derivedDir, variantFile)
    const bytes = Buffer.from(await p.read(path.relative(p.root, target)))
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await writeFile(target, bytes)
    const repaired = await load(p.root, 'src/hero.imgprompt.json')
    expect(repaired.service.activity().emit).toMatchObject({ derived: 1, reused: 0 })
    expect(files(repaired)).toEqual(files(miss))
    sharpCalls.count = 0
    const warmAgain = await load(p.root, 'src/hero.imgprompt.json')
    expect(warmAgain.service.activity().emit).toMatchObject({ derived: 0, reused: 1 })
    expect(sharpCalls.count).toBe(0)
    // Nothing half-written is left behind.
    expect((await readdir(derivedDir, { recursive: true })).filter((f) => f.includes('.tmp-'))).toEqual([])
  })

  it('a warm build of an edit never decodes its inputs: the model checks run on the miss only', async () => {
    const p = await project({ 'src/edit.imgprompt.json': spec({ prompt: 'add a hat', model: 'gpt-image-2', size: '1024x1024', image: './in.png', mask: './mask.png' }) })
    await p.write('src/in.png', await png(64, 64, [200, 40, 40]))
    await p.write('src/mask.png', await png(64, 64, [0, 0, 0], 0))
    await load(p.root, 'src/edit.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
    sharpCalls.count = 0
    await load(p.root, 'src/edit.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(sharpCalls.count).toBe(0)
  })

  it('a transparent image emitted as JPEG is flattened onto emit.background and warns, on the miss and on the hit', async () => {
    const p = await project({
      'src/badge.imgprompt.json': spec({ ...HERO, background: 'transparent', emit: { format: 'jpeg', background: '#102030' } }),
    })
    const miss = await load(p.root, 'src/badge.imgprompt.json')
    const hit = await load(p.root, 'src/badge.imgprompt.json')
    for (const built of [miss, hit]) {
      expect(built.warnings.join('\n')).toMatch(/badge\.imgprompt\.json: the image has transparent pixels and emit\.format is jpeg.*flattened onto #102030/)
    }
    expect(hit.service.activity().emit.reused).toBe(1)
    expect((await sharp(miss.assets[0]!.data).metadata()).hasAlpha).toBe(false)
  })
})

describe('the warm path', () => {
  const sinkInto = (assets: EmittedAsset[]) => (asset: EmittedAsset) => {
    assets.push(asset)
    return JSON.stringify(`/assets/${asset.name}`)
  }
  /** A load's code when the warm path answered it (undefined when another path had to), and what the load read. */
  async function warm(root: string, file: string) {
    const service = new ImageService({ provider: 'openai', frozen: true }, { root, env: {} })
    const assets: EmittedAsset[] = []
    const loaded = await service.load({ kind: 'file', file: path.join(root, file) }, { sink: sinkInto(assets) })
    return { code: loaded.path === 'warm' ? loaded.code : undefined, assets, service, inspected: service.activity().cache.verifiedReads }
  }

  it('makes the same module from the sidecar and the derived cache, without reading the committed image or running sharp', async () => {
    const p = await project({ 'src/hero.imgprompt.json': spec({ ...HERO, n: 2, emit: { format: 'webp', widths: [100], placeholder: 'thumbhash' } }) })
    expect((await warm(p.root, 'src/hero.imgprompt.json')).code).toBeUndefined() // nothing cached yet
    const full = await load(p.root, 'src/hero.imgprompt.json')

    sharpCalls.count = 0
    const fast = await warm(p.root, 'src/hero.imgprompt.json')
    expect(fast.code).toBe(full.code)
    expect(fast.assets.map((a) => [a.name, a.data.toString('base64')])).toEqual(full.assets.map((a) => [a.name, a.data.toString('base64')]))
    expect(fast.inspected).toBe(0)
    expect(sharpCalls.count).toBe(0)
    expect(fast.service.summary().hits).toBe(1)

    // A committed image changed in any way (here: one byte, same size) is not trusted: the full path reads
    // and verifies it (a mismatch is a miss, regenerated); once verified again, the warm path is back.
    const committed = (await p.list('.ai-image')).find((f) => f.endsWith('-1.png'))!
    const bytes = await p.read(`.ai-image/${committed}`)
    const flipped = Buffer.from(bytes)
    flipped[flipped.length - 20] = flipped[flipped.length - 20]! ^ 0xff
    await p.write(`.ai-image/${committed}`, flipped)
    expect((await warm(p.root, 'src/hero.imgprompt.json')).code).toBeUndefined()
    await p.write(`.ai-image/${committed}`, bytes)
    expect((await warm(p.root, 'src/hero.imgprompt.json')).code).toBeUndefined() // rewritten: a new stamp
    expect((await load(p.root, 'src/hero.imgprompt.json')).code).toBe(full.code)
    expect((await warm(p.root, 'src/hero.imgprompt.json')).code).toBe(full.code)

    // A derived file gone: the full path is needed (and makes it again).
    await rm(path.join(p.root, 'node_modules/.cache/unplugin-ai-image'), { recursive: true })
    expect((await warm(p.root, 'src/hero.imgprompt.json')).code).toBeUndefined()
  })

  it('leaves images emitted byte for byte as generated to the full path, which reads and verifies them', async () => {
    const p = await project({ 'src/photo.imgprompt.json': spec({ ...HERO, output_format: 'jpeg' }) })
    const full = await load(p.root, 'src/photo.imgprompt.json')
    expect(full.assets[0]!.variant).toBeUndefined()
    expect((await warm(p.root, 'src/photo.imgprompt.json')).code).toBeUndefined()
  })
})

describe('bounded parallelism', () => {
  it('runs at most cores / sharp threads image jobs at once, whatever the number of images', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `img${i}`)
    const p = await project(
      Object.fromEntries(names.map((n) => [`src/${n}.imgprompt.json`, spec({ ...HERO, prompt: `picture ${n}`, emit: { format: 'webp', widths: [64, 128] } })])),
    )
    const service = new ImageService({ provider: 'openai', frozen: false }, { root: p.root, env: suite.emulator.openaiEnv() })
    jobs.peak = 0
    jobs.total = 0
    await Promise.all(names.map((n) => service.load({ kind: 'file', file: path.join(p.root, `src/${n}.imgprompt.json`) }, { sink: () => '""' })))
    expect(jobs.total).toBe(6)
    expect(jobs.peak).toBeGreaterThanOrEqual(1)
    const slots = sharpJobSlots(os.availableParallelism(), sharp.concurrency())
    expect(jobs.peak).toBeLessThanOrEqual(slots)
    expect(slots).toBeLessThan(6)
  })

  it('sizes the bound from the cores and the threads sharp gives each job', () => {
    expect(sharpJobSlots(2, 1)).toBe(2)
    expect(sharpJobSlots(2, 2)).toBe(1)
    expect(sharpJobSlots(8, 2)).toBe(4)
    expect(sharpJobSlots(1, 4)).toBe(1)
  })
})
