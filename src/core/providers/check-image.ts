/**
 * An image from the API before it is trusted: the magic bytes of the asked format, the dimensions from the
 * header (no decoder runs on an image larger than the size asked), then one decode of the pixels by sharp,
 * itself bounded by `limitInputPixels` so a header that lies cannot make it allocate more.
 */
import { IMAGE_LIMITS, decodesWhole, readHeader, readImageFacts, type ImageFacts, type ImageFormat } from '../image-format.js'
import { parseSize } from '../spec/models.js'
import { badResponse } from './decode.js'
import { withinBound, type PixelBound } from './limits.js'

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
  if (!(await decodesWhole(data, expected.bound.maxPixels))) throw badResponse(label, `an image is truncated or corrupt (${data.length} bytes)`, requestId)
  return facts
}
