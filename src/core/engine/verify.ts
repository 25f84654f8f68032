/**
 * Checks on image bytes before they are trusted: the magic bytes of the format, the dimensions from the
 * header (image-size: no decoder runs on an image larger than the size asked), then one decode of the pixels
 * by sharp, itself bounded by `limitInputPixels` so a header that lies cannot make it allocate more.
 */
import { badResponse } from '../providers/decode.js'
import { withinBound, type PixelBound } from '../providers/limits.js'
import { parseSize } from '../spec/models.js'
import { IMAGE_LIMITS, MIME_OF, readHeader, sniffFormat, type ImageFormat } from '../image-format.js'

export interface ImageFacts {
  format: ImageFormat
  mime: string
  width: number
  height: number
  hasAlpha: boolean
}

/** sharp, loaded on first use: a warm build never checks an image, and so never loads it. */
const loadSharp = () => import('sharp').then((module) => module.default)

/**
 * Header facts of an image, or undefined when sharp cannot read it. sharp reads only the header here;
 * `maxPixels` bounds what it would agree to decode.
 */
export async function readImageFacts(data: Buffer, maxPixels?: number): Promise<ImageFacts | undefined> {
  const format = sniffFormat(data)
  if (!format) return undefined
  try {
    const sharp = await loadSharp()
    const meta = await sharp(data, maxPixels === undefined ? {} : { limitInputPixels: maxPixels }).metadata()
    if (!meta.width || !meta.height) return undefined
    return { format, mime: MIME_OF[format], width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha ?? false }
  } catch {
    return undefined
  }
}

/**
 * An image from the API must be the asked format, readable, within `bound` (the size asked; the model's
 * largest for `auto`; `IMAGE_LIMITS` for models the table does not know), and exactly the asked size when
 * one is insisted on. Anything else is BAD_RESPONSE: retried, never cached.
 */
export async function checkGeneratedImage(
  data: Buffer,
  expected: { format: ImageFormat; size: string | undefined; bound: PixelBound },
  label: string,
  requestId?: string,
): Promise<ImageFacts> {
  if (data.length > IMAGE_LIMITS.maxBytes) {
    throw badResponse(label, `an image is ${data.length} bytes, more than any image the cache accepts (${IMAGE_LIMITS.maxBytes})`, requestId)
  }
  // The header alone first: a decompression bomb is refused by its declared size before any decoder sees it.
  const header = readHeader(data)
  if (!header) throw badResponse(label, `an image is not a readable ${expected.format} (${data.length} bytes)`, requestId)
  if (header.format !== expected.format) {
    throw badResponse(label, `an image is ${header.format}, but ${expected.format} was asked for`, requestId)
  }
  if (!withinBound(header.width, header.height, expected.bound)) {
    throw badResponse(label, `an image is ${header.width}x${header.height}, larger than this request allows (${expected.bound.text}); it was not decoded`, requestId)
  }
  const facts = await readImageFacts(data, expected.bound.maxPixels)
  if (!facts) throw badResponse(label, `an image is not a readable ${expected.format} (${data.length} bytes)`, requestId)
  const size = expected.size ? parseSize(expected.size) : undefined
  if (size && (facts.width !== size.width || facts.height !== size.height)) {
    throw badResponse(label, `an image is ${facts.width}x${facts.height}, but ${expected.size} was asked for`, requestId)
  }
  // A truncated file can still have a valid header: decode the pixels once to be sure.
  try {
    await (await loadSharp())(data, { limitInputPixels: expected.bound.maxPixels }).raw().toBuffer({ resolveWithObject: false })
  } catch {
    throw badResponse(label, `an image is truncated or corrupt (${data.length} bytes)`, requestId)
  }
  return facts
}
