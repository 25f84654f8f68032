/**
 * The sharp pipeline: one cached image + a recipe → the emitted image, its resized variants and its
 * placeholder. Runs only when the derived cache has no entry (a warm build never gets here).
 *
 * - PNG is optimized losslessly: maximum zlib with adaptive filtering, and an exact palette when the
 *   image has at most 256 colours (checked pixel for pixel); the smallest wins, the original included.
 *   With `quality`, the user opts into lossy palette quantization (libimagequant).
 * - JPEG, WebP and AVIF use sharp's encoders (JPEG through mozjpeg) at `quality`, else sharp's default.
 * - A transparent image emitted as JPEG is flattened onto `background`, and the caller is told.
 * - Widths at or above the image's own width are never produced: the image is not upscaled.
 */
import type { Sharp } from 'sharp'
import sharp from 'sharp'
import { specInvalid } from '../errors.js'
import { sniffFormat, type ImageFormat } from '../image-format.js'
import { renderPlaceholder } from './placeholder.js'
import type { Derivation, EncodedImage } from '../cache/derived.js'
import type { EmitRecipe } from './recipe.js'

export type { Derivation, EncodedImage } from '../cache/derived.js'

export async function deriveImage(source: Buffer, recipe: EmitRecipe, label: string): Promise<Derivation> {
  checkBackground(recipe.background, label)
  const meta = await sharp(source).metadata()
  const hasAlpha = meta.hasAlpha ?? false
  const sourceWidth = meta.width

  let base = sharp(source)
  let flattened = false
  const flatten = recipe.format === 'jpeg' && hasAlpha
  if (flatten) {
    // An alpha channel that is fully opaque changes nothing when flattened: no warning for it.
    flattened = !(await sharp(source).stats()).isOpaque
    base = base.flatten({ background: recipe.background })
  }

  // The source competes with the re-encoded image when it already is in the asked format, untouched.
  const sourceQualifies = !flatten && recipe.format === sniffFormat(source)
  let main: EncodedImage | undefined
  if (!(sourceQualifies && recipe.format !== 'png' && recipe.quality === undefined)) {
    const encoded = await encode(base, recipe.format, recipe.quality)
    main = sourceQualifies && source.length <= encoded.data.length ? undefined : encoded
  }

  const variants: EncodedImage[] = []
  for (const width of recipe.widths) {
    if (width >= sourceWidth) continue
    variants.push(await encode(base.clone().resize({ width }), recipe.format, recipe.quality))
  }

  const placeholder = recipe.placeholder === 'none' ? undefined : await renderPlaceholder(recipe.placeholder, base)
  return { main, variants, placeholder, flattened }
}

/** An unparseable colour fails on every derivation, not only when a transparent JPEG happens to use it. */
function checkBackground(background: string, label: string): void {
  try {
    sharp({ create: { width: 1, height: 1, channels: 3, background } })
  } catch {
    throw specInvalid(
      label,
      'emit.background',
      `${JSON.stringify(background)} is not a colour`,
      "Use a CSS colour such as '#ffffff', '#000', 'rgb(20, 20, 20)' or 'white'",
    )
  }
}

export async function encode(image: Sharp, format: ImageFormat, quality: number | undefined): Promise<EncodedImage> {
  if (format === 'png') return encodePng(image, quality)
  const q = quality === undefined ? {} : { quality }
  const pipeline =
    format === 'jpeg'
      ? image.clone().jpeg({ ...q, mozjpeg: true })
      : format === 'webp'
        ? image.clone().webp(q)
        : image.clone().avif(q)
  return finish(pipeline, format)
}

async function encodePng(image: Sharp, quality: number | undefined): Promise<EncodedImage> {
  // One after the other, not in parallel: a job holds one slot of the limiter (`limit.ts`).
  let best = await finish(image.clone().png({ compressionLevel: 9, adaptiveFiltering: true }), 'png')
  const palette =
    quality === undefined
      ? await exactPalettePng(image)
      : await finish(image.clone().png({ palette: true, quality, compressionLevel: 9, adaptiveFiltering: true }), 'png')
  if (palette && palette.data.length < best.data.length) best = palette
  return best
}

/** Largest palette a PNG can hold. */
const PALETTE_SIZE = 256

/**
 * A palette PNG of an image with at most 256 distinct colours, or undefined. libimagequant is not
 * guaranteed exact even then, so the result is decoded and compared with the original pixels: a palette
 * that changed any pixel is thrown away.
 */
async function exactPalettePng(image: Sharp): Promise<EncodedImage | undefined> {
  const pixels = await image.clone().ensureAlpha().raw({ depth: 'uchar' }).toBuffer()
  const colours = countColours(pixels, PALETTE_SIZE)
  if (colours > PALETTE_SIZE) return undefined
  const encoded = await finish(image.clone().png({ palette: true, colours: Math.max(2, colours), dither: 0, compressionLevel: 9 }), 'png')
  const decoded = await sharp(encoded.data).ensureAlpha().raw({ depth: 'uchar' }).toBuffer()
  return decoded.equals(pixels) ? encoded : undefined
}

/** Distinct RGBA values, counting stops at `limit + 1`. */
function countColours(rgba: Buffer, limit: number): number {
  // Uint32Array needs 4-byte alignment; sharp's large outputs have it, a pooled small buffer may not.
  const aligned = rgba.byteOffset % 4 === 0 ? rgba : Buffer.from(rgba)
  const pixels = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2)
  const seen = new Set<number>()
  for (let i = 0; i < pixels.length; i++) {
    seen.add(pixels[i]!)
    if (seen.size > limit) break
  }
  return seen.size
}

async function finish(pipeline: Sharp, format: ImageFormat): Promise<EncodedImage> {
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, format }
}
