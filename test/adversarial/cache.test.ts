/**
 * Attacks through the committed cache: what anyone who can open a pull request can put in `.ai-image/`
 * (and what a poisoned CI cache can put in `node_modules/.cache/`). Every value read from a sidecar,
 * journal or derived manifest is checked before use, and every image file is a regular file of the
 * recorded size, SHA-256, format and dimensions; anything else is a miss with one warning naming the entry
 * and the spec, never an asset, a crash or a raw library error.
 */
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { computeKey, type KeyMaterial } from '../../src/core/cache/key.js'
import { checkImageBytes, parseSidecar, type Sidecar } from '../../src/core/cache/entry.js'
import { Journal } from '../../src/core/cache/journal.js'
import { CacheStore, sidecarFor, type SidecarImage } from '../../src/core/cache/store.js'
import { DerivedCache } from '../../src/core/cache/derived.js'
import { renderModule } from '../../src/core/emit/module-code.js'
import { spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite, png } from '../helpers/suite.js'
import { agreeWith, aiImageCli, bombPng, committedEntry, editSidecar, folderText, tryViteBuild } from './helpers.js'

const suite = emulatorSuite()
const PAYLOAD = '(globalThis.pwned = 1)'
const SPEC = 'src/a.imgprompt.json'

declare global {
  // eslint-disable-next-line no-var
  var pwned: unknown
}
afterEach(() => {
  delete globalThis.pwned
})

/** A project whose one spec was built once against the emulator: its entry is committed. */
async function builtProject(fields: Record<string, unknown> = {}, files: Record<string, string> = {}): Promise<TempProject> {
  const project = await suite.project({
    'src/main.js': "import src, { width, height, images } from './a.imgprompt.json'\nconsole.log(src, width, height, images)\n",
    [SPEC]: spec({ prompt: `an attacked kite ${JSON.stringify(fields)}`, model: 'gpt-image-2', size: '1024x1024', ...fields }),
    ...files,
  })
  const first = await tryViteBuild(project.root, suite.openaiEnv())
  expect(first.error).toBeUndefined()
  suite.emulator.reset()
  return project
}

/** The build after an attack: no derived files and no dist left over from the honest build. */
async function freshBuild(project: TempProject, env: Record<string, string | undefined>, extra = {}) {
  await rm(path.join(project.root, 'dist'), { recursive: true, force: true })
  await rm(path.join(project.root, 'node_modules'), { recursive: true, force: true })
  return tryViteBuild(project.root, env, {}, extra)
}

const frozenEnv = () => ({ ...suite.openaiEnv(), CI: '1' })

/** The warning of a bad entry: spec, key prefix and the file at fault, once. */
function expectOneWarning(logs: string, key: string, file: string, problem: RegExp) {
  const lines = logs.split('\n').filter((line) => line.includes(key.slice(0, 12)) && line.startsWith('warn'))
  expect(lines, logs).toHaveLength(1)
  expect(lines[0]).toContain(SPEC)
  expect(lines[0]).toContain(file)
  expect(lines[0]).toMatch(problem)
}

