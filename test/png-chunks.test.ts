/**
 * The PNG chunk reader/writer of the provenance step (`src/core/emit/png-chunks.ts`): byte-for-byte chunks of a
 * real PNG, and a malformed file (a length past the end, a bad type, no IEND, not a PNG) is `undefined`, never
 * a read past its end or a thrown RangeError.
 */
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { PNG_SIGNATURE, iTXtChunk, pngChunk, readPngChunks, rewritePng, textKeyword } from '../src/core/emit/png-chunks.js'
import { XMP_KEYWORD, markPng, pngProvenance } from '../src/core/emit/provenance.js'
import { C2PA_MANIFEST } from './emulator/index.js'
import { withC2pa } from './emulator/render.js'

const png = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#204060' } }).png().toBuffer()

describe('readPngChunks', () => {
  it('reads every chunk of a real PNG, each as it is in the file', async () => {
    const file = await png()
    const chunks = readPngChunks(file)!
    expect(chunks[0]!.type).toBe('IHDR')
    expect(chunks.at(-1)!.type).toBe('IEND')
    expect(Buffer.concat([PNG_SIGNATURE, ...chunks.map((c) => c.raw)]).equals(file)).toBe(true)
  })

  it('is undefined for a malformed file, whatever its lengths say', async () => {
    const file = await png()
    const huge = Buffer.from(file)
    huge.writeUInt32BE(0xfffffff0, 8) // IHDR claims 4 GB
    const badType = Buffer.from(file)
    badType.write('I\u0000DR', 12, 'latin1')
    for (const bad of [Buffer.alloc(0), Buffer.from('not a png at all'), file.subarray(0, file.length - 12), file.subarray(0, 20), huge, badType]) {
      expect(readPngChunks(bad)).toBeUndefined()
      expect(rewritePng(bad, [])).toBeUndefined()
      expect(pngProvenance(bad)).toBeUndefined()
    }
  })
})

describe('the chunks provenance writes and reads', () => {
  it('writes a chunk with the CRC a decoder checks, and an iTXt chunk sharp reads as XMP', async () => {
    const marked = markPng(await png())
    expect(readPngChunks(marked)!.filter((c) => textKeyword(c) === XMP_KEYWORD)).toHaveLength(1)
    // sharp (libpng) verifies every CRC and takes the iTXt packet as the file's XMP.
    expect((await sharp(marked).metadata()).xmp?.toString('utf8')).toContain('trainedAlgorithmicMedia')
    expect(pngChunk('tEXt', Buffer.from('a\u0000b')).subarray(-4).readUInt32BE(0)).not.toBe(0)
    const itxt = iTXtChunk('XML:com.adobe.xmp', '<x/>')
    expect(textKeyword({ type: 'iTXt', data: itxt.subarray(8, -4), raw: itxt })).toBe('XML:com.adobe.xmp')
    expect(textKeyword({ type: 'IDAT', data: Buffer.from('k\u0000v'), raw: Buffer.alloc(0) })).toBeUndefined()
  })

  it('finds C2PA and keeps Exif through a recompression; marking twice leaves one XMP packet', async () => {
    const signed = withC2pa(await png(), 'png')
    expect(pngProvenance(signed)).toMatchObject({ c2pa: true, xmp: false })
    const exif = pngChunk('eXIf', Buffer.from('MM\u0000*\u0000\u0000\u0000\u0008\u0000\u0000', 'latin1'))
    const withExif = rewritePng(await png(), [exif])!
    const found = pngProvenance(withExif)!
    expect(found.carried.map((c) => c.equals(exif))).toEqual([true])
    const twice = markPng(markPng(await png(), found.carried), found.carried)
    const chunks = readPngChunks(twice)!
    expect(chunks.filter((c) => textKeyword(c) === XMP_KEYWORD)).toHaveLength(1)
    expect(chunks.filter((c) => c.type === 'eXIf')).toHaveLength(1)
    expect(signed.includes(C2PA_MANIFEST)).toBe(true)
  })
})
