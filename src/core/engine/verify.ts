/**
 * Checks on image bytes before they are trusted: the magic bytes of the format, and the dimensions from
 * the header (sharp reads only the header here, no decode of pixels).
 */
import { badResponse } from '../providers/decode.js'
import { parseSize } from '../spec/models.js'
import { MIME_OF, sniffFormat, type ImageFormat } from '../image-format.js'

export interface ImageFacts {
  format: ImageFormat
  mime: string
  width: number
  height: number
  hasAlpha: boolean
}

/** sharp, loaded on first use: a warm build never checks an image, and so never loads it. */
const loadSharp = () => import('sharp').then((module) => module.default)

/** Header facts of an image, or undefined when sharp cannot read it. */
export async function readImageFacts(data: Buffer): Promise<ImageFacts | undefined> {
  const format = sniffFormat(data)
  if (!format) return undefined
  try {
    const sharp = await loadSharp()
    const meta = await sharp(data).metadata()
    if (!meta.width || !meta.height) return undefined
    return { format, mime: MIME_OF[format], width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha ?? false }
  } catch {
    return undefined
  }
}

/**
 * An image from the API must be the asked format, readable, and the asked size (unless `auto`).
 * Anything else is BAD_RESPONSE: retried, never cached.
 */
export async function checkGeneratedImage(
  data: Buffer,
  expected: { format: ImageFormat; size: string | undefined },
  label: string,
  requestId?: string,
): Promise<ImageFacts> {
  const facts = await readImageFacts(data)
  if (!facts) throw badResponse(label, `an image is not a readable ${expected.format} (${data.length} bytes)`, requestId)
  if (facts.format !== expected.format) {
    throw badResponse(label, `an image is ${facts.format}, but ${expected.format} was asked for`, requestId)
  }
  const size = expected.size ? parseSize(expected.size) : undefined
  if (size && (facts.width !== size.width || facts.height !== size.height)) {
    throw badResponse(label, `an image is ${facts.width}x${facts.height}, but ${expected.size} was asked for`, requestId)
  }
  // A truncated file can still have a valid header: decode the pixels once to be sure.
  try {
    await (await loadSharp())(data).raw().toBuffer({ resolveWithObject: false })
  } catch {
    throw badResponse(label, `an image is truncated or corrupt (${data.length} bytes)`, requestId)
  }
  return facts
}
