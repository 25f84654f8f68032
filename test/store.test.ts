/**
 * The committed cache: atomic writes, and reads that verify every byte (a mismatch is a miss, never an asset).
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { computeKey, type KeyMaterial } from '../src/core/cache/key.js'
import { CacheStore, atomicWrite, sidecarFor, TEMP_MARKER } from '../src/core/cache/store.js'
import { withEnv } from './helpers/env.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { emulatorSuite, png } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

// A real entry: reads check that the request hashes to the key and that the bytes are the PNG recorded.
const MATERIAL: KeyMaterial = { endpoint: 'generations', request: { model: 'm', n: 1, prompt: 'p' }, inputs: [], mask: null, seed: null }
const KEY = computeKey(MATERIAL)
const suite = emulatorSuite()
let project: TempProject

beforeAll(async () => {
  project = await suite.project({})
})

async function writeEntry(store: CacheStore) {
  const image = await store.writeImage(KEY, 0, await png(2, 2, [10, 20, 30]), { mime: 'image/png', width: 2, height: 2 })
  await store.commit(
    sidecarFor(KEY, MATERIAL, {
      provider: { kind: 'openai' },
      created: 1,
      revised_prompt: null,
      usage: null,
      request_id: null,
      images: [image],
    }),
  )
  return image
}

describe('CacheStore', () => {
  it('writes atomically: the final files and no temp file', async () => {
    const dir = path.join(project.root, 'atomic')
    await atomicWrite(path.join(dir, 'x.json'), '{"a":1}')
    expect(await readdir(dir)).toEqual(['x.json'])
    expect(await readFile(path.join(dir, 'x.json'), 'utf8')).toBe('{"a":1}')
    expect(TEMP_MARKER).toBe('.tmp-')
  })

  it('lays entries out as <2 hex>/<key>.json and <key>-<i>.<ext>', async () => {
    const store = new CacheStore(path.join(project.root, 'layout'))
    await writeEntry(store)
    expect(await project.list('layout')).toEqual([`${KEY.slice(0, 2)}/${KEY}-0.png`, `${KEY.slice(0, 2)}/${KEY}.json`])
    const found = await store.inspect(KEY)
    expect(found.status).toBe('hit')
  })

  it('reports a miss without a sidecar, and corrupt entries in every broken shape', async () => {
    const store = new CacheStore(path.join(project.root, 'broken'))
    expect((await store.inspect(KEY)).status).toBe('miss')

    const image = await writeEntry(store)
    const imagePath = path.join(store.folderOf(KEY), image.file)
    await writeFile(imagePath, Buffer.from('not really a png, but BYTES'))
    expect(await store.inspect(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('SHA-256') })
    expect(await store.read(KEY)).toBeUndefined()

    await rm(imagePath)
    expect(await store.inspect(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('missing') })

    await writeFile(store.sidecarPath(KEY), '{ half a sidecar')
    expect(await store.inspect(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('not valid JSON') })

    const sidecar = JSON.parse(JSON.stringify({ key: KEY, images: [{ ...image, file: '../../escape.png' }] }))
    await writeFile(store.sidecarPath(KEY), JSON.stringify(sidecar))
    expect(await store.inspect(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('outside') })

    await writeFile(store.sidecarPath(KEY), JSON.stringify({ key: 'cd'.repeat(32), images: [image] }))
    expect((await store.inspect(KEY)).status).toBe('corrupt')
  })

  it('regenerates an entry whose bytes were altered, instead of emitting them', async () => {
    const app = await makeProject({
      'index.html': '<script type="module" src="/src/main.js"></script>\n',
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a tampered teapot', model: 'gpt-image-2', size: '1024x1024' }),
    })
    try {
      await withEnv(suite.emulator.openaiEnv(), () => viteBuild(app.root))
      expect(suite.emulator.requests).toHaveLength(1)
      const png = (await app.list('.ai-image')).find((f) => f.endsWith('.png'))!
      const bytes = await app.read(`.ai-image/${png}`)
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0xff, bytes.length - 20)
      await app.write(`.ai-image/${png}`, bytes)

      const { logs } = await withEnv(suite.emulator.openaiEnv(), () => viteBuild(app.root))
      expect(suite.emulator.requests).toHaveLength(2)
      expect(logs.text()).toMatch(/corrupt .*SHA-256.*miss/)
      const store = new CacheStore(path.join(app.root, '.ai-image'))
      expect((await store.inspect(png.slice(3, 67))).status).toBe('hit')
    } finally {
      await app.remove()
    }
  })
})