describe('a sidecar edited in a pull request', () => {
  it('a width that is JavaScript never reaches the bundle: a frozen build reports the spec missing, an SSR build runs no payload', async () => {
    const project = await builtProject({ output_format: 'jpeg' })
    const entry = await committedEntry(project)
    await editSidecar(entry, (s) => {
      s.images[0].width = PAYLOAD
    })

    const frozen = await freshBuild(project, frozenEnv())
    expect(frozen.error?.message).toContain('CACHE_MISS_FROZEN')
    expect(frozen.error?.message).toContain(SPEC)
    expectOneWarning(frozen.logs, entry.key, `${entry.key}.json`, /images\[0\]\.width/)
    expect(await folderText(project, 'dist')).not.toContain('pwned')
    expect(suite.emulator.requests).toHaveLength(0)

    // The same in an SSR build, whose bundle runs when the server imports it: the entry is generated again.
    await project.write('src/entry.js', "import * as a from './a.imgprompt.json'\nexport const result = { ...a }\n")
    const ssr = await freshBuild(project, suite.openaiEnv(), { build: { ssr: 'src/entry.js', outDir: 'dist-ssr' } })
    expect(ssr.error).toBeUndefined()
    expect(suite.emulator.requests).toHaveLength(1)
    expect(await folderText(project, 'dist-ssr')).not.toContain('pwned')
    const output = (await project.list('dist-ssr')).find((f) => /\.m?js$/.test(f))!
    const { result } = (await import(pathToFileURL(path.join(project.root, 'dist-ssr', output)).href)) as { result: Record<string, unknown> }
    expect(globalThis.pwned).toBeUndefined()
    expect(result).toMatchObject({ width: 1024, height: 1024 })
    // The entry generated in its place is honest again.
    expect((await committedEntry(project)).sidecar.images[0].width).toBe(1024)
  })

  it('a non-number height, fewer images than n, a null image, a foreign request: each a miss naming the entry', async () => {
    const project = await builtProject({ n: 2 })
    const entry = await committedEntry(project)
    const attacks: Array<[string, (s: Record<string, any>) => void, RegExp]> = [
      ['height', (s) => void (s.images[1].height = '256'), /images\[1\]\.height/],
      ['fewer', (s) => void s.images.pop(), /lists 1 image.*request\.n is 2/],
      ['null', (s) => void (s.images[0] = null), /images\[0\]/],
      ['request', (s) => void (s.request.prompt = 'something else entirely'), /request.*does not hash to the key|key/],
      ['file', (s) => void (s.images[0].file = `../../src/${entry.key}-0.png`), /outside|images\[0\]\.file/],
    ]
    for (const [name, attack, problem] of attacks) {
      await editSidecar(entry, attack)
      const frozen = await freshBuild(project, frozenEnv())
      expect(frozen.error?.message, name).toContain('CACHE_MISS_FROZEN')
      expect(frozen.error?.message, name).not.toMatch(/TypeError|Cannot read/)
      expectOneWarning(frozen.logs, entry.key, `${entry.key}.json`, problem)
    }
  })

  it('`ai-image check` reports a tampered sidecar as corrupt', async () => {
    const project = await builtProject({ output_format: 'jpeg' })
    const entry = await committedEntry(project)
    expect((await aiImageCli(project.root, ['check'])).code).toBe(0)
    await editSidecar(entry, (s) => {
      s.images[0].width = PAYLOAD
    })
    const check = await aiImageCli(project.root, ['check'])
    expect(check.code).toBe(1)
    expect(check.stdout).toContain(`✗ ${SPEC}  corrupt: ${entry.key}.json: images[0].width`)
  })
})

