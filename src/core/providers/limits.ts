/**
 * The largest legitimate answer to a request, so nothing a server sends can grow memory without bound
 * (DESIGN.md "Trust boundaries": the API server is untrusted). From the request alone: `n`, the size asked
 * (for `auto` the model's largest size; for a model the table does not know, `IMAGE_LIMITS`), the output
 * format, base64's expansion and a margin for the JSON around the images.
 */
import { IMAGE_LIMITS, withinPixelLimits } from '../image-format.js'
import { modelCapabilities, parseSize } from '../spec/models.js'
import type { ProviderRequest } from './types.js'

/** The dimensions an image may have: at most `maxLong` x `maxShort` (either way round), `maxPixels` in all. */
export interface PixelBound {
  maxLong: number
  maxShort: number
  maxPixels: number
  /** For messages: `1536x1024`, or the rule. */
  text: string
}

export interface AnswerLimits {
  pixels: PixelBound
  /** One image file as the server sends it (the `url` download). */
  imageBytes: number
  /** One SSE event, or the bytes buffered without an event boundary: one image in base64 and its JSON. */
  eventBytes: number
  /** A JSON answer: `n` images in base64 and their JSON. */
  answerBytes: number
  /** A whole streamed answer: `n` completed images and their partial previews. */
  streamBytes: number
  /** An error answer; past it the body is cut (the status still decides the error). */
  errorBytes: number
}

/** Bytes per pixel no encoding of ours exceeds (8-bit RGBA PNG or lossless WebP stored raw; JPEG is RGB). */
const BYTES_PER_PIXEL: Readonly<Record<string, number>> = { png: 4, webp: 4, jpeg: 3 }
/** Chunk, filter and block overhead of an image stored uncompressed. */
const ENCODING_OVERHEAD = 1.02
/** Metadata an image may carry besides its pixels (C2PA content credentials, XMP, ICC profiles). */
const METADATA_BYTES = 1024 * 1024
/** JSON around one image (revised prompt, content-filter results), and around the whole answer. */
const JSON_PER_IMAGE = 64 * 1024
const JSON_PER_ANSWER = 64 * 1024
export const ERROR_BODY_BYTES = 64 * 1024

/** The bound of the pixels of an image answered for `size` by `model`. */
export function pixelBound(model: string, size: unknown): PixelBound {
  const capabilities = modelCapabilities(model)
  if (!capabilities) {
    return { maxLong: IMAGE_LIMITS.maxSide, maxShort: IMAGE_LIMITS.maxSide, maxPixels: IMAGE_LIMITS.maxPixels, text: `${IMAGE_LIMITS.maxPixels} pixels and ${IMAGE_LIMITS.maxSide} per side (the limit for models the plugin does not know)` }
  }
  const asked = typeof size === 'string' ? parseSize(size) : undefined
  if (asked) return fromSizes([asked])
  const rule = capabilities.sizes
  if (rule.kind === 'flexible') return { maxLong: rule.maxLong, maxShort: rule.maxShort, maxPixels: rule.maxLong * rule.maxShort, text: `${rule.maxLong}x${rule.maxShort}` }
  return fromSizes(rule.values.map((value) => parseSize(value)).filter((s): s is { width: number; height: number } => s !== undefined))
}

function fromSizes(sizes: ReadonlyArray<{ width: number; height: number }>): PixelBound {
  let largest = sizes[0] ?? { width: IMAGE_LIMITS.maxSide, height: IMAGE_LIMITS.maxSide }
  for (const size of sizes) if (size.width * size.height > largest.width * largest.height) largest = size
  return {
    maxLong: Math.max(...sizes.map((s) => Math.max(s.width, s.height))),
    maxShort: Math.max(...sizes.map((s) => Math.min(s.width, s.height))),
    maxPixels: Math.max(...sizes.map((s) => s.width * s.height)),
    text: `${largest.width}x${largest.height}`,
  }
}

/** Whether an image of `width` x `height` fits the bound (and `IMAGE_LIMITS`, whatever the bound says). */
export function withinBound(width: number, height: number, bound: PixelBound): boolean {
  const long = Math.max(width, height)
  const short = Math.min(width, height)
  return long <= bound.maxLong && short <= bound.maxShort && width * height <= bound.maxPixels && withinPixelLimits(width, height, Math.max(bound.maxPixels, 1))
}

const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4

/** Limits for a request with these body fields (`model`, `size`, `n`, `output_format`) and previews. */
export function answerLimits(params: Readonly<Record<string, string | number>>, partialImages = 0): AnswerLimits {
  const pixels = pixelBound(String(params.model ?? ''), params.size)
  const format = typeof params.output_format === 'string' ? params.output_format : 'png'
  const perPixel = BYTES_PER_PIXEL[format] ?? 4
  // Never more than a cache read accepts: an image stored past that would be a miss (and paid for) every build.
  const imageBytes = Math.min(IMAGE_LIMITS.maxBytes, Math.ceil(pixels.maxPixels * perPixel * ENCODING_OVERHEAD) + METADATA_BYTES)
  const n = Math.max(1, Number(params.n ?? 1) || 1)
  // Servers may wrap base64 in lines (76 characters and a newline).
  const eventBytes = Math.ceil(base64Length(imageBytes) * (77 / 76)) + JSON_PER_IMAGE
  return {
    pixels,
    imageBytes,
    eventBytes,
    answerBytes: n * eventBytes + JSON_PER_ANSWER,
    streamBytes: n * (1 + Math.max(0, partialImages)) * eventBytes + JSON_PER_ANSWER,
    errorBytes: ERROR_BODY_BYTES,
  }
}

/** Bytes for messages: `7.1 MiB`. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`
}

/** The limits of one provider request (its `n` for this call, its previews). */
export function limitsFor(request: Pick<ProviderRequest, 'params' | 'stream'>): AnswerLimits {
  return answerLimits(request.params, request.stream?.partialImages ?? 0)
}
