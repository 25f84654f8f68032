/**
 * The gallery of `vite dev` in real Chromium (Debian's `chromium` driven by playwright-core; a missing
 * Chromium fails the test), on a vanilla app (no framework: the gallery assumes none), against the emulator:
 *
 * - a pick writes exactly `pick` into the spec file, and the app open in a second tab shows the new image
 *   (Vite's HMR, from the file the gallery wrote); nothing is requested from the API;
 * - "another one" shows its estimate, writes a new `seed` once confirmed, shows the generation live (its
 *   progress and a streamed partial frame) and bills exactly one image, although the app's tab reloads the
 *   same spec meanwhile; the app then shows the new image;
 * - a page of another site (and one of another port of the same host) cannot make the gallery act or
 *   generate, whatever it tries (fetch with and without CORS, a form, a frame, an event stream): zero
 *   requests to the API, spec files unchanged, the token never readable;
 * - the playground's gallery, for the README: with `AI_IMAGE_SCREENSHOTS=<dir>` the test writes
 *   `<dir>/gallery-dev.png` and `<dir>/gallery-dev-confirm.png` (`AI_IMAGE_SCREENSHOTS=docs npx vitest run
 *   test/gallery-dev-browser.test.ts` refreshes the committed ones).
 */
import { cp, mkdir, symlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { answers } from './emulator/index.js'
import { chromiumSuite } from './helpers/chromium.js'
import { fillCache, GALLERY } from './helpers/dev-gallery.js'
import { startDevServer, type DevServerHandle } from './helpers/dev-server.js'
import { withEnv } from './helpers/env.js'
import { runCli } from './helpers/gallery.js'
import { makeProject, spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const browser = chromiumSuite()
const REPO = fileURLToPath(new URL('..', import.meta.url))

const MODEL = { model: 'gpt-image-2', size: '1024x1024' }
/** A vanilla app: one `<img>` per spec, re-rendered when its module is hot-updated. */
const MAIN = `import pears from './pears.imgprompt.json'
import fox from './fox.imgprompt.json'
const show = (id, src) => Object.assign(document.getElementById(id) ?? document.body.appendChild(Object.assign(document.createElement('img'), { id })), { src })
show('pears', pears)
show('fox', fox)
if (import.meta.hot) import.meta.hot.accept()
`
const PEARS = '{\n  "prompt": "two pears",\n  "model": "gpt-image-2",\n  "size": "1024x1024",\n  "n": 2,\n  "pick": 0\n}\n'
const FOX = '{\n  "prompt": "a fox in the snow",\n  "model": "gpt-image-2",\n  "size": "1024x1024",\n  "stream": true,\n  "partial_images": 2\n}\n'

async function app() {
  const project = await suite.project({ 'src/main.js': MAIN, 'src/pears.imgprompt.json': PEARS, 'src/fox.imgprompt.json': FOX })
  await fillCache(project.root, suite.openaiEnv())
  suite.emulator.reset()
  return project
}

async function withDev<T>(root: string, run: (dev: DevServerHandle) => Promise<T>): Promise<T> {
  return withEnv(suite.openaiEnv(), async () => {
    const dev = await startDevServer(root)
    try {
      return await run(dev)
    } finally {
      await dev.close()
    }
  })
}

/** Fails the test on any script error of the page (the gallery's CSP admits only its own script). */
function watchErrors(page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(error.message))
  page.on('console', (message) => message.type() === 'error' && !message.text().startsWith('Failed to load resource') && problems.push(message.text()))
  return problems
}

/** The path and decoded width of the app's `<img id>`, once it is loaded. */
const imageOf = (page: Page, id: string) =>
  page.evaluate(`((img) => img && img.complete ? { src: new URL(img.src).pathname, width: img.naturalWidth } : null)(document.getElementById(${JSON.stringify(id)}))`) as Promise<{ src: string; width: number } | null>

describe('the gallery of vite dev in Chromium', () => {
  it('pick writes exactly pick, and the app in a second tab shows the new image', async () => {
    const project = await app()
    await withDev(project.root, async (dev) => {
      const appTab = await browser.newPage()
      const gallery = await browser.newPage()
      const problems = watchErrors(gallery)
      try {
        await appTab.goto(dev.origin, { waitUntil: 'load' })
        await expect.poll(() => imageOf(appTab, 'pears')).toMatchObject({ src: expect.stringMatching(/^\/@ai-image\/[0-9a-f]{64}-0-/), width: 1024 })

        await gallery.goto(`${dev.origin}${GALLERY}`, { waitUntil: 'load' })
        const card = gallery.locator('article[data-spec="src/pears.imgprompt.json"]')
        const second = await card.locator('[data-candidate="1"] img').getAttribute('src')
        expect(second).toMatch(/^\/@ai-image\/[0-9a-f]{64}-1-[0-9a-f]{12}\.png$/)
        await card.locator('[data-candidate="1"] [data-action="pick"]').click()

        // Exactly `pick` changed, byte for byte; the app's tab shows candidate 1 (HMR), and so does the card.
        await expect.poll(async () => (await project.read('src/pears.imgprompt.json')).toString()).toBe(PEARS.replace('"pick": 0', '"pick": 1'))
        await expect.poll(() => imageOf(appTab, 'pears'), { timeout: 20_000 }).toEqual({ src: second, width: 1024 })
        await expect.poll(() => gallery.locator('article[data-spec="src/pears.imgprompt.json"] figure.picked').getAttribute('data-candidate')).toBe('1')
        await suite.emulator.idle()
        expect(suite.emulator.requests).toEqual([])
        expect(problems).toEqual([])
      } finally {
        await appTab.close()
        await gallery.close()
      }
    })
  })

  it('another one shows its estimate, writes a new seed, shows the generation live and bills one image; the app shows it', async () => {
    const project = await app()
    let begin!: () => void
    // The stream begins when the test says (it checks the card is generating first); each frame then takes 1.5 s.
    suite.emulator.enqueue(answers.slowStream(1_500, new Promise<void>((resolve) => (begin = resolve))))
    await withDev(project.root, async (dev) => {
      const appTab = await browser.newPage()
      const gallery = await browser.newPage()
      const problems = watchErrors(gallery)
      try {
        await appTab.goto(dev.origin, { waitUntil: 'load' })
        await expect.poll(() => imageOf(appTab, 'fox')).toMatchObject({ width: 1024 })
        const before = (await imageOf(appTab, 'fox'))!.src

        await gallery.goto(`${dev.origin}${GALLERY}`, { waitUntil: 'load' })
        const card = () => gallery.locator('article[data-spec="src/fox.imgprompt.json"]')
        await card().locator('[data-action="another"]').click()
        const confirm = card().locator('[data-confirm-box]')
        await expect.poll(() => confirm.isVisible()).toBe(true)
        // gpt-image-2 is priced by its output tokens (#12): quality auto as high at 1024x1024 ($0.211), the prompt
        // and two previews of 100 tokens each.
        expect(await confirm.locator('[data-confirm-text]').textContent()).toBe('This generates 1 image: $0.217 est.')
        expect((await project.read('src/fox.imgprompt.json')).toString()).toBe(FOX)
        await confirm.locator('[data-confirm="yes"]').click()

        // The file gains a seed and nothing else.
        await expect.poll(async () => (await project.read('src/fox.imgprompt.json')).toString()).toMatch(/"seed": \d+\n}\n$/)
        const written = (await project.read('src/fox.imgprompt.json')).toString()
        expect(written.replace(/,\n {2}"seed": \d+\n}\n$/, '\n}\n')).toBe(FOX)

        // Live: the card is generating; once the stream begins, a partial frame shows in it.
        await expect.poll(() => card().getAttribute('data-status'), { timeout: 20_000 }).toBe('generating')
        await expect.poll(() => card().locator('[data-progress]').textContent()).toBe('generating: 0 of 1 images')
        begin()
        await expect
          .poll(() => card().locator('img[data-partial="0"]').evaluate((img) => ({ shown: !(img as unknown as { hidden: boolean }).hidden, width: (img as unknown as { naturalWidth: number }).naturalWidth })), { timeout: 20_000 })
          .toEqual({ shown: true, width: 1024 })
        expect(await card().locator('img[data-partial="0"]').getAttribute('src')).toMatch(/^\/__ai-image\/partial\/[0-9a-f]{64}-0-\d+\.png$/)

        // Done: the card shows the new image, and so does the app's tab (which reloaded the spec meanwhile).
        await expect.poll(() => card().getAttribute('data-status'), { timeout: 30_000 }).toBe('cached')
        const now = await card().locator(':scope > .candidates [data-candidate="0"] img').getAttribute('src')
        expect(now).not.toBe(before)
        // The image it replaced is an earlier generation of the spec, still in the cache, to restore for free.
        expect(await card().locator('details.history [data-candidate="0"] img').getAttribute('src')).toBe(before)
        expect(await card().locator('details.history [data-action="restore"]').count()).toBe(1)
        await expect.poll(() => imageOf(appTab, 'fox'), { timeout: 20_000 }).toEqual({ src: now, width: 1024 })

        await suite.emulator.idle()
        expect(suite.emulator.requests.map((r) => [r.body.prompt, r.body.n ?? 1])).toEqual([['a fox in the snow', 1]])
        expect(suite.emulator.billedImages).toBe(1)
        expect(problems).toEqual([])
      } finally {
        begin()
        await appTab.close()
        await gallery.close()
      }
    })
  })

  it('a page of another site cannot make the gallery act or generate', async () => {
    const project = await app()
    await withDev(project.root, async (dev) => {
      const { port } = new URL(dev.origin)
      // The browser reaches the dev server as `localhost`: a page on 127.0.0.1 is another site, a page on
      // another port of localhost is the same site (and still not the dev server's own page).
      const devOrigin = `http://localhost:${port}`
      const attacker = await serveHtml(() => attackPage(devOrigin))
      const served = recordServed(dev)
      const pages: Page[] = []
      try {
        for (const [kind, origin] of [
          ['cross-site', `http://127.0.0.1:${attacker.port}`],
          ['same-site', `http://localhost:${attacker.port}`],
        ] as const) {
          const page = await browser.newPage()
          pages.push(page)
          served.length = 0
          await page.goto(`${origin}/`, { waitUntil: 'load', timeout: 30_000 })
          const outcome = (await page.evaluate('window.attack')) as { read: string[]; framed: string }
          // What the page could read of the dev server's answers: refusals, never the token.
          expect(outcome.read.join('\n'), kind).not.toMatch(/ai-image-token/)
          expect(outcome.framed, kind).toBe('unreadable')
          const gallery = served.filter((s) => s.url.startsWith(GALLERY))
          await expect.poll(() => gallery.filter((s) => s.status === undefined), { timeout: 15_000 }).toEqual([])
          // Everything of the gallery that reached the server was refused (a preflight, if any, is Vite's).
          expect(gallery.filter((s) => s.method !== 'OPTIONS' && s.status !== 403), kind).toEqual([])
          expect(gallery.filter((s) => s.method === 'POST').length, kind).toBeGreaterThan(0)
        }
        await suite.emulator.idle()
        expect(suite.emulator.requests).toEqual([])
        expect((await project.read('src/pears.imgprompt.json')).toString()).toBe(PEARS)
        expect((await project.read('src/fox.imgprompt.json')).toString()).toBe(FOX)

        // The gallery's own page, in the same browser, still acts.
        const own = await browser.newPage()
        pages.push(own)
        await own.goto(`${devOrigin}${GALLERY}`, { waitUntil: 'load' })
        await own.locator('article[data-spec="src/pears.imgprompt.json"] [data-candidate="1"] [data-action="pick"]').click()
        await expect.poll(async () => (await project.read('src/pears.imgprompt.json')).toString()).toBe(PEARS.replace('"pick": 0', '"pick": 1'))
      } finally {
        for (const page of pages) await page.close()
        await attacker.close()
      }
    })
  })

  it('the playground in the gallery (the README screenshots)', async () => {
    const root = await playgroundCopy()
    const env = { ...suite.openaiEnv(), PLAYGROUND_REAL_IMAGES: '1' }
    const generated = await runCli(['generate'], root, env)
    expect(generated.code, generated.stderr).toBe(0)
    const paid = suite.emulator.requests.length
    await withEnv(env, async () => {
      const dev = await startDevServer(root)
      const page = await browser.newPage()
      const problems = watchErrors(page)
      try {
        await page.setViewportSize({ width: 1400, height: 1000 })
        await page.goto(`${dev.origin}${GALLERY}`, { waitUntil: 'load' })
        const labels = await page.locator('article[data-spec]').evaluateAll((cards) => cards.map((card) => [card.getAttribute('data-spec'), card.getAttribute('data-status')]))
        expect(labels).toEqual([
          ['src/gallery.imgprompt.json', 'cached'],
          ['src/hero.imgprompt.json', 'cached'],
          ['virtual:ai-image/badge', 'cached'],
          ['virtual:ai-image/hero-webp', 'cached'],
          ['virtual:ai-image?prompt=A%20red%20fox%20in%20fresh%20snow%2C%20watercolour&size=1024x1536', 'cached'],
        ])
        // Every image decodes (they load lazily: made eager here).
        const widths = await page.evaluate(`Promise.all([...document.querySelectorAll('article[data-spec] img:not([data-partial])')].map(async (img) => {
          img.loading = 'eager'
          await img.decode().catch(() => undefined)
          return img.naturalWidth
        }))`)
        expect((widths as number[]).filter((width) => width === 0)).toEqual([])
        // Actions on spec files only; named specs and virtual imports say where they are defined.
        expect(await page.locator('article[data-kind="named"] [data-action]').count()).toBe(0)
        expect(await page.locator('article[data-spec="virtual:ai-image/badge"] dd').allTextContents()).toContain('the option images.badge in ai-image.config.ts')

        const screenshots = process.env.AI_IMAGE_SCREENSHOTS
        const dir = screenshots ? path.resolve(REPO, screenshots) : undefined
        if (dir) {
          await mkdir(dir, { recursive: true })
          await page.screenshot({ path: path.join(dir, 'gallery-dev.png') })
        }
        // More candidates: the estimate before anything is spent.
        const card = page.locator('article[data-spec="src/gallery.imgprompt.json"]')
        await card.locator('[data-action="more"]').click()
        await expect.poll(() => card.locator('[data-confirm-box]').isVisible()).toBe(true)
        expect(await card.locator('[data-confirm-text]').textContent()).toMatch(/^This generates 3 images: \$\d+\.\d{3} est\.$/)
        if (dir) await card.screenshot({ path: path.join(dir, 'gallery-dev-confirm.png') })
        await card.locator('[data-confirm="no"]').click()
        expect(problems).toEqual([])
      } finally {
        await page.close()
        await dev.close()
      }
    })
    await suite.emulator.idle()
    // The gallery spent nothing beyond filling the cache.
    expect(suite.emulator.requests).toHaveLength(paid)
  })
})

