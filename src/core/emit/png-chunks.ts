/**
 * PNG chunks, read and written byte for byte (PNG spec, section 5: length, type, data, CRC-32): enough to tell
 * which ancillary chunks a generated PNG carries (C2PA's `caBX`, XMP's `iTXt`, `eXIf`), to copy them into a
 * recompressed file unchanged, and to add the XMP provenance mark as the standard iTXt chunk (libvips writes
 * XMP into a compressed zTXt chunk, which the XMP specification, part 3, does not provide for). A few lines
 * over Node's own `zlib.crc32`; the npm packages that do this (png-chunks-extract/-encode) are unmaintained
 * since 2016, and PNG decoders (sharp, fast-png) drop unknown chunks.
 *
 * The bytes are the pipeline's own or a verified cache image, still every length is checked against what is
 * left: a malformed file is `undefined`, never a read past its end.
 */
import { crc32 } from 'node:zlib'

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export interface PngChunk {
  type: string
  /** The chunk's data. */
  data: Buffer
  /** The whole chunk as it is in the file: length, type, data and CRC. */
  raw: Buffer
}

/** Every chunk of a PNG up to IEND, or undefined when it is not a well-formed PNG. */
export function readPngChunks(png: Buffer): PngChunk[] | undefined {
  if (png.length < PNG_SIGNATURE.length || !png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return undefined
  const chunks: PngChunk[] = []
  let offset = PNG_SIGNATURE.length
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset)
    const end = offset + 12 + length
    if (length > 0x7fffffff || end > png.length) return undefined
    const type = png.toString('latin1', offset + 4, offset + 8)
    if (!/^[A-Za-z]{4}$/.test(type)) return undefined
    chunks.push({ type, data: png.subarray(offset + 8, offset + 8 + length), raw: png.subarray(offset, end) })
    offset = end
    if (type === 'IEND') return chunks[0]?.type === 'IHDR' ? chunks : undefined
  }
  return undefined
}

/** One chunk's bytes, with its CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0)
  return Buffer.concat([head, data, crc])
}

/** An uncompressed international text chunk (iTXt) with no language tag. */
export function iTXtChunk(keyword: string, text: string): Buffer {
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')])
  return pngChunk('iTXt', data)
}

/** The keyword of a text chunk (tEXt, zTXt, iTXt): the Latin-1 bytes before its first NUL. */
export function textKeyword(chunk: PngChunk): string | undefined {
  if (chunk.type !== 'tEXt' && chunk.type !== 'zTXt' && chunk.type !== 'iTXt') return undefined
  const nul = chunk.data.indexOf(0)
  return nul > 0 ? chunk.data.toString('latin1', 0, nul) : undefined
}

/**
 * The PNG with `insert` (whole chunks) placed before its first IDAT, and without the chunks `drop` selects;
 * undefined when the PNG is malformed.
 */
export function rewritePng(png: Buffer, insert: readonly Buffer[], drop: (chunk: PngChunk) => boolean = () => false): Buffer | undefined {
  const chunks = readPngChunks(png)
  if (!chunks) return undefined
  const parts: Buffer[] = [PNG_SIGNATURE]
  let inserted = false
  for (const chunk of chunks) {
    if (!inserted && chunk.type === 'IDAT') {
      parts.push(...insert)
      inserted = true
    }
    if (!drop(chunk)) parts.push(chunk.raw)
  }
  return inserted ? Buffer.concat(parts) : undefined
}