describe('a journal left in the cache folder', () => {
  it('its image records are checked like a sidecar: a JavaScript width is never resumed into the bundle', async () => {
    const project = await builtProject({ output_format: 'jpeg' })
    const entry = await committedEntry(project)
    // As if a run had been killed before its sidecar: the image is there, the journal lists it.
    await rm(entry.sidecarPath)
    const journal = path.join(project.root, '.ai-image', '.work', 'journal', `${entry.key}.json`)
    await mkdir(path.dirname(journal), { recursive: true })
    const record = { ...entry.sidecar.images[0], width: PAYLOAD }
    await writeFile(journal, JSON.stringify({ key: entry.key, images: { 0: record }, usage: null, created: 1, request_ids: [] }))

    const build = await freshBuild(project, suite.openaiEnv())
    expect(build.error).toBeUndefined()
    expect(await folderText(project, 'dist')).not.toContain('pwned')
    // The journal's image was not kept: generated again.
    expect(suite.emulator.requests).toHaveLength(1)
    expect(build.logs).toMatch(new RegExp(`warn.*${SPEC}.*${entry.key.slice(0, 12)}.*${entry.key}-0\\.jpg.*width`))
    expect((await committedEntry(project)).sidecar.images[0].width).toBe(1024)
  })

  it('Journal.resume keeps only records that pass every check, and says why it dropped the others', async () => {
    const project = await builtProject({ n: 2 })
    const entry = await committedEntry(project)
    const store = new CacheStore(path.join(project.root, '.ai-image'))
    const journal = new Journal(store)
    const [good, other] = entry.sidecar.images as SidecarImage[]
    const write = (images: Record<string, unknown>) =>
      mkdir(path.dirname(journal.file(entry.key)), { recursive: true }).then(() =>
        writeFile(journal.file(entry.key), JSON.stringify({ key: entry.key, images, usage: { total_tokens: 1 }, created: 5, request_ids: ['r'] })),
      )
    await write({ 0: good, 1: other })
    expect([...(await journal.resume(entry.key)).kept.keys()].sort()).toEqual([0, 1])

    for (const bad of [
      { 0: good, 1: { ...other, width: 'NaN' } },
      { 0: good, 1: null },
      { 0: good, 1: { ...other, height: 1025 } }, // the header says 1024
      { 0: good, 1: { ...other, mime: 'text/html' } },
      { 0: good, 1: good }, // candidate 1 is not `<key>-0.png`
      { 0: good, '1.5': other },
    ]) {
      await write(bad)
      const resumed = await journal.resume(entry.key)
      expect([...resumed.kept.keys()]).toEqual([0])
      expect(Object.keys(resumed.state.images)).toEqual(['0'])
      expect(resumed.dropped.length).toBeGreaterThan(0)
    }
  })
})

describe('a derived manifest in node_modules/.cache (a poisoned CI cache)', () => {
  it('width, mime and placeholder values are checked: the warm build never emits what the manifest says unchecked', async () => {
    const project = await builtProject(
      { emit: { format: 'webp', placeholder: 'blur' } },
      { 'src/main.js': "import src, { width, height, placeholder } from './a.imgprompt.json'\nconsole.log('FACTS', src, width, height, placeholder)\n" },
    )
    const derivedDir = path.join(project.root, 'node_modules/.cache/unplugin-ai-image')
    const manifests = (await project.list('node_modules/.cache/unplugin-ai-image')).filter((f) => f.endsWith('.json'))
    expect(manifests).toHaveLength(1)
    const manifestPath = path.join(derivedDir, manifests[0]!)
    const honest = JSON.parse(await readFile(manifestPath, 'utf8'))

    for (const edit of [
      (m: any) => void (m.main.width = PAYLOAD),
      (m: any) => void (m.main.height = 1023), // the file's header says 1024
      (m: any) => void (m.main.mime = 'text/html'),
      (m: any) => void (m.placeholder = 'javascript:globalThis.pwned=1'),
    ]) {
      const edited = structuredClone(honest)
      edit(edited)
      await writeFile(manifestPath, JSON.stringify(edited))
      await rm(path.join(project.root, 'dist'), { recursive: true, force: true })
      const build = await tryViteBuild(project.root, frozenEnv())
      expect(build.error).toBeUndefined()
      const dist = await folderText(project, 'dist')
      expect(dist).not.toContain('pwned')
      // The bundler inlines the module's constants: the values of the checked entry.
      expect(dist).toMatch(/console\.log\("FACTS", "\/assets\/a-[\w-]+\.webp", 1024, 1024, "data:image\/(png|webp|jpeg);base64,[A-Za-z0-9+/=]+"\)/)
      expect((await project.list('dist/assets')).some((f) => f.endsWith('.bin'))).toBe(false)
    }
  })

  it('DerivedCache.read refuses records of the wrong type or range', async () => {
    const project = await suite.project({})
    const cache = new DerivedCache(path.join(project.root, 'derived'))
    const key = 'c'.repeat(64)
    const source = 'd'.repeat(64)
    const image = await png(32, 16, [1, 2, 3])
    await cache.write(key, source, undefined, { main: { data: image, width: 32, height: 16, format: 'png' }, variants: [], placeholder: undefined, flattened: false })
    expect((await cache.read(key, source))?.main?.width).toBe(32)
    const honest = JSON.parse(await readFile(cache.manifestPath(key), 'utf8'))
    for (const edit of [
      (m: any) => void (m.main.width = PAYLOAD),
      (m: any) => void (m.main.width = 1e9),
      (m: any) => void (m.main.height = -16),
      (m: any) => void (m.main.mime = 'text/html'),
      (m: any) => void (m.main.bytes = 'many'),
      (m: any) => void (m.placeholder = 42),
      (m: any) => void (m.placeholder = 'javascript:void 0'),
      (m: any) => void (m.variants = [null]),
    ]) {
      const edited = structuredClone(honest)
      edit(edited)
      await writeFile(cache.manifestPath(key), JSON.stringify(edited))
      expect(await cache.read(key, source)).toBeUndefined()
    }
  })
})

