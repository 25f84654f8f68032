/**
 * Edits and variations in real `vite build`s against the emulator: multipart bodies as the API wants
 * them, chains (an edit of another spec's output), input checks before spending, and cycles.
 */
import { createHash } from 'node:crypto'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, failure, png } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const build = (root: string) => withEnv(suite.openaiEnv(), () => viteBuild(root))

/** The one request of a build, answered 200 at `url`, and its file parts. */
function onlyRequest(url: string) {
  expect(suite.emulator.requests).toHaveLength(1)
  const request = suite.emulator.requests[0]!
  expect([request.status, request.url]).toEqual([200, url])
  return { request, files: request.files.map(({ field, type, sha256 }) => ({ field, type, sha256 })) }
}

describe('edits', () => {
  it('sends two inputs and a mask as image[] and mask parts with image/png types and numbers as strings', async () => {
    const [a, b, mask] = await Promise.all([png(64, 64, [200, 30, 30]), png(64, 64, [30, 200, 30]), png(64, 64, [0, 0, 0], 0)])
    const project = await suite.project({
      'src/main.js': "import hat, { width } from './hat.imgprompt.json'\nconsole.log(hat, width)\n",
      'src/hat.imgprompt.json': spec({
        prompt: 'put both on one table',
        model: 'gpt-image-1.5',
        size: '1024x1024',
        quality: 'low',
        n: 2,
        image: ['./a.png', './b.png'],
        mask: './mask.png',
        input_fidelity: 'high',
      }),
      'src/a.png': a,
      'src/b.png': b,
      'src/mask.png': mask,
    })
    await build(project.root)

    const { request, files } = onlyRequest('/v1/images/edits')
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    expect(files).toEqual([
      { field: 'image[]', type: 'image/png', sha256: sha256(a) },
      { field: 'image[]', type: 'image/png', sha256: sha256(b) },
      { field: 'mask', type: 'image/png', sha256: sha256(mask) },
    ])
    // What the spec sets (#12: background and output_format were sent as their defaults).
    expect(request.body).toEqual({
      prompt: 'put both on one table',
      model: 'gpt-image-1.5',
      n: '2',
      size: '1024x1024',
      quality: 'low',
      input_fidelity: 'high',
    })
  })

  it('sends one input as a single `image` part, and a changed input image is a new request', async () => {
    const project = await suite.project({
      'src/main.js': "import e from './e.imgprompt.json'\nconsole.log(e)\n",
      'src/e.imgprompt.json': spec({ prompt: 'make it blue', model: 'gpt-image-2', size: '1024x1024', image: './photo.png' }),
      'src/photo.png': await png(48, 32, [10, 10, 10]),
    })
    await build(project.root)
    await build(project.root)
    expect(suite.emulator.requests).toHaveLength(1)
    expect(suite.emulator.requests[0]!.files.map((f) => [f.field, f.type])).toEqual([['image', 'image/png']])

    // The input's SHA-256 is in the key: new pixels, new request.
    await project.write('src/photo.png', await png(48, 32, [12, 10, 10]))
    await build(project.root)
    expect(suite.emulator.requests).toHaveLength(2)
  })

  it('generates a chained spec after the spec it edits, one request each, and nothing on a second build', async () => {
    const project = await suite.project({
      'src/main.js': "import room from './room.imgprompt.json'\nimport lamp from './lamp.imgprompt.json'\nconsole.log(room, lamp)\n",
      'src/room.imgprompt.json': spec({ prompt: 'an empty room', model: 'gpt-image-2', size: '1024x1024' }),
      // Importing both at once must still make one request for the room.
      'src/lamp.imgprompt.json': spec({ prompt: 'add a lamp', model: 'gpt-image-2', size: '1024x1024', image: './room.imgprompt.json' }),
    })
    await build(project.root)

    const [first, second] = suite.emulator.requests
    expect(suite.emulator.requests).toHaveLength(2)
    expect([first!.operation, first!.body.prompt]).toEqual(['generations', 'an empty room'])
    expect([second!.operation, second!.body.prompt]).toEqual(['edits', 'add a lamp'])
    // The edit's input is exactly the image the first request answered.
    expect(second!.files).toHaveLength(1)
    expect(second!.files[0]!.sha256).toBe(first!.returned![0])
    expect(second!.files[0]!.type).toBe('image/png')
    const images = (await project.list('dist/assets')).filter((f) => f.endsWith('.png'))
    expect(images.map((f) => f.split('-')[0]).sort()).toEqual(['lamp', 'room'])

    suite.emulator.reset()
    await build(project.root)
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('reports a cycle between specs as SPEC_INVALID naming the loop, without a request', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a', model: 'gpt-image-2', size: '1024x1024', image: './b.imgprompt.json' }),
      'src/b.imgprompt.json': spec({ prompt: 'b', model: 'gpt-image-2', size: '1024x1024', image: './a.imgprompt.json' }),
    })
    const error = await failure(build(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('cycle')
    expect(error.message).toContain('src/a.imgprompt.json → src/b.imgprompt.json → src/a.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it.each([
    ['mask', 'a mask without alpha', { mask: './opaque.png' }, 'alpha'],
    ['mask', 'a mask of another size', { mask: './small-mask.png' }, '32x32'],
    ['image', 'an input that is no image', { image: './notes.png' }, 'not a PNG, JPEG or WebP'],
    ['image', 'an input outside the root', { image: '../../outside.png' }, 'outside the project root'],
  ])('rejects %s (%s) before spending', async (field, _what, override, words) => {
    const project = await suite.project({
      'src/main.js': "import e from './e.imgprompt.json'\nconsole.log(e)\n",
      'src/e.imgprompt.json': spec({ prompt: 'edit', model: 'gpt-image-2', size: '1024x1024', image: './photo.png', mask: './mask.png', ...override }),
      'src/photo.png': await png(64, 64, [90, 90, 90]),
      'src/mask.png': await png(64, 64, [0, 0, 0], 0),
      'src/opaque.png': await png(64, 64, [0, 0, 0]),
      'src/small-mask.png': await png(32, 32, [0, 0, 0], 0),
      'src/notes.png': 'not an image',
    })
    const error = await failure(build(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('src/e.imgprompt.json')
    expect(error.message).toContain(`field "${field}"`)
    expect(error.message).toContain(words)
    expect(suite.emulator.requests).toHaveLength(0)
  })
})

describe('variations', () => {
  it('sends a dall-e-2 variation (image without prompt) as multipart with b64_json', async () => {
    const square = await png(64, 64, [40, 80, 160])
    const project = await suite.project({
      'src/main.js': "import v, { images } from './v.imgprompt.json'\nconsole.log(v, images)\n",
      'src/v.imgprompt.json': spec({ image: './square.png', model: 'dall-e-2', size: '256x256', n: 2 }),
      'src/square.png': square,
    })
    await build(project.root)

    const { request, files } = onlyRequest('/v1/images/variations')
    expect(request.body).toEqual({ model: 'dall-e-2', n: '2', size: '256x256', response_format: 'b64_json' })
    expect(files).toEqual([{ field: 'image', type: 'image/png', sha256: sha256(square) }])
    const images = (await project.list('dist/assets')).filter((f) => /^v-[01]-/.test(f))
    expect(images).toHaveLength(2)
    expect((await sharp(await project.read(`dist/assets/${images[0]}`)).metadata()).width).toBe(256)
  })

  it('rejects an input over dall-e-2\'s 4 MB limit before spending', async () => {
    const noise = Buffer.from(Array.from({ length: 1100 * 1100 * 4 }, (_, i) => (i * 2654435761) >>> 24))
    const project = await suite.project({
      'src/main.js': "import v from './v.imgprompt.json'\nconsole.log(v)\n",
      'src/v.imgprompt.json': spec({ image: './big.png', model: 'dall-e-2', size: '256x256' }),
      'src/big.png': await sharp(noise, { raw: { width: 1100, height: 1100, channels: 4 } }).png({ compressionLevel: 0 }).toBuffer(),
    })
    const error = await failure(build(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toMatch(/big\.png is [\d.]+ MB; dall-e-2 takes files under 4\.0 MB/)
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('rejects a non-square input for dall-e-2 before spending', async () => {
    const project = await suite.project({
      'src/main.js': "import v from './v.imgprompt.json'\nconsole.log(v)\n",
      'src/v.imgprompt.json': spec({ image: './wide.png', model: 'dall-e-2', size: '256x256' }),
      'src/wide.png': await png(64, 32, [1, 2, 3]),
    })
    const error = await failure(build(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('square PNG')
    expect(suite.emulator.requests).toHaveLength(0)
  })
})
