/**
 * The gallery in a real `vite dev` server (the plugin from source, the emulator for the API), over HTTP as
 * its page and as other clients speak to it: its path under Vite's `base` and its URL printed beside Vite's;
 * requests of other sites and requests without the per-server token refused (nothing written, nothing
 * generated); named specs and virtual imports read-only; an action that spends refused while generation is
 * frozen or past the budget, which holds across the session; a generation it asks for made through the front
 * door even with no page of the app open, its progress and partial frames on the live feed; and no gallery in
 * a build or in `vite preview`.
 */
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { preview } from 'vite'
import { describe, expect, it } from 'vitest'
import aiImage from '../src/vite.js'
import { answers } from './emulator/index.js'
import { act, fillCache, followFeed, GALLERY, send, tokenOf } from './helpers/dev-gallery.js'
import { startDevServer, type DevServerHandle } from './helpers/dev-server.js'
import { withEnv } from './helpers/env.js'
import { cardHtml, embeddedState } from './helpers/gallery.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()
const MODEL = { model: 'gpt-image-2', size: '1024x1024' }
const QUERY = 'virtual:ai-image?prompt=a+lighthouse&model=gpt-image-2&size=1024x1024'
const ONE = spec({ prompt: 'one fox', ...MODEL })
const PAIR = spec({ prompt: 'two pears', ...MODEL, n: 2 })
const FILES = {
  'src/main.js': `import one from './one.imgprompt.json'\nimport lighthouse from '${QUERY}'\nimport named from 'virtual:ai-image/named'\nexport const shown = [one, lighthouse, named]\n`,
  'src/one.imgprompt.json': ONE,
  'src/pair.imgprompt.json': PAIR,
}
const OPTIONS = { images: { named: { prompt: 'a named spec', ...MODEL } } }

async function withDev(root: string, run: (dev: DevServerHandle) => Promise<void>, options: Record<string, unknown> = OPTIONS, extra = {}, env = suite.openaiEnv()) {
  await withEnv(env, async () => {
    const dev = await startDevServer(root, options, extra)
    try {
      await run(dev)
    } finally {
      await dev.close()
    }
  })
}

async function cachedProject(files: Record<string, string> = FILES) {
  const project = await suite.project(files)
  await fillCache(project.root, suite.openaiEnv(), OPTIONS)
  suite.emulator.reset()
  return project
}

async function pageOf(dev: DevServerHandle, base = '') {
  const page = await send(dev, `${base}${GALLERY}`)
  expect(page.status, page.text).toBe(200)
  return { html: page.text, token: tokenOf(page.text) }
}

const CROSS_SITE = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }
const SAME_SITE = { origin: 'http://localhost:1', 'sec-fetch-site': 'same-site' }

