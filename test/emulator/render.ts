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
  /** Random pixels, stored uncompressed: the size of a real image (about 3 MB at 1024x1024). */
  noise?: boolean
}): Promise<Buffer> {
  const digest = createHash('sha256').update(options.seed).digest()
  if (options.noise) {
    const channels = options.transparent ? 4 : 3
    const raw = sharp(randomBytes(options.width * options.height * channels), { raw: { width: options.width, height: options.height, channels } })
    if (options.format === 'jpeg') return raw.jpeg({ quality: 90 }).toBuffer()
    if (options.format === 'webp') return raw.webp({ quality: 90 }).toBuffer()
    return raw.png({ compressionLevel: 0 }).toBuffer()
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
