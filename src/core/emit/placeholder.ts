/**
 * Tiny inline previews for lazy loading, as data URLs that work as `<img src>` and as a CSS background:
 *
 * - `blur`: the image shrunk to at most 16 px on its long side, as WebP (about 100-300 bytes). The browser's
 *   smooth upscaling of so few pixels is the blur.
 * - `thumbhash`: the image's ThumbHash (evanw's `thumbhash`: colours, alpha and the rough layout in ~25
 *   bytes), rendered back to its ~32 px picture and stored as a compressed PNG.
 */
import type { Sharp } from 'sharp'
import sharp from 'sharp'
import { rgbaToThumbHash, thumbHashToRGBA } from 'thumbhash'
import type { PlaceholderKind } from '../../types.js'

/** Long side of the `blur` placeholder. */
export const BLUR_SIZE = 16
/** ThumbHash encodes images of at most 100x100 pixels. */
const THUMBHASH_INPUT = 100

/** `image` is the pipeline the emitted image came from (already flattened for JPEG, so the preview matches). */
export async function renderPlaceholder(kind: Exclude<PlaceholderKind, 'none'>, image: Sharp): Promise<string> {
  return kind === 'blur' ? blurPlaceholder(image) : thumbhashPlaceholder(image)
}

async function blurPlaceholder(image: Sharp): Promise<string> {
  const data = await image
    .clone()
    .resize(BLUR_SIZE, BLUR_SIZE, { fit: 'inside' })
    .webp({ quality: 60, alphaQuality: 60, smartSubsample: true })
    .toBuffer()
  return dataUrl('image/webp', data)
}

async function thumbhashPlaceholder(image: Sharp): Promise<string> {
  const { data, info } = await image
    .clone()
    .resize(THUMBHASH_INPUT, THUMBHASH_INPUT, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  const hash = rgbaToThumbHash(info.width, info.height, data)
  const rendered = thumbHashToRGBA(hash)
  let png = sharp(Buffer.from(rendered.rgba.buffer, rendered.rgba.byteOffset, rendered.rgba.byteLength), {
    raw: { width: rendered.w, height: rendered.h, channels: 4 },
  })
  // An opaque preview needs no alpha channel: a quarter less to inline.
  if (isOpaque(rendered.rgba)) png = png.removeAlpha()
  return dataUrl('image/png', await png.png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer())
}

function isOpaque(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false
  return true
}

function dataUrl(mime: string, data: Buffer): string {
  return `data:${mime};base64,${data.toString('base64')}`
}
