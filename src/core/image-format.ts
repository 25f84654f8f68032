/**
 * Image-format facts, on the ground floor: the four formats the plugin handles, their MIME types and file
 * extensions, how to tell them from their first bytes, their dimensions from the header alone (image-size's
 * reader of that one format, loaded on first use: no decode, no sharp, so a cache read can check an image
 * cheaply), and the facts only a decoder knows (sharp, loaded on first use). Also the bounds that no
 * legitimate image passes, used wherever image bytes arrive from outside (the API, a cache, a remote).
 */
import { createRequire } from 'node:module'

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif'

export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp', 'avif']

export const MIME_OF: Readonly<Record<ImageFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
}

const EXTENSION_OF: Readonly<Record<ImageFormat, string>> = { png: 'png', jpeg: 'jpg', webp: 'webp', avif: 'avif' }

/** The extension of every image file the cache writes (for a `.gitignore` that keeps them out of commits). */
export const IMAGE_EXTENSIONS: readonly string[] = IMAGE_FORMATS.map((format) => EXTENSION_OF[format])

const FORMAT_OF_MIME: Readonly<Record<string, ImageFormat>> = Object.fromEntries(
  IMAGE_FORMATS.map((format) => [MIME_OF[format], format]),
)

/** The format of a MIME type, or undefined when it is not one of ours. */
export function formatOfMime(mime: string): ImageFormat | undefined {
  return Object.prototype.hasOwnProperty.call(FORMAT_OF_MIME, mime) ? FORMAT_OF_MIME[mime] : undefined
}

/** File extension (no dot) of a MIME type; `bin` for anything that is not one of our formats. */
export function extensionOf(mime: string): string {
  const format = formatOfMime(mime)
  return format ? EXTENSION_OF[format] : 'bin'
}

/** Format from the first bytes; undefined when it is none of the image formats we handle. */
export function sniffFormat(data: Uint8Array): ImageFormat | undefined {
  if (data.length >= 8 && data[0] === 0x89 && data[1] === 0x50 && data[2] === 0x4e && data[3] === 0x47) return 'png'
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg'
  if (data.length >= 12 && ascii(data, 0, 4) === 'RIFF' && ascii(data, 8, 12) === 'WEBP') return 'webp'
  if (data.length >= 12 && ascii(data, 4, 8) === 'ftyp' && /^(avif|avis)$/.test(ascii(data, 8, 12))) return 'avif'
  return undefined
}

function ascii(data: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...data.subarray(start, end))
}

export interface HeaderFacts {
  format: ImageFormat
  mime: string
  width: number
  height: number
}

/**
 * Format and dimensions from the header alone; undefined when the bytes are not one of our formats or the
 * header cannot be read. Cheap (no decode): a decompression bomb is caught here by its declared size,
 * before any decoder sees it.
 */
export function readHeader(data: Uint8Array): HeaderFacts | undefined {
  const format = sniffFormat(data)
  if (!format) return undefined
  try {
    const reader = headerReader(format)
    if (!reader.validate(data)) return undefined
    const size = reader.calculate(data)
    // As image-size's own `imageSize` does: a file of several images (HEIF/AVIF) is as large as its largest.
    const { width, height } = (size.images ?? []).reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a), size)
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) return undefined
    return { format, mime: MIME_OF[format], width, height }
  } catch {
    return undefined
  }
}

interface SizeReader {
  validate(input: Uint8Array): boolean
  calculate(input: Uint8Array): { width: number; height: number; images?: Array<{ width: number; height: number }> }
}

/** image-size's reader of each format (its `types/<name>` module and export). */
const READERS: Readonly<Record<ImageFormat, readonly [string, string]>> = {
  png: ['image-size/types/png', 'PNG'],
  jpeg: ['image-size/types/jpg', 'JPG'],
  webp: ['image-size/types/webp', 'WEBP'],
  avif: ['image-size/types/heif', 'HEIF'],
}
const loaded = new Map<ImageFormat, SizeReader>()
/** Synchronous, and on first use: `readHeader` is called inside synchronous checks, and most builds need one format at most. */
const requireLazily = createRequire(import.meta.url)

function headerReader(format: ImageFormat): SizeReader {
  let reader = loaded.get(format)
  if (!reader) {
    const [id, name] = READERS[format]
    reader = (requireLazily(id) as Record<string, SizeReader>)[name]!
    loaded.set(format, reader)
  }
  return reader
}

export interface ImageFacts extends HeaderFacts {
  hasAlpha: boolean
}

/** sharp, loaded on first use: a warm build never decodes an image, and so never loads it. */
const loadSharp = () => import('sharp').then((module) => module.default)

/**
 * Facts of an image as its decoder reads its header, or undefined when sharp cannot read it. `maxPixels`
 * bounds what sharp would agree to decode.
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

/** Decode every pixel once (within `maxPixels`): a truncated file can still have a valid header. */
export async function decodesWhole(data: Buffer, maxPixels: number): Promise<boolean> {
  try {
    await (await loadSharp())(data, { limitInputPixels: maxPixels }).raw().toBuffer({ resolveWithObject: false })
    return true
  } catch {
    return false
  }
}

/**
 * Bounds no legitimate image passes. The largest image any known model makes is 3840x2160 (gpt-image-2);
 * models the table does not know get room up to 4096x4096. An image file over `maxBytes` is refused
 * before it is read whole (an uncompressed 4096x4096 RGBA PNG is about 64 MiB).
 */
export const IMAGE_LIMITS = {
  /** Most pixels of any image read from the API, a cache or an input file. */
  maxPixels: 4096 * 4096,
  /** Longest side of any such image. */
  maxSide: 8192,
  /** Largest image file read from a cache or sent as an input. */
  maxBytes: 64 * 1024 * 1024,
} as const

/** Whether dimensions are within `IMAGE_LIMITS` (or a tighter pixel bound). */
export function withinPixelLimits(width: number, height: number, maxPixels: number = IMAGE_LIMITS.maxPixels): boolean {
  return width >= 1 && height >= 1 && width <= IMAGE_LIMITS.maxSide && height <= IMAGE_LIMITS.maxSide && width * height <= maxPixels
}
