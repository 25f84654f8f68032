/**
 * The core path in a real `vite build`: spec files and virtual imports become content-hashed images,
 * the emulator is called once per unique key, a second build makes no request, CI fails on misses.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { TEST_OPENAI_KEY } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()
const fixture = (files: Record<string, string>) => suite.project(files)

const openaiEnv = () => suite.openaiEnv()

async function distFiles(project: TempProject) {
  const files = await project.list('dist')
  const js = (await Promise.all(files.filter((f) => f.endsWith('.js')).map((f) => project.read(`dist/${f}`)))).join('\n')
  return { files, js }
}

describe('vite build against the emulator', () => {
  it('emits content-hashed images with the requested size, once per unique key, and nothing on a rebuild', async () => {
    const project = await fixture({
      'src/main.js': [
        "import hero, { width, height, alt, key } from './hero.imgprompt.json'",
        "import same, { key as sameKey } from './same.imgprompt.json'",
        "import gallery, { images } from './gallery.imgprompt.json'",
        "import fox, { width as foxWidth } from 'virtual:ai-image?prompt=a%20red%20fox&model=gpt-image-2&size=1024x768'",
        'document.querySelector("#app").textContent = JSON.stringify({ hero, width, height, alt, key, same, sameKey, gallery, images, fox, foxWidth })',
      ].join('\n'),
      'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse at dusk\nwith fog', model: 'gpt-image-2', size: '1024x1024' }),
      // Same request: other key order, explicit defaults, CRLF line endings in the file and in the prompt.
      'src/same.imgprompt.json':
        '{\r\n  "size": "1024x1024",\r\n  "quality": "auto",\r\n  "n": 1,\r\n  "output_format": "png",\r\n  "model": "gpt-image-2",\r\n  "prompt": "a lighthouse at dusk\\r\\nwith fog"\r\n}\r\n',
      'src/gallery.imgprompt.json': spec({ prompt: 'three pears', model: 'gpt-image-2', size: '1024x1024', n: 2, pick: 1 }),
    })

    await withEnv(openaiEnv(), () => viteBuild(project.root))

    // hero and same share one key: three unique keys, three requests.
    expect(suite.emulator.requests.map((r) => r.body.prompt).sort()).toEqual(['a lighthouse at dusk\nwith fog', 'a red fox', 'three pears'])
    const { files, js } = await distFiles(project)
    const hero = files.find((f) => /^assets\/hero-[\w-]+\.png$/.test(f))
    expect(hero, files.join(', ')).toBeDefined()
    // Identical bytes are one asset: `same` points at the hero file.
    expect(files.some((f) => /^assets\/same-/.test(f))).toBe(false)
    const meta = await sharp(await project.read(`dist/${hero}`)).metadata()
    expect([meta.width, meta.height]).toEqual([1024, 1024])
    expect(js).toContain(`/${hero}`)
    const fox = files.find((f) => /^assets\/ai-image-[0-9a-f]{8}-[\w-]+\.png$/.test(f))!
    expect((await sharp(await project.read(`dist/${fox}`)).metadata()).width).toBe(1024)
    expect(files.filter((f) => /^assets\/gallery-[01]-/.test(f))).toHaveLength(2)
    // The cache holds three entries (sidecar + images).
    const cache = await project.list('.ai-image')
    expect(cache.filter((f) => f.endsWith('.json'))).toHaveLength(3)

    suite.emulator.reset()
    await withEnv(openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(0)
    expect((await distFiles(project)).files).toEqual(files)
  })

  it('exports url, width, height, alt, key, images; an SSR build gets the client URLs and makes no request', async () => {
    const project = await fixture({
      'src/main.js': "import { result } from './result.js'\ndocument.querySelector('#app').textContent = JSON.stringify(result)\n",
      'src/result.js': [
        "import * as hero from './hero.imgprompt.json'",
        "import * as gallery from './gallery.imgprompt.json'",
        'export const result = { hero: { ...hero }, gallery: { ...gallery } }',
      ].join('\n'),
      'src/hero.imgprompt.json': spec({ prompt: 'a kite', model: 'gpt-image-2', size: '1536x768', alt: 'A red kite' }),
      'src/gallery.imgprompt.json': spec({ prompt: 'two cups', model: 'gpt-image-2', size: '1024x1024', n: 2, pick: 1 }),
    })
    await withEnv(openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(2)
    const client = await distFiles(project)

    await withEnv(openaiEnv(), () => viteBuild(project.root, {}, { build: { ssr: 'src/result.js', outDir: 'dist-ssr' } }))
    expect(suite.emulator.requests).toHaveLength(2)
    const ssrEntry = (await project.list('dist-ssr')).find((f) => /\.m?js$/.test(f))!
    const { result } = (await import(path.join(project.root, 'dist-ssr', ssrEntry))) as { result: { hero: Record<string, unknown>; gallery: Record<string, unknown> } }

    expect(result.hero).toMatchObject({ width: 1536, height: 768, alt: 'A red kite', srcset: '', placeholder: undefined })
    expect(result.hero.key).toMatch(/^[0-9a-f]{64}$/)
    const heroUrl = String(result.hero.default)
    expect(heroUrl).toMatch(/^\/assets\/hero-[\w-]+\.png$/)
    expect(client.files).toContain(heroUrl.slice(1))
    expect(client.js).toContain(heroUrl)
    const images = result.gallery.images as Array<{ src: string; width: number; height: number }>
    expect(images).toHaveLength(2)
    expect(images[0]).toMatchObject({ width: 1024, height: 1024 })
    expect(result.gallery.default).toBe(images[1]!.src)
    expect(result.gallery.alt).toBe('two cups')
    for (const image of images) expect(client.files).toContain(image.src.slice(1))
  })

  it('fails in CI on an empty cache, naming every missing spec, without a request', async () => {
    const project = await fixture({
      'src/main.js': "import a from './a.imgprompt.json'\nimport b from './nested/b.imgprompt.json'\nconsole.log(a, b)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a', model: 'gpt-image-2', size: '1024x1024' }),
      'src/nested/b.imgprompt.json': spec({ prompt: 'b', model: 'gpt-image-2', size: '1024x1024' }),
    })
    const error = await withEnv({ ...suite.openaiEnv(), CI: '1' }, () => viteBuild(project.root)).then(
      () => undefined,
      (e: unknown) => e as Error & { pluginCode?: string },
    )
    expect(error).toBeDefined()
    expect(error!.message).toContain('CACHE_MISS_FROZEN')
    expect(error!.message).toContain('src/a.imgprompt.json')
    expect(error!.message).toContain('src/nested/b.imgprompt.json')
    expect(error!.message).toContain('ai-image generate')
    expect(suite.emulator.requests).toHaveLength(0)
    expect(await project.list('.ai-image')).toEqual([])
  })

  it('renders placeholders offline without a key and writes nothing to the committed cache', async () => {
    const project = await fixture({
      'src/main.js': "import a, { width } from './a.imgprompt.json'\nconsole.log(a, width)\n",
      'src/a.imgprompt.json': spec({ prompt: 'an offline owl', model: 'gpt-image-2', size: '1536x1024' }),
    })
    const { logs } = await withEnv({ OPENAI_API_KEY: undefined, AZURE_OPENAI_ENDPOINT: undefined, CI: undefined }, () => viteBuild(project.root))
    const { files } = await distFiles(project)
    const image = files.find((f) => /^assets\/a-[\w-]+\.png$/.test(f))!
    expect((await sharp(await project.read(`dist/${image}`)).metadata()).width).toBe(1536)
    expect(await project.list('.ai-image')).toEqual([])
    expect(logs.text().match(/placeholder provider/g)).toHaveLength(1)
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('never lets the API key reach dist, the cache or the logs, even when the API rejects it', async () => {
    const project = await fixture({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a secret-free cat', model: 'gpt-image-2', size: '1024x1024' }),
    })
    const { logs } = await withEnv(openaiEnv(), () => viteBuild(project.root))
    const everything = [logs.text()]
    for (const dir of ['dist', '.ai-image']) {
      for (const file of await project.list(dir)) everything.push((await project.read(path.join(dir, file))).toString('latin1'))
    }
    expect(everything.join('\n')).not.toContain(TEST_OPENAI_KEY)
    expect(suite.emulator.requests[0]!.headers.authorization).toBe(`Bearer ${TEST_OPENAI_KEY}`)

    // A wrong key: the 401 message echoes a masked key; the error must carry none of it.
    const wrongKey = 'sk-wrong.0123456789.abcdefghijkl'
    await project.write('src/a.imgprompt.json', spec({ prompt: 'another cat', model: 'gpt-image-2', size: '1024x1024' }))
    const failure = await withEnv({ ...openaiEnv(), OPENAI_API_KEY: wrongKey }, () => viteBuild(project.root)).catch((e: Error) => e)
    expect(failure).toBeInstanceOf(Error)
    expect((failure as Error).message).toContain('AUTH')
    expect((failure as Error).message).not.toContain(wrongKey)
    expect((failure as Error).message).not.toContain(wrongKey.slice(-4))
    expect(JSON.stringify(failure)).not.toContain(wrongKey)
  })

  it('reads the committed sidecar: request, usage, request id, image facts, and no secret', async () => {
    const project = await fixture({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a teapot', model: 'gpt-image-2', size: '1024x1024', user: 'user-42', seed: 7 }),
    })
    await withEnv(openaiEnv(), () => viteBuild(project.root))
    const [sidecarFile] = (await project.list('.ai-image')).filter((f) => f.endsWith('.json'))
    const sidecar = JSON.parse(await readFile(path.join(project.root, '.ai-image', sidecarFile!), 'utf8'))
    expect(sidecar).toMatchObject({
      endpoint: 'generations',
      request: { model: 'gpt-image-2', prompt: 'a teapot', size: '1024x1024', n: 1, quality: 'auto', output_format: 'png' },
      seed: '7',
      provider: { kind: 'openai' },
      usage: { output_tokens: 196 },
      cost: { usd: (50 * 5 + 196 * 30) / 1e6, basis: 'usage' },
    })
    expect(sidecar.request.user).toBeUndefined()
    expect(sidecar.request_id).toMatch(/^req_/)
    expect(sidecar.images[0]).toMatchObject({ width: 1024, height: 1024, mime: 'image/png' })
    // `user` is sent but not keyed.
    expect(suite.emulator.requests[0]!.body.user).toBe('user-42')
  })
})
