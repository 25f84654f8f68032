/**
 * The sharp pipeline on its own: formats (magic bytes, dimensions), lossless PNG optimization, quality,
 * resized widths, flattening for JPEG, placeholders.
 */
import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { deriveImage, type Derivation } from '../src/core/emit/pipeline.js'
import { readPngChunks } from '../src/core/emit/png-chunks.js'
import type { EmitRecipe } from '../src/core/emit/recipe.js'

const WIDTH = 320
const HEIGHT = 200

/** A photo-like image: smooth colour fields plus grain, far more than 256 colours. */
async function photo(): Promise<Buffer> {
  const fields = await sharp({ create: { width: 20, height: 13, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer()
  const grain = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 4 } } })
    .png()
    .toBuffer()
  return sharp(fields)
    .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
    .composite([{ input: grain, blend: 'soft-light' }])
    .removeAlpha()
    .png({ compressionLevel: 1 })
    .toBuffer()
}

/** Four flat colours: fits a palette. Written without compression, as some tools do. */
async function flat(): Promise<Buffer> {
  const block = (r: number, g: number, b: number) =>
    sharp({ create: { width: WIDTH / 2, height: HEIGHT / 2, channels: 3, background: { r, g, b } } }).png().toBuffer()
  return sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#000' } })
    .composite([
      { input: await block(200, 30, 30), left: 0, top: 0 },
      { input: await block(30, 200, 30), left: WIDTH / 2, top: 0 },
      { input: await block(30, 30, 200), left: 0, top: HEIGHT / 2 },
      { input: await block(240, 240, 20), left: WIDTH / 2, top: HEIGHT / 2 },
    ])
    .removeAlpha()
    .png({ compressionLevel: 0 })
    .toBuffer()
}

/** Left half fully transparent, right half opaque blue. */
async function transparent(): Promise<Buffer> {
  const opaque = await sharp({ create: { width: WIDTH / 2, height: HEIGHT, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } })
    .png()
    .toBuffer()
  return sharp({ create: { width: WIDTH, height: HEIGHT, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: opaque, left: WIDTH / 2, top: 0 }])
    .png()
    .toBuffer()
}

const recipe = (fields: Partial<EmitRecipe> = {}): EmitRecipe => ({
  format: 'png',
  quality: undefined,
  widths: [],
  placeholder: 'none',
  background: '#ffffff',
  metadata: 'keep',
  ...fields,
})

const MAGIC = {
  png: (b: Buffer) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  jpeg: (b: Buffer) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  webp: (b: Buffer) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  avif: (b: Buffer) => b.toString('latin1', 4, 8) === 'ftyp' && b.toString('latin1', 8, 12) === 'avif',
}

/** Colour type byte of a PNG's IHDR: 2 = RGB, 6 = RGBA, 3 = palette. */
const pngColourType = (png: Buffer) => png[25]

const rgba = (data: Buffer) => sharp(data).ensureAlpha().raw().toBuffer()

function main(derivation: Derivation): Buffer {
  expect(derivation.main, 'a re-encoded image').toBeDefined()
  return derivation.main!.data
}

let photoPng: Buffer
let flatPng: Buffer
let transparentPng: Buffer
beforeAll(async () => {
  ;[photoPng, flatPng, transparentPng] = await Promise.all([photo(), flat(), transparent()])
})