describe('the gallery in vite dev', () => {
  it("serves the page with every spec under Vite's base, and prints its URL beside Vite's", async () => {
    const project = await cachedProject()
    await withDev(project.root, async (dev) => {
      dev.server.printUrls()
      const local = dev.server.resolvedUrls!.local[0]!
      expect(local).toMatch(/\/app\/$/)
      expect(dev.logs.lines).toContain(`info   ➜  AI image gallery: ${local}__ai-image/`)

      const page = await send(dev, `/app${GALLERY}`)
      expect(page.status).toBe(200)
      expect(page.type).toBe('text/html; charset=utf-8')
      const state = embeddedState(page.text)
      expect(state.mode).toBe('dev')
      expect(state.specs.map((card) => [card.label, card.status, card.editable])).toEqual([
        ['src/one.imgprompt.json', 'cached', true],
        ['src/pair.imgprompt.json', 'cached', true],
        ['virtual:ai-image/named', 'cached', false],
        [QUERY, 'cached', false],
      ])
      // Candidates are the dev server's own image URLs (under the base), served verified from the cache.
      const src = state.specs[1]!.candidates[1]!.src!
      expect(src).toMatch(/^\/app\/@ai-image\/[0-9a-f]{64}-1-[0-9a-f]{12}\.png$/)
      const image = await send(dev, src)
      expect(image.status).toBe(200)
      expect(image.type).toBe('image/png')
      expect(page.text).toContain('<meta name="ai-image-api" content="/app/__ai-image/">')
      tokenOf(page.text)
      // The path without its slash leads to the page; the SPA fallback never answers the gallery's paths.
      const bare = await fetch(`${dev.origin}/app/__ai-image`, { redirect: 'manual' })
      expect([bare.status, bare.headers.get('location')]).toEqual([308, '/app/__ai-image/'])
      expect((await send(dev, `/app${GALLERY}nothing-here`)).status).toBe(404)
      expect((await send(dev, GALLERY)).text).not.toContain('ai-image-token')
    }, OPTIONS, { base: '/app/' })
  })

  it('refuses pages of other sites and requests without the token: nothing written, nothing generated', async () => {
    const project = await cachedProject()
    await withDev(project.root, async (dev) => {
      const { token } = await pageOf(dev)
      for (const [kind, headers] of [['cross-site', CROSS_SITE], ['same-site', SAME_SITE], ['foreign Origin only', { origin: 'http://evil.example' }]] as const) {
        const page = await send(dev, GALLERY, { headers })
        expect(page.status, kind).toBe(403)
        expect(page.text).not.toContain(token)
        expect((await send(dev, `${GALLERY}events`, { headers })).status, kind).toBe(403)
        expect((await send(dev, `${GALLERY}card?spec=src%2Fone.imgprompt.json`, { headers: { ...headers, 'x-ai-image-token': token } })).status, kind).toBe(403)
        // Even with the token (which such a page cannot read), an action of another site is refused.
        for (const action of ['pick', 'another', 'more', 'generate']) {
          const answer = await act(dev, token, action, { spec: 'src/pair.imgprompt.json', index: 1, confirm: true }, headers)
          expect(answer.status, `${kind} ${action}`).toBe(403)
        }
      }
      // A form or a simple fetch cannot send the header: no token, no action.
      const plain = await send(dev, `${GALLERY}api/another`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ spec: 'src/one.imgprompt.json', confirm: true }) })
      expect(plain.status).toBe(403)
      expect((await act(dev, '', 'pick', { spec: 'src/pair.imgprompt.json', index: 1 })).status).toBe(403)
      expect((await act(dev, `${token}x`, 'pick', { spec: 'src/pair.imgprompt.json', index: 1 })).status).toBe(403)
      expect((await send(dev, `${GALLERY}card?spec=src%2Fone.imgprompt.json`)).status).toBe(403)
      // With the token: what is not a JSON action is refused, saying why.
      const asText = await send(dev, `${GALLERY}api/pick`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-ai-image-token': token }, body: '{}' })
      expect([asText.status, asText.json().error]).toEqual([415, 'the body must be JSON (content-type: application/json)'])
      const huge = await act(dev, token, 'save', { spec: 'src/one.imgprompt.json', fields: { prompt: 'x'.repeat(300_000) } })
      expect(huge.status).toBe(413)
      const broken = await send(dev, `${GALLERY}api/pick`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ai-image-token': token }, body: '{"spec":' })
      expect([broken.status, broken.json().error]).toEqual([400, 'the body is not valid JSON'])
      expect((await send(dev, `${GALLERY}api/pick`, { headers: { 'x-ai-image-token': token } })).status).toBe(405)
      const unknown = await act(dev, token, 'delete', { spec: 'src/one.imgprompt.json' })
      expect([unknown.status, unknown.json().error]).toEqual([400, expect.stringMatching(/"delete" is no gallery action/)])
      // A path outside the project is no spec the gallery knows.
      const outside = await act(dev, token, 'pick', { spec: '../../etc/passwd', index: 0 })
      expect([outside.status, outside.json().error]).toEqual([400, expect.stringMatching(/no spec of this name/)])

      expect((await project.read('src/one.imgprompt.json')).toString()).toBe(ONE)
      expect((await project.read('src/pair.imgprompt.json')).toString()).toBe(PAIR)
      await suite.emulator.idle()
      expect(suite.emulator.requests).toEqual([])
      // The page's own requests still work.
      const picked = await act(dev, token, 'pick', { spec: 'src/pair.imgprompt.json', index: 1 })
      expect(picked.json()).toMatchObject({ ok: true, result: { written: true, generate: false } })
    })
  })

  it('named specs and virtual imports are read-only; spending is refused past the budget of the session and while frozen', async () => {
    const project = await cachedProject()
    await withDev(project.root, async (dev) => {
      const { token } = await pageOf(dev)
      for (const label of ['virtual:ai-image/named', QUERY]) {
        const answer = await act(dev, token, 'another', { spec: label, confirm: true })
        expect([answer.status, answer.json().error], label).toEqual([400, expect.stringMatching(/is read-only in the gallery: it is defined in (the plugin option `images`|the source files that import it)/)])
      }
      // `more` on the one-image spec asks for 2 images: more than budget.maxImages = 1 allows. Nothing is written.
      const more = await act(dev, token, 'more', { spec: 'src/one.imgprompt.json' })
      expect([more.status, more.json().code, more.json().error]).toEqual([400, 'BUDGET_EXCEEDED', expect.stringMatching(/2 more images would pass budget\.maxImages = 1.*Nothing was written/)])
      // One image fits: the estimate first, then, confirmed, the seed is written and the image generated.
      const plan = await act(dev, token, 'another', { spec: 'src/one.imgprompt.json' })
      expect(plan.json()).toMatchObject({ ok: true, result: { written: false, generate: false, estimate: { images: 1 } } })
      const done = await act(dev, token, 'another', { spec: 'src/one.imgprompt.json', confirm: true })
      expect(done.json()).toMatchObject({ ok: true, result: { written: true, generate: true } })
      await expect.poll(() => suite.emulator.requests.length, { timeout: 20_000 }).toBe(1)
      await expect.poll(async () => (await send(dev, `${GALLERY}card?spec=src%2Fone.imgprompt.json`, { headers: { 'x-ai-image-token': token } })).text).toMatch(/data-status="cached"/)
      // The budget is the session's: the next image is refused before anything is written or sent.
      const before = (await project.read('src/one.imgprompt.json')).toString()
      const again = await act(dev, token, 'another', { spec: 'src/one.imgprompt.json', confirm: true })
      expect([again.status, again.json().code]).toEqual([400, 'BUDGET_EXCEEDED'])
      expect((await project.read('src/one.imgprompt.json')).toString()).toBe(before)
      await suite.emulator.idle()
      expect(suite.emulator.requests).toHaveLength(1)
    }, { ...OPTIONS, budget: { maxImages: 1 } })

    // CI set: generation is frozen, and the gallery says so before writing anything.
    await withDev(project.root, async (dev) => {
      const { token } = await pageOf(dev)
      const before = (await project.read('src/pair.imgprompt.json')).toString()
      const frozen = await act(dev, token, 'another', { spec: 'src/pair.imgprompt.json', confirm: true })
      expect([frozen.status, frozen.json().code, frozen.json().error]).toEqual([400, 'CACHE_MISS_FROZEN', expect.stringMatching(/generation is frozen/)])
      expect((await project.read('src/pair.imgprompt.json')).toString()).toBe(before)
      // A free action is still written.
      expect((await act(dev, token, 'pick', { spec: 'src/pair.imgprompt.json', index: 0 })).json()).toMatchObject({ ok: true, result: { written: true } })
    }, OPTIONS, {}, { ...suite.openaiEnv(), CI: '1' })
    expect(suite.emulator.requests).toHaveLength(1)
  })

  it('generates what the page asks for through the front door, with no page of the app open: progress and partial frames on the feed', async () => {
    const streamed = spec({ prompt: 'a slow aurora', ...MODEL, stream: true, partial_images: 2 })
    const project = await cachedProject({ 'src/aurora.imgprompt.json': streamed, 'src/missing.imgprompt.json': spec({ prompt: 'never generated', ...MODEL }) })
    await project.write('src/missing.imgprompt.json', spec({ prompt: 'not generated yet', ...MODEL }))
    let begin!: () => void
    suite.emulator.enqueue(answers.slowStream(300, new Promise<void>((resolve) => (begin = resolve))))
    await withDev(project.root, async (dev) => {
      const { html, token } = await pageOf(dev)
      const oldKey = embeddedState(html).specs.find((card) => card.label === 'src/aurora.imgprompt.json')!.key
      const feed = await followFeed(dev)
      try {
        const card = () => send(dev, `${GALLERY}card?spec=src%2Faurora.imgprompt.json`, { headers: { 'x-ai-image-token': token } }).then((a) => a.text)
        const answer = await act(dev, token, 'another', { spec: 'src/aurora.imgprompt.json', confirm: true })
        expect(answer.json()).toMatchObject({ ok: true, result: { written: true, generate: true } })
        const key = answer.json().result!.key as string
        expect(key).not.toBe(oldKey)
        // Started: the card shows it generating (0 of 1), before the first frame.
        await feed.next((e) => e.event === 'spec' && e.data.spec === 'src/aurora.imgprompt.json')
        await expect.poll(card).toMatch(/data-status="generating"[\s\S]*generating: 0 of 1 images/)
        begin()
        const partial = await feed.next((e) => e.event === 'partial')
        expect(partial.data).toEqual({ spec: 'src/aurora.imgprompt.json', index: 0, src: expect.stringMatching(new RegExp(`^/__ai-image/partial/${key}-0-\\d+\\.png$`)) })
        const frame = await send(dev, partial.data.src as string)
        expect([frame.status, frame.type]).toEqual([200, 'image/png'])
        await feed.next((e) => e.event === 'progress' && e.data.done === 1)
        await expect.poll(card, { timeout: 20_000 }).toMatch(/data-status="cached"/)
        expect(cardHtml(await card(), 'src/aurora.imgprompt.json')).toContain(key.slice(0, 16))
        // The frames of an ended generation are gone.
        expect((await send(dev, partial.data.src as string)).status).toBe(404)
        expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['a slow aurora'])

        // A missing spec: `generate` shows its estimate, and generates once confirmed (nothing written).
        const missing = (await project.read('src/missing.imgprompt.json')).toString()
        const plan = await act(dev, token, 'generate', { spec: 'src/missing.imgprompt.json' })
        expect(plan.json()).toMatchObject({ ok: true, result: { written: false, generate: false, cached: false, estimate: { images: 1 } } })
        expect(suite.emulator.requests).toHaveLength(1)
        expect((await act(dev, token, 'generate', { spec: 'src/missing.imgprompt.json', confirm: true })).json()).toMatchObject({ ok: true, result: { generate: true } })
        await expect.poll(() => suite.emulator.requests.map((r) => r.body.prompt), { timeout: 20_000 }).toEqual(['a slow aurora', 'not generated yet'])
        expect((await project.read('src/missing.imgprompt.json')).toString()).toBe(missing)
        // Cached now: generating it again is nothing to do.
        await expect.poll(async () => (await act(dev, token, 'generate', { spec: 'src/missing.imgprompt.json', confirm: true })).json().result, { timeout: 20_000 }).toMatchObject({ cached: true, generate: false })
      } finally {
        begin()
        feed.close()
      }
    })
    expect(suite.emulator.requests).toHaveLength(2)
  })

  it('a spec file that changes on disk refreshes its card; one that appears reloads the page', async () => {
    const project = await cachedProject({ 'src/one.imgprompt.json': ONE })
    await withDev(project.root, async (dev) => {
      await pageOf(dev)
      const feed = await followFeed(dev)
      try {
        await project.write('src/one.imgprompt.json', ONE.replace('one fox', 'one red fox'))
        await feed.next((e) => e.event === 'spec' && e.data.spec === 'src/one.imgprompt.json')
        await project.write('src/two.imgprompt.json', ONE)
        await feed.next((e) => e.event === 'specs')
      } finally {
        feed.close()
      }
    })
  })

  it("lists importers the dev server's module graph knows (an alias) beside those read from the sources", async () => {
    const project = await cachedProject({ ...FILES, 'src/aliased.js': "import one from '@art/one.imgprompt.json'\nexport default one\n" })
    await withDev(project.root, async (dev) => {
      const importersOf = async () => embeddedState((await pageOf(dev)).html).specs.find((card) => card.label === 'src/one.imgprompt.json')!.importers
      // Read from the sources: the relative import only (an alias needs the bundler's resolver).
      expect(await importersOf()).toEqual(['src/main.js'])
      expect((await send(dev, '/src/aliased.js')).status).toBe(200)
      await expect.poll(importersOf).toEqual(['src/aliased.js', 'src/main.js'])
    }, OPTIONS, { resolve: { alias: { '@art': path.join(project.root, 'src') } } })
  })

  it('is absent from builds and from vite preview', async () => {
    const project = await cachedProject({ ...FILES, 'src/main.js': `import one from './one.imgprompt.json'\ndocument.body.append(one)\n` })
    await withEnv({ ...suite.openaiEnv(), CI: '1' }, async () => {
      await viteBuild(project.root, OPTIONS)
      const built = await readdir(path.join(project.root, 'dist'), { recursive: true })
      for (const file of built.filter((name) => /\.(js|html)$/.test(name))) {
        expect(await readFile(path.join(project.root, 'dist', file), 'utf8')).not.toMatch(/__ai-image|ai-image-token/)
      }
      const server = await preview({ root: project.root, configFile: false, logLevel: 'silent', plugins: [aiImage(OPTIONS)], preview: { host: '127.0.0.1', port: 0 } })
      try {
        const address = server.httpServer.address()
        const port = typeof address === 'object' && address ? address.port : 0
        const answer = await fetch(`http://127.0.0.1:${port}${GALLERY}`)
        const text = await answer.text()
        expect(text).not.toContain('ai-image-token')
        expect(text).not.toContain('data-mode="dev"')
      } finally {
        await server.close()
      }
    })
  })
})