describe('image files of an entry', () => {
  it('a symbolic link to a file outside the cache is never emitted', async () => {
    const project = await builtProject({ output_format: 'jpeg' })
    const entry = await committedEntry(project)
    // Something private outside the cache, which a linked entry would publish in dist/.
    const secret = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#123456' } }).jpeg().toBuffer()
    await project.write('private/photo.jpg', secret)
    await rm(entry.imagePath())
    await symlink(path.join(project.root, 'private/photo.jpg'), entry.imagePath())
    await editSidecar(entry, (s) => agreeWith(s.images[0], secret))

    const frozen = await freshBuild(project, frozenEnv())
    expect(frozen.error?.message).toContain('CACHE_MISS_FROZEN')
    expectOneWarning(frozen.logs, entry.key, `${entry.key}-0.jpg`, /symbolic link/)
    for (const file of await project.list('dist')) expect((await project.read(`dist/${file}`)).equals(secret), file).toBe(false)
  })

  it('a link to /dev/zero is refused at once, without reading it', async () => {
    const project = await suite.project({})
    const { store, key } = await storeEntry(path.join(project.root, 'cache'))
    const file = path.join(store.folderOf(key), `${key}-0.png`)
    await rm(file)
    await symlink('/dev/zero', file)
    const started = Date.now()
    expect(await store.inspect(key)).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/-0\.png is a symbolic link/) })
    expect(await store.completeSidecar(key)).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(2_000)
  }, 10_000)

  it('a decompression bomb (header of 100000x100000, sidecar agreeing) is a miss naming the spec, before any decoder sees it', async () => {
    const project = await builtProject()
    const entry = await committedEntry(project)
    const bomb = bombPng(100_000, 100_000)
    await writeFile(entry.imagePath(), bomb)
    await editSidecar(entry, (s) => {
      agreeWith(s.images[0], bomb)
      s.images[0].width = 100_000
      s.images[0].height = 100_000
    })
    const frozen = await freshBuild(project, frozenEnv())
    expect(frozen.error?.message).toContain('CACHE_MISS_FROZEN')
    expect(frozen.error?.message).toContain(SPEC)
    expectOneWarning(frozen.logs, entry.key, `${entry.key}.json`, /images\[0\]\.width/)

    // The sidecar keeps its honest 1024x1024, and only the header lies.
    await editSidecar(entry, (s) => agreeWith(s.images[0], bomb))
    const again = await freshBuild(project, frozenEnv())
    expect(again.error?.message).toContain('CACHE_MISS_FROZEN')
    expectOneWarning(again.logs, entry.key, `${entry.key}-0.png`, /100000x100000/)
    expect(again.error?.message).not.toMatch(/pixel limit|Input image/)
  })

  it('HTML in an image entry is never shipped: not as .jpg, and no raw decoder error for .png', async () => {
    const html = Buffer.from('<!doctype html><html><body><script>globalThis.pwned = 1</script></body></html>\n')
    for (const format of ['jpeg', 'png'] as const) {
      const project = await builtProject({ output_format: format })
      const entry = await committedEntry(project)
      await writeFile(entry.imagePath(), html)
      await editSidecar(entry, (s) => agreeWith(s.images[0], html))
      const frozen = await freshBuild(project, frozenEnv())
      expect(frozen.error?.message, format).toContain('CACHE_MISS_FROZEN')
      expect(frozen.error?.message).not.toMatch(/unsupported image format|Input buffer/)
      expectOneWarning(frozen.logs, entry.key, entry.sidecar.images[0].file, /not a (PNG|JPEG)/i)
      expect(await folderText(project, 'dist')).not.toContain('<!doctype html><html><body><script>')
    }
  })
})