/** The playground in a temp folder named `playground`, with `unplugin-ai-image` (its config imports it) resolving to this repository. */
async function playgroundCopy(): Promise<string> {
  const holder = suite.keep(await makeProject())
  const root = path.join(holder.root, 'playground')
  for (const name of ['ai-image.config.ts', 'index.html', 'vite.config.ts', 'tsconfig.json', 'src']) {
    await cp(path.join(REPO, 'playground', name), path.join(root, name), { recursive: true })
  }
  await mkdir(path.join(root, 'node_modules'))
  await symlink(REPO, path.join(root, 'node_modules', 'unplugin-ai-image'), 'dir')
  return root
}

interface Served {
  url: string
  method: string
  status?: number
}

function recordServed(dev: DevServerHandle): Served[] {
  const served: Served[] = []
  dev.server.httpServer!.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry: Served = { url: req.url ?? '', method: req.method ?? '' }
    served.push(entry)
    res.on('finish', () => (entry.status = res.statusCode))
  })
  return served
}

/**
 * Everything a page can do to reach the gallery's actions: a simple POST (no preflight), a JSON POST with a
 * guessed token (preflighted), an HTML form into a frame, the page itself in a frame (to read its token), a
 * CORS read of the page (and, were its token in it, an action with that token), the live feed. What it
 * manages to read is kept in `window.attack`.
 */
