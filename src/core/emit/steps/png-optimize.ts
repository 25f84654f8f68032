/**
 * PNG, losslessly: maximum zlib with adaptive filtering, and an exact palette when the image has at most
 * 256 colours (checked pixel for pixel); the smaller wins. With `quality`, the user opts into lossy palette
 * quantization (libimagequant) instead.
 */
import type { Sharp } from 'sharp'
import sharp from 'sharp'
import type { EncodedImage } from '../../cache/derived.js'
import { finish } from './finish.js'

export async function optimizePng(image: Sharp, quality: number | undefined): Promise<EncodedImage> {
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