describe('store-level checks', () => {
  it('inspect and completeSidecar agree: the warm path trusts no value inspect would refuse', async () => {
    const project = await suite.project({})
    const { store, key } = await storeEntry(path.join(project.root, 'cache'), 2)
    expect((await store.inspect(key)).status).toBe('hit')
    expect(await store.completeSidecar(key)).toBeDefined()
    const sidecarPath = store.sidecarPath(key)
    const honest = JSON.parse(await readFile(sidecarPath, 'utf8'))
    const attacks: Array<(s: any) => void> = [
      (s) => void (s.images[0].width = PAYLOAD),
      (s) => void (s.images[0].width = 0),
      (s) => void (s.images[0].width = 1.5),
      (s) => void (s.images[0].height = 100_000),
      (s) => void (s.images[0].bytes = -1),
      (s) => void (s.images[0].sha256 = 'zz'),
      (s) => void (s.images[0].mime = 'image/svg+xml'),
      (s) => void (s.images[0].mime = 'image/jpeg'), // the file is named .png
      (s) => void (s.images[0].file = `${key}-1.png`),
      (s) => void (s.images[0].revised_prompt = 42),
      (s) => void (s.images = [null, null]),
      (s) => void s.images.pop(),
      (s) => void (s.images = 'all of them'),
      (s) => void (s.version = 99),
      (s) => void (s.endpoint = 'chat'),
      (s) => void (s.request = ['not', 'an', 'object']),
      (s) => void (s.request.n = 'two'),
      (s) => void (s.inputs = ['not-a-sha']),
      (s) => void (s.mask = 5),
      (s) => void (s.seed = { a: 1 }),
      (s) => void (s.provider = 'openai'),
      (s) => void (s.created = 'yesterday'),
      (s) => void (s.usage = [1, 2]),
      (s) => void (s.request_id = 7),
      (s) => void (s.revised_prompt = false),
      (s) => void (s.seed = 'another seed'), // changes the key material
      (s) => void (s.key = s.key.toUpperCase()),
    ]
    for (const [i, attack] of attacks.entries()) {
      const edited = structuredClone(honest)
      attack(edited)
      await writeFile(sidecarPath, JSON.stringify(edited))
      const found = await store.inspect(key)
      expect(found.status, `attack ${i}`).toBe('corrupt')
      expect((found as { reason: string }).reason, `attack ${i}`).toContain(key)
      expect(await store.completeSidecar(key), `attack ${i}`).toBeUndefined()
    }
    await writeFile(sidecarPath, JSON.stringify(honest))
    expect((await store.inspect(key)).status).toBe('hit')
  })

  it('a sidecar that is a symbolic link, or far too large, is not read', async () => {
    const project = await suite.project({})
    const { store, key } = await storeEntry(path.join(project.root, 'cache'))
    const honest = await readFile(store.sidecarPath(key), 'utf8')
    await writeFile(path.join(project.root, 'elsewhere.json'), honest)
    await rm(store.sidecarPath(key))
    await symlink(path.join(project.root, 'elsewhere.json'), store.sidecarPath(key))
    expect(await store.inspect(key)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('symbolic link') })
    await rm(store.sidecarPath(key))
    await writeFile(store.sidecarPath(key), honest.replace('"created"', `"padding": "${'x'.repeat(5 * 1024 * 1024)}",\n  "created"`))
    expect(await store.inspect(key)).toMatchObject({ status: 'corrupt', reason: expect.stringContaining('too large') })
  })
})

