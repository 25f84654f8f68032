/**
 * The gallery page's dev mode in real Chromium, against a small HTTP server that speaks the gallery's API
 * as the dev server will (`GET <base>`, `GET <base>card?spec=`, `GET <base>events`, `POST <base>api/<action>`
 * with `x-ai-image-token`; see the report of issue #15), backed by the real actions on a real project. It
 * proves the page's part of the contract: a pick writes exactly `pick` and the card shows it; an action that
 * spends shows its estimate and writes only once confirmed; an invalid edit shows the build's error and
 * writes nothing; an event from the server refreshes a card; all of it under the page's own CSP.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { parseAction, performAction } from '../src/core/gallery/actions.js'
import { renderCard, renderGalleryPage } from '../src/core/gallery/page/render.js'
import { projectView, type ProjectView } from '../src/core/gallery/project-view.js'
import { buildCard, buildGalleryState, cardContext, type StateOptions } from '../src/core/gallery/state.js'
import { ImageService } from '../src/core/service.js'
import { chromiumSuite } from './helpers/chromium.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const browser = chromiumSuite()
const BASE = '/__ai-image/'
const TOKEN = 'test-token-of-this-server'
const SMALL = { model: 'dall-e-2', size: '256x256' }
const silent = { info() {}, warn() {}, error() {} }

interface ContractServer {
  origin: string
  /** Send a server-sent event to every open page. */
  send(event: string, data: unknown): void
  /** Bodies of the POSTs received. */
  posts: Array<{ action: string; body: unknown }>
  close(): Promise<void>
}

async function contractServer(view: ProjectView): Promise<ContractServer> {
  const options: StateOptions = {
    mode: 'dev',
    projectName: 'app',
    imageSource: ({ key, index }) => `${BASE}img/${key}-${index}`,
  }
  const streams = new Set<ServerResponse>()
  const posts: ContractServer['posts'] = []
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(value))
  }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && url.pathname === BASE) {
      const state = await buildGalleryState(view, options)
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "frame-ancestors 'none'" })
      return res.end(renderGalleryPage(state, { apiBase: BASE, token: TOKEN }))
    }
    if (req.method === 'GET' && url.pathname.startsWith(`${BASE}img/`)) {
      const [key, index] = url.pathname.slice(`${BASE}img/`.length).split('-')
      const read = await view.readEntry(key!)
      const image = read.status === 'read' ? read.images[Number(index)] : undefined
      if (!image || !('data' in image)) return json(res, 404, {})
      res.writeHead(200, { 'content-type': image.record.mime })
      return res.end(image.data)
    }
    // An EventSource cannot send headers: the stream changes nothing and other sites cannot read it (no CORS).
    if (req.method === 'GET' && url.pathname === `${BASE}events`) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
      res.write(': open\n\n')
      streams.add(res)
      req.on('close', () => streams.delete(res))
      return
    }
    const known = url.pathname === `${BASE}card` || url.pathname.startsWith(`${BASE}api/`)
    if (!known) return json(res, 404, {})
    if (req.headers['x-ai-image-token'] !== TOKEN) return json(res, 403, { ok: false, error: 'no token' })
    if (req.method === 'GET' && url.pathname === `${BASE}card`) {
      const label = url.searchParams.get('spec')
      const found = (await view.discover()).find((s) => s.label === label)
      if (!found) return json(res, 404, {})
      const card = await buildCard(view, found, await cardContext(view, options))
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      return res.end(renderCard(card, 'dev'))
    }
    if (req.method === 'POST' && url.pathname.startsWith(`${BASE}api/`)) {
      const action = url.pathname.slice(`${BASE}api/`.length)
      let text = ''
      for await (const chunk of req) text += String(chunk)
      const body = JSON.parse(text) as Record<string, unknown>
      posts.push({ action, body })
      try {
        const result = await performAction(view, parseAction(action, body), { confirm: body.confirm === true, random: () => 31337 })
        return json(res, 200, { ok: true, result })
      } catch (error) {
        return json(res, 400, { ok: false, error: view.describeError(error) })
      }
    }
    json(res, 404, {})
  }
  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => json(res, 500, { ok: false, error: String(error) })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    send(event, data) {
      for (const stream of streams) stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    },
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.end()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const PEARS = '{\n  "prompt": "two pears",\n  "model": "dall-e-2",\n  "size": "256x256",\n  "n": 2,\n  "pick": 0\n}\n'