function attackPage(dev: string): string {
  const at = (url: string) => JSON.stringify(`${dev}${url}`)
  const body = (action: string) => JSON.stringify(JSON.stringify({ spec: 'src/fox.imgprompt.json', index: 1, confirm: true, action }))
  return `<!doctype html><html><body>
<form id="form" method="post" enctype="text/plain" target="sink" action=${at(`${GALLERY}api/pick`)}><input name='{"spec":"src/pears.imgprompt.json","index":1,"x":"' value='"}'></form>
<iframe name="sink"></iframe>
<iframe id="framed" src=${at(GALLERY)}></iframe>
<script>
const read = []
const keep = (response) => response.text().then((text) => read.push(text), () => {})
document.getElementById('form').submit()
window.attack = Promise.allSettled([
  fetch(${at(`${GALLERY}api/another`)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${body('another')} }),
  fetch(${at(`${GALLERY}api/generate`)}, { method: 'POST', mode: 'no-cors', body: ${body('generate')} }),
  fetch(${at(`${GALLERY}api/more`)}, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ai-image-token': 'guessed' }, body: ${body('more')} }).then(keep),
  // Vite's CORS answers pages of localhost and 127.0.0.1: were the page served here, its token would be read
  // and sent back with an action.
  fetch(${at(GALLERY)}).then((response) => response.text()).then((html) => {
    read.push(html)
    const token = /name="ai-image-token" content="([^"]+)"/.exec(html)?.[1]
    return token && fetch(${at(`${GALLERY}api/another`)}, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ai-image-token': token }, body: ${body('another')} }).then(keep)
  }),
  fetch(${at(`${GALLERY}card?spec=src%2Ffox.imgprompt.json`)}, { headers: { 'x-ai-image-token': 'guessed' } }).then(keep),
  new Promise((resolve) => {
    const events = new EventSource(${at(`${GALLERY}events`)})
    events.onerror = () => { events.close(); resolve() }
    setTimeout(resolve, 3000)
  }),
  new Promise((resolve) => setTimeout(resolve, 1500)),
]).then(() => {
  let framed
  try { framed = document.getElementById('framed').contentDocument?.documentElement?.outerHTML ?? 'unreadable' } catch { framed = 'unreadable' }
  return { read, framed }
})
</script>
</body></html>`
}

/** A tiny HTTP server on 127.0.0.1 that answers every request with `html`. */
async function serveHtml(html: () => string): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(html())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
