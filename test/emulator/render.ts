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

/**
 * A stand-in C2PA manifest store: a JUMBF superbox (`jumb`) whose description box is labelled `c2pa`, as the C2PA
 * specification lays it out; its content is fake (no signature to check), its bytes fixed, so a test can find
 * them again byte for byte.
 */
export const C2PA_MANIFEST: Buffer = (() => {
  const box = (type: string, payload: Buffer) => {
    const head = Buffer.alloc(8)
    head.writeUInt32BE(8 + payload.length, 0)
    head.write(type, 4, 'latin1')
    return Buffer.concat([head, payload])
  }
  // jumd: a 16-byte type UUID ("c2pa" + the ISO suffix), toggles, then the label "c2pa" and its NUL.
  const description = box('jumd', Buffer.concat([Buffer.from('c2pa0011801000aa00389b71', 'hex').subarray(0, 16), Buffer.from([3]), Buffer.from('c2pa\0', 'latin1')]))
  const content = box('json', Buffer.from(JSON.stringify({ claim_generator: 'emulator/1.0', assertions: ['c2pa.actions', 'c2pa.hash.data'] }), 'utf8'))
  return box('jumb', Buffer.concat([description, content]))
})()

function crc(data: Buffer): number {
  let c = ~0
  for (const byte of data) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1))
  }
  return ~c >>> 0
}

/** The image with `C2PA_MANIFEST` embedded as C2PA does: a `caBX` chunk before IDAT (PNG), an APP11 segment after SOI and JFIF's APP0 (JPEG). */
export function withC2pa(image: Buffer, format: 'png' | 'jpeg' | 'webp'): Buffer {
  if (format === 'png') {
    const chunk = Buffer.alloc(12 + C2PA_MANIFEST.length)
    chunk.writeUInt32BE(C2PA_MANIFEST.length, 0)
    chunk.write('caBX', 4, 'latin1')
    C2PA_MANIFEST.copy(chunk, 8)
    chunk.writeUInt32BE(crc(chunk.subarray(4, 8 + C2PA_MANIFEST.length)), 8 + C2PA_MANIFEST.length)
    const idat = image.indexOf('IDAT', 8, 'latin1') - 4
    return Buffer.concat([image.subarray(0, idat), chunk, image.subarray(idat)])
  }
  if (format === 'jpeg') {
    // APP11 (0xFFEB), length, JPEG XT "JP" common identifier, box instance 1, packet sequence 1, then the JUMBF box.
    const payload = Buffer.concat([Buffer.from('JP', 'latin1'), Buffer.from([0x00, 0x01, 0x00, 0x00, 0x00, 0x01]), C2PA_MANIFEST])
    const segment = Buffer.concat([Buffer.from([0xff, 0xeb]), Buffer.from([(payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload])
    // After the JFIF APP0 segment, which must come first.
    const at = image[2] === 0xff && image[3] === 0xe0 ? 4 + image.readUInt16BE(4) : 2
    return Buffer.concat([image.subarray(0, at), segment, image.subarray(at)])
  }
  return image
}

/** The C2PA chunk or segment of a file as it is in the file (`caBX` chunk, APP11 segment), or undefined. */
export function c2paOf(file: Buffer): Buffer | undefined {
  const at = file.indexOf(C2PA_MANIFEST)
  if (at < 0) return undefined
  if (file.toString('latin1', at - 4, at) === 'caBX') return file.subarray(at - 8, at + C2PA_MANIFEST.length + 4)
  return file.subarray(at - 12, at + C2PA_MANIFEST.length)
}