describe('the gallery page against its API, in Chromium', () => {
  it('pick writes exactly pick; another shows its estimate and writes a seed once confirmed; a bad edit shows the error', async () => {
    const project = await suite.project({
      'src/pears.imgprompt.json': PEARS,
      'src/one.imgprompt.json': spec({ prompt: 'one fox', ...SMALL }),
    })
    const service = new ImageService({ provider: 'openai' }, { root: project.root, env: suite.emulator.openaiEnv(), sink: silent })
    const view = projectView(service)
    await service.generateAll((await view.discover()).map((s) => s.ref))
    const server = await contractServer(view)
    const page = await browser.newPage()
    const problems: string[] = []
    const failed: string[] = []
    page.on('console', (message) => message.type() === 'error' && !message.text().startsWith('Failed to load resource') && problems.push(message.text()))
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('response', (response) => {
      const url = new URL(response.url())
      if (response.status() >= 400 && url.pathname.startsWith(BASE)) failed.push(`${response.status()} ${url.pathname}`)
    })
    try {
      await page.goto(`${server.origin}${BASE}`, { waitUntil: 'load' })
      const pears = page.locator('article[data-spec="src/pears.imgprompt.json"]')
      await expect.poll(() => pears.locator('[data-candidate] img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth))).toEqual([256, 256])

      // Pick: written at once (it spends nothing), exactly `pick`, and the card is re-rendered with it.
      await pears.locator('[data-candidate="1"] [data-action="pick"]').click()
      await expect.poll(async () => (await project.read('src/pears.imgprompt.json')).toString()).toBe(PEARS.replace('"pick": 0', '"pick": 1'))
      await expect.poll(() => page.locator('article[data-spec="src/pears.imgprompt.json"] figure.picked').getAttribute('data-candidate')).toBe('1')

      // Another one: the estimate first, nothing written; confirmed, the seed.
      const one = page.locator('article[data-spec="src/one.imgprompt.json"]')
      expect(await one.locator('.actions .estimate').first().textContent()).toBe('1 image, $0.016 est.')
      await one.locator('[data-action="another"]').click()
      const confirm = one.locator('[data-confirm-box]')
      await expect.poll(() => confirm.isVisible()).toBe(true)
      expect(await confirm.locator('[data-confirm-text]').textContent()).toBe('This generates 1 image: $0.016 est.')
      expect(JSON.parse((await project.read('src/one.imgprompt.json')).toString())).not.toHaveProperty('seed')
      await confirm.locator('[data-confirm="yes"]').click()
      await expect.poll(async () => JSON.parse((await project.read('src/one.imgprompt.json')).toString())).toEqual({ prompt: 'one fox', ...SMALL, seed: 31337 })
      expect(server.posts.map((p) => [p.action, (p.body as { confirm?: boolean }).confirm ?? false])).toEqual([
        ['pick', false],
        ['another', false],
        ['another', true],
      ])

      // An edit the build refuses: its message in the card, the file as it was.
      const before = (await project.read('src/one.imgprompt.json')).toString()
      const card = page.locator('article[data-spec="src/one.imgprompt.json"]')
      await card.locator('details.edit summary').click()
      await card.locator('input[data-field="size"]').fill('999x999')
      await card.locator('[data-action="save"]').click()
      await expect.poll(() => card.locator('[data-message]').textContent()).toMatch(/SPEC_INVALID src\/one\.imgprompt\.json: field "size" "999x999" is not allowed for dall-e-2/)
      expect((await project.read('src/one.imgprompt.json')).toString()).toBe(before)

      // A change the server announces refreshes that card.
      await project.write('src/pears.imgprompt.json', PEARS)
      server.send('spec', { spec: 'src/pears.imgprompt.json' })
      await expect.poll(() => page.locator('article[data-spec="src/pears.imgprompt.json"] figure.picked').getAttribute('data-candidate')).toBe('0')
      // The refused edit's 400 is the only failed request of the gallery.
      expect(failed).toEqual([`400 ${BASE}api/save`])
      expect(problems).toEqual([])
    } finally {
      await page.close()
      await server.close()
      await service.close()
    }
  })
})
