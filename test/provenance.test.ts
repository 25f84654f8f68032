/**
 * Provenance in emitted files (DESIGN.md "Provenance", #12), in real `vite build`s against an emulator that
 * signs its images with a (stand-in) C2PA manifest as OpenAI does: bytes that pass through keep it byte for
 * byte (PNG `caBX` chunk, JPEG APP11 segment); every re-encoded or resized file carries XMP with the IPTC
 * digital source type trainedAlgorithmicMedia; `emit.metadata: 'strip'` opts out; placeholders carry none.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { readPngChunks, textKeyword } from '../src/core/emit/png-chunks.js'
import { DIGITAL_SOURCE_TYPE, XMP_KEYWORD } from '../src/core/emit/provenance.js'
import { c2paOf, C2PA_MANIFEST } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec, type TempProject } from './helpers/project.js'
import { emulatorSuite, type Suite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const signed = emulatorSuite({ c2pa: true })
const unsigned = emulatorSuite()

const LIB = { build: { lib: { entry: 'src/main.js', formats: ['es' as const], fileName: 'main' }, assetsInlineLimit: 0 } }
const BASE = { model: 'gpt-image-1.5', quality: 'low', size: '1024x1024' }

let imports = 0
async function build(suite: Suite, specs: Record<string, Record<string, unknown>>): Promise<{ project: TempProject; out: Record<string, Record<string, unknown>> }> {
  const files: Record<string, string> = {}
  const lines: string[] = []
  for (const [name, fields] of Object.entries(specs)) {
    files[`src/${name}.imgprompt.json`] = spec({ prompt: `provenance of ${name}`, ...BASE, ...fields })
    lines.push(`export * as ${name} from './${name}.imgprompt.json'`)
  }
  const project = await suite.project({ ...files, 'src/main.js': `${lines.join('\n')}\n` })
  await withEnv(suite.openaiEnv(), () => viteBuild(project.root, {}, LIB))
  const out = (await import(`${pathToFileURL(path.join(project.root, 'dist/main.mjs')).href}?n=${imports++}`)) as Record<string, Record<string, unknown>>
  return { project, out }
}

const dist = (project: TempProject, url: unknown) => project.read(path.join('dist', String(url)))
const cached = (project: TempProject, key: unknown, ext: string) => project.read(path.join('.ai-image', String(key).slice(0, 2), `${String(key)}-0.${ext}`))
const xmpOf = async (file: Buffer) => (await sharp(file).metadata()).xmp?.toString('utf8')
const pngXmp = (file: Buffer) => readPngChunks(file)!.filter((c) => textKeyword(c) === XMP_KEYWORD).map((c) => c.data.toString('utf8'))

describe('an image signed by the provider (C2PA)', () => {
  it('passes through byte for byte: PNG caBX chunk and JPEG APP11 segment kept', async () => {
    const { project, out } = await build(signed, { png: {}, jpeg: { output_format: 'jpeg' } })
    const png = await dist(project, out.png!.default)
    const sourcePng = await cached(project, out.png!.key, 'png')
    expect(c2paOf(sourcePng)).toBeDefined()
    expect(c2paOf(png)!.equals(c2paOf(sourcePng)!)).toBe(true)
    expect(png.equals(sourcePng)).toBe(true)
    expect(c2paOf(png)!.subarray(4, 8).toString('latin1')).toBe('caBX')

    const jpeg = await dist(project, out.jpeg!.default)
    const sourceJpeg = await cached(project, out.jpeg!.key, 'jpg')
    expect(c2paOf(jpeg)!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xeb]))
    expect(jpeg.equals(sourceJpeg)).toBe(true)
  })

  it('marks every re-encoded and resized file with the digital source type; the placeholder carries none', async () => {
    const { project, out } = await build(signed, {
      webp: { emit: { format: 'webp', widths: [256], placeholder: 'blur' } },
      jpeg: { emit: { format: 'jpeg', quality: 70 } },
      avif: { emit: { format: 'avif', quality: 40 } },
      resized: { emit: { widths: [320] } },
    })
    const webp = out.webp!
    const files = [await dist(project, webp.default), ...(await Promise.all(String(webp.srcset).split(', ').map((e) => dist(project, e.split(' ')[0]))))]
    expect(files).toHaveLength(2)
    for (const file of files) expect(await xmpOf(file)).toContain(`Iptc4xmpExt:DigitalSourceType="${DIGITAL_SOURCE_TYPE}"`)
    expect(await xmpOf(await dist(project, out.jpeg!.default))).toContain(DIGITAL_SOURCE_TYPE)
    expect(await xmpOf(await dist(project, out.avif!.default))).toContain(DIGITAL_SOURCE_TYPE)

    // The resized PNG is re-encoded: its mark is the standard uncompressed iTXt chunk.
    const resized = await dist(project, String(out.resized!.srcset).split(', ')[0]!.split(' ')[0])
    expect((await sharp(resized).metadata()).width).toBe(320)
    expect(pngXmp(resized)).toEqual([expect.stringContaining(DIGITAL_SOURCE_TYPE)])

    const placeholder = Buffer.from(String(webp.placeholder).split(',')[1]!, 'base64')
    expect(placeholder.includes(Buffer.from('DigitalSourceType'))).toBe(false)
    expect(placeholder.includes(C2PA_MANIFEST)).toBe(false)
  })

  it("emit.metadata: 'strip' adds no mark", async () => {
    const { project, out } = await build(signed, { strip: { emit: { format: 'webp', widths: [256], metadata: 'strip' } } })
    for (const url of [out.strip!.default, String(out.strip!.srcset).split(', ')[0]!.split(' ')[0]]) {
      expect(await xmpOf(await dist(project, url))).toBeUndefined()
    }
  })
})

describe('an image without credentials', () => {
  it('is optimized losslessly and marked with the XMP packet (one, uncompressed)', async () => {
    const { project, out } = await build(unsigned, { plain: {}, bare: { emit: { metadata: 'strip' } } })
    const png = await dist(project, out.plain!.default)
    const source = await cached(project, out.plain!.key, 'png')
    expect(c2paOf(png)).toBeUndefined()
    expect(pngXmp(png)).toEqual([expect.stringContaining(`Iptc4xmpExt:DigitalSourceType="${DIGITAL_SOURCE_TYPE}"`)])
    // Same pixels as generated.
    const [a, b] = await Promise.all([sharp(png).raw().toBuffer(), sharp(source).raw().toBuffer()])
    expect(a.equals(b)).toBe(true)
    expect(pngXmp(await dist(project, out.bare!.default))).toEqual([])
  })
})