describe('entry.ts: the one checked reader, for every cache backend', () => {
  it('parseSidecar gives checked values or a reason naming the file; checkImageBytes checks SHA-256, format and size', async () => {
    const project = await suite.project({})
    const { store, key } = await storeEntry(path.join(project.root, 'cache'))
    const text = await readFile(store.sidecarPath(key), 'utf8')
    const parsed = parseSidecar(text, key)
    expect(parsed.ok).toBe(true)
    const sidecar = (parsed as { value: Sidecar }).value
    // A fresh object: unknown fields are not carried over.
    expect(parseSidecar(text.replace('"created"', '"extra": "<script>",\n  "created"'), key)).toMatchObject({ ok: true, value: sidecar })
    expect(Object.keys(sidecar).sort()).toEqual(['created', 'endpoint', 'images', 'inputs', 'key', 'mask', 'provider', 'request', 'request_id', 'revised_prompt', 'seed', 'usage', 'version'])
    expect(parseSidecar(text, 'f'.repeat(64))).toMatchObject({ ok: false, reason: expect.stringMatching(/^f{64}\.json: the sidecar does not describe this key/) })
    expect(parseSidecar('{', key)).toMatchObject({ ok: false, reason: `${key}.json: the sidecar is not valid JSON` })
    expect(parseSidecar(text.replace('"request": {', '"request": { "__proto__": { "polluted": 1 },'), key).ok).toBe(false)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()

    const image = sidecar.images[0]!
    const bytes = await readFile(path.join(store.folderOf(key), image.file))
    expect(checkImageBytes(image, bytes)).toBeUndefined()
    expect(checkImageBytes({ ...image, width: 65 }, bytes)).toMatch(/is 64x48 by its header, but its record says 65x48/)
    expect(checkImageBytes({ ...image, mime: 'image/webp' }, bytes)).toMatch(/is a PNG image, but its record says image\/webp/)
    expect(checkImageBytes(image, Buffer.concat([bytes, Buffer.from([0])]))).toMatch(/SHA-256/)
  })
})

describe('module code', () => {
  it('serializes every value with JSON and refuses numbers that are not positive integers', () => {
    const facts = { images: [{ url: '"/a.png"', width: 2, height: 3 }], pick: 0, alt: 'x', key: 'k', srcset: [] as Array<[string, number]>, placeholder: undefined }
    expect(renderModule(facts)).toContain('export const width = 2;')
    for (const width of [PAYLOAD, Number.NaN, Infinity, 0, -1, 1.5] as unknown as number[]) {
      expect(() => renderModule({ ...facts, images: [{ url: '"/a.png"', width, height: 3 }] })).toThrow(/width/)
    }
    expect(() => renderModule({ ...facts, srcset: [['"/a-1w.png"', PAYLOAD as unknown as number]] })).toThrow(/srcset/)
  })
})

/** A real entry (PNG candidates, a key its request hashes to) written through the store. */
async function storeEntry(dir: string, n = 1): Promise<{ store: CacheStore; key: string }> {
  const store = new CacheStore(dir)
  const material: KeyMaterial = {
    endpoint: 'generations',
    request: { model: 'gpt-image-2', n, prompt: `an entry in ${dir}`, size: '64x48', quality: 'auto', output_format: 'png' },
    inputs: [],
    mask: null,
    seed: null,
  }
  const key = computeKey(material)
  const images: SidecarImage[] = []
  for (let i = 0; i < n; i++) images.push(await store.writeImage(key, i, await png(64, 48, [i * 60, 100, 200]), { mime: 'image/png', width: 64, height: 48 }))
  await store.commit(sidecarFor(key, material, { provider: { kind: 'openai' }, created: 1_700_000_000, revised_prompt: null, usage: { total_tokens: 3 }, request_id: 'req_1', images }))
  return { store, key }
}