describe('formats', () => {
  it.each(['png', 'jpeg', 'webp', 'avif'] as const)('%s: magic bytes and the source dimensions', async (format) => {
    const derivation = await deriveImage(photoPng, recipe({ format }), 'hero.imgprompt.json')
    const data = main(derivation)
    expect(MAGIC[format](data)).toBe(true)
    const meta = await sharp(data).metadata()
    expect([meta.width, meta.height]).toEqual([WIDTH, HEIGHT])
    expect([derivation.main!.width, derivation.main!.height, derivation.main!.format]).toEqual([WIDTH, HEIGHT, format])
  })

  it('quality changes the size of a lossy format', async () => {
    const low = main(await deriveImage(photoPng, recipe({ format: 'webp', quality: 20 }), 'x'))
    const high = main(await deriveImage(photoPng, recipe({ format: 'webp', quality: 95 }), 'x'))
    expect(low.length).toBeLessThan(high.length * 0.7)
  })

  it('keeps a JPEG or WebP as it is when neither the format nor the quality changes', async () => {
    const jpeg = await sharp(photoPng).jpeg({ quality: 90 }).toBuffer()
    expect((await deriveImage(jpeg, recipe({ format: 'jpeg' }), 'x')).main).toBeUndefined()
    // With a quality, it is re-encoded (and smaller).
    expect(main(await deriveImage(jpeg, recipe({ format: 'jpeg', quality: 40 }), 'x')).length).toBeLessThan(jpeg.length)
  })
})

describe('lossless PNG optimization', () => {
  it('re-compresses a photo without changing a pixel and without growing it', async () => {
    const out = main(await deriveImage(photoPng, recipe(), 'x'))
    expect(out.length).toBeLessThan(photoPng.length)
    expect((await rgba(out)).equals(await rgba(photoPng))).toBe(true)
  })

  it('uses a palette when the image has at most 256 colours, still pixel-exact', async () => {
    const out = main(await deriveImage(flatPng, recipe(), 'x'))
    expect(pngColourType(flatPng)).toBe(2)
    expect(pngColourType(out)).toBe(3)
    expect(out.length).toBeLessThan(flatPng.length / 10)
    expect((await rgba(out)).equals(await rgba(flatPng))).toBe(true)
  })

  it('keeps the original when re-encoding cannot make it smaller', async () => {
    const optimal = main(await deriveImage(flatPng, recipe(), 'x'))
    expect((await deriveImage(optimal, recipe(), 'x')).main).toBeUndefined()
  })

  it('marks an unmarked original that re-encoding cannot shrink, its image data byte for byte (none with metadata strip)', async () => {
    const optimal = main(await deriveImage(flatPng, recipe({ metadata: 'strip' }), 'x'))
    expect((await deriveImage(optimal, recipe({ metadata: 'strip' }), 'x')).main).toBeUndefined()
    const marked = main(await deriveImage(optimal, recipe(), 'x'))
    const idat = (png: Buffer) => Buffer.concat(readPngChunks(png)!.filter((c) => c.type === 'IDAT').map((c) => c.raw))
    expect(idat(marked).equals(idat(optimal))).toBe(true)
    expect(marked.length - optimal.length).toBeLessThan(600)
    expect((await sharp(marked).metadata()).xmp?.toString('utf8')).toContain('trainedAlgorithmicMedia')
  })

  it('with a quality, quantizes to a palette (lossy, smaller)', async () => {
    const lossless = main(await deriveImage(photoPng, recipe(), 'x'))
    const quantized = main(await deriveImage(photoPng, recipe({ quality: 60 }), 'x'))
    expect(pngColourType(quantized)).toBe(3)
    expect(quantized.length).toBeLessThan(lossless.length)
  })
})

describe('widths', () => {
  it('makes one variant per width below the image width, proportional and never upscaled', async () => {
    const derivation = await deriveImage(photoPng, recipe({ format: 'webp', widths: [80, 160, 320, 640] }), 'x')
    expect(derivation.variants.map((v) => [v.width, v.height])).toEqual([
      [80, 50],
      [160, 100],
    ])
    for (const variant of derivation.variants) {
      expect(MAGIC.webp(variant.data)).toBe(true)
      const meta = await sharp(variant.data).metadata()
      expect([meta.width, meta.height]).toEqual([variant.width, variant.height])
    }
  })
})

