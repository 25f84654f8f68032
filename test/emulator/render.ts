/**
 * Real image bytes for the emulator: a solid colour derived from the prompt, at the asked size and
 * format, so the plugin's checks (magic bytes, dimensions, decoding) run against genuine files.
 */
import { createHash, randomBytes } from 'node:crypto'
import sharp from 'sharp'

export function sizeOf(size: unknown, fallback = '1024x1024'): { width: number; height: number } {
  const text = typeof size === 'string' && size !== 'auto' ? size : fallback
  const [w, h] = text.split('x').map(Number)
  return { width: w || 1024, height: h || 1024 }
}

export async function renderImage(options: {
  seed: string
  width: number
  height: number
  format: 'png' | 'jpeg' | 'webp'
  transparent?: boolean
  /** Noise (from a small reused pool): the size of a real image (about 1.7 MB as a 1024x1024 PNG). */
  noise?: boolean
}): Promise<Buffer> {
  const digest = createHash('sha256').update(options.seed).digest()
  if (options.noise) {
    // A few noise images per size and format, reused: real sizes without spending the benchmark's CPU.
    const id = `${options.width}x${options.height}|${options.format}|${options.transparent ? 4 : 3}`
    const pool = (noisePool.get(id) ?? noisePool.set(id, []).get(id))!
    const slot = digest[0]! % NOISE_POOL_SIZE
    return (pool[slot] ??= renderNoise(options.width, options.height, options.format, options.transparent ? 4 : 3))
  }
  const image = sharp({
    create: {
      width: options.width,
      height: options.height,
      channels: options.transparent ? 4 : 3,
      background: { r: digest[0]!, g: digest[1]!, b: digest[2]!, alpha: options.transparent ? 0.5 : 1 },
    },
  })
  if (options.format === 'jpeg') return image.jpeg({ quality: 80 }).toBuffer()
  if (options.format === 'webp') return image.webp({ quality: 80 }).toBuffer()
  return image.png({ compressionLevel: 1 }).toBuffer()
}

const NOISE_POOL_SIZE = 8
const noisePool = new Map<string, Array<Promise<Buffer>>>()

/** Render the whole noise pool of a size now (a benchmark warms its server before measuring). */
export async function warmNoise(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<void> {
  const id = `${width}x${height}|${format}|3`
  const pool = (noisePool.get(id) ?? noisePool.set(id, []).get(id))!
  for (let slot = 0; slot < NOISE_POOL_SIZE; slot++) pool[slot] ??= renderNoise(width, height, format, 3)
  await Promise.all(pool)
}

/**
 * Noise with 16 levels per channel: it compresses about as well as a detailed photo, so a 1024x1024 PNG
 * weighs what the API's do (about 1.7 MB) and costs what they cost to send, parse and decode.
 */
function renderNoise(width: number, height: number, format: 'png' | 'jpeg' | 'webp', channels: 3 | 4): Promise<Buffer> {
  const pixels = randomBytes(width * height * channels)
  for (let i = 0; i < pixels.length; i++) pixels[i]! &= 0xf0
  const raw = sharp(pixels, { raw: { width, height, channels } })
  if (format === 'jpeg') return raw.jpeg({ quality: 90 }).toBuffer()
  if (format === 'webp') return raw.webp({ quality: 90 }).toBuffer()
  return raw.png().toBuffer()
}