describe('transparency emitted as JPEG', () => {
  it('is flattened onto the background colour, and reported', async () => {
    const derivation = await deriveImage(transparentPng, recipe({ format: 'jpeg', background: '#ff0000' }), 'x')
    expect(derivation.flattened).toBe(true)
    const { data, info } = await sharp(main(derivation)).raw().toBuffer({ resolveWithObject: true })
    expect(info.channels).toBe(3)
    const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)]
    const near = (actual: number[], expected: number[]) => actual.every((v, i) => Math.abs(v - expected[i]!) <= 8)
    expect(near(at(10, 10), [255, 0, 0]), `left ${at(10, 10)}`).toBe(true)
    expect(near(at(WIDTH - 10, 10), [0, 0, 255]), `right ${at(WIDTH - 10, 10)}`).toBe(true)
  })

  it('is not reported when the alpha channel is fully opaque', async () => {
    const opaqueRgba = await sharp(photoPng).ensureAlpha().png().toBuffer()
    expect((await deriveImage(opaqueRgba, recipe({ format: 'jpeg' }), 'x')).flattened).toBe(false)
  })

  it('keeps the alpha channel in the formats that have one', async () => {
    for (const format of ['png', 'webp', 'avif'] as const) {
      const derivation = await deriveImage(transparentPng, recipe({ format }), 'x')
      expect(derivation.flattened).toBe(false)
      expect((await sharp(derivation.main?.data ?? transparentPng).metadata()).hasAlpha, format).toBe(true)
    }
  })

  it('rejects a background that is not a colour, naming the field', async () => {
    await expect(deriveImage(photoPng, recipe({ background: 'not-a-colour' }), 'src/hero.imgprompt.json')).rejects.toMatchObject({
      code: 'SPEC_INVALID',
      field: 'emit.background',
      file: 'src/hero.imgprompt.json',
    })
  })
})

describe('placeholders', () => {
  async function decodeDataUrl(url: string | undefined, mime: string) {
    expect(url).toMatch(new RegExp(`^data:${mime};base64,[A-Za-z0-9+/]+=*$`))
    const data = Buffer.from(url!.slice(url!.indexOf(',') + 1), 'base64')
    return { data, meta: await sharp(data).metadata() }
  }

  it('blur: a WebP of at most 16 px with the image aspect ratio, a few hundred bytes', async () => {
    const derivation = await deriveImage(photoPng, recipe({ placeholder: 'blur' }), 'x')
    const { data, meta } = await decodeDataUrl(derivation.placeholder, 'image/webp')
    expect(meta.format).toBe('webp')
    expect([meta.width, meta.height]).toEqual([16, 10])
    expect(data.length).toBeLessThan(600)
  })

  it('thumbhash: a PNG of at most 32 px rendered from the ThumbHash, alpha only when the image has it', async () => {
    const opaque = await decodeDataUrl((await deriveImage(photoPng, recipe({ placeholder: 'thumbhash' }), 'x')).placeholder, 'image/png')
    expect(opaque.meta.format).toBe('png')
    expect(Math.max(opaque.meta.width!, opaque.meta.height!)).toBeLessThanOrEqual(32)
    expect(opaque.meta.width! / opaque.meta.height!).toBeCloseTo(WIDTH / HEIGHT, 0)
    expect(opaque.meta.hasAlpha).toBe(false)
    expect(opaque.data.length).toBeLessThan(3000)

    const clear = await decodeDataUrl((await deriveImage(transparentPng, recipe({ placeholder: 'thumbhash' }), 'x')).placeholder, 'image/png')
    expect(clear.meta.hasAlpha).toBe(true)
  })

  it('is made from the flattened image when the format is JPEG', async () => {
    const derivation = await deriveImage(transparentPng, recipe({ format: 'jpeg', placeholder: 'blur', background: '#ff0000' }), 'x')
    const { data } = await decodeDataUrl(derivation.placeholder, 'image/webp')
    const { data: pixels, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true })
    expect(info.channels).toBe(3)
    expect(pixels[0]).toBeGreaterThan(200)
    expect(pixels[2]).toBeLessThan(60)
  })
})
