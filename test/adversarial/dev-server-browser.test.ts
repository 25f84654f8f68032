/**
 * The drive-by in a real browser: while `vite dev` runs, the developer opens a page of another site (served
 * here by a tiny HTTP server on another origin) whose `<img>`, `<script type=module>`, `<link>`, `<iframe>`
 * and `fetch(…, { mode: 'no-cors' })` point at the dev server's plugin URLs, and at the project's entry
 * module (whose imports Vite pre-transforms). Chromium marks those requests itself (`Sec-Fetch-Site`,
 * `Origin`); no request reaches the API, and every plugin URL is answered 403. The dev server's own page,
 * opened next in the same browser, still generates and shows its image.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { chromiumSuite } from '../helpers/chromium.js'
import { startDevServer } from '../helpers/dev-server.js'
import { withEnv } from '../helpers/env.js'
import { spec } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'

const suite = emulatorSuite()
const browser = chromiumSuite()

const MODEL = { model: 'gpt-image-2', size: '1024x1024' }
const MAIN = `import hero, { width, height } from './hero.imgprompt.json'
const img = document.createElement('img')
Object.assign(img, { id: 'hero', src: hero, width, height })
document.querySelector('#app').replaceChildren(img)
`
const driveBy = (what: string) => `virtual:ai-image?prompt=${encodeURIComponent(`a drive-by through ${what}`)}&n=10&quality=high&model=gpt-image-2&size=1024x1024`

/** The dev server URLs the attacking page points at, by what points at them. */
function attackUrls(root: string) {
  const fsPath = `/@fs${root.split(path.sep).join('/')}/src/other.imgprompt.json?ai-image`
  return {
    stylesheet: `/@id/${driveBy('a stylesheet link')}`,
    modulepreload: `/@id/__x00__${driveBy('a modulepreload link')}`,
    preloadImage: '/src/other.imgprompt.json?ai-image',
    img: `/@id/__x00__${driveBy('an img')}`,
    imgSpecFile: '/src/other.imgprompt.json?import',
    imgNamed: '/@id/__x00__virtual:ai-image/named',
    iframe: fsPath,
    moduleScript: `/@id/__x00__${driveBy('a module script')}`,
    fetchQuery: `/@id/${driveBy('fetch')}`,
    fetchEncoded: '/src/other%2Eimgprompt.json?import',
    fetchFs: `${fsPath}&t=1`,
    // Imported by the project's entry module, which the page runs as a module script of its own.
    entryImport: '/src/hero.imgprompt.json?import&ai-image',
  }
}

/** A page of another site that points everything a page can point at the dev server's plugin URLs. */
function attackPage(dev: string, root: string): string {
  const urls = attackUrls(root)
  const at = (url: string) => JSON.stringify(`${dev}${url}`)
  return `<!doctype html><html><head>
<link rel="stylesheet" href=${at(urls.stylesheet)}>
<link rel="modulepreload" href=${at(urls.modulepreload)}>
<link rel="preload" as="image" href=${at(urls.preloadImage)}>
</head><body>
<img src=${at(urls.img)}>
<img src=${at(urls.imgSpecFile)}>
<img src=${at(urls.imgNamed)}>
<iframe src=${at(urls.iframe)}></iframe>
<script type="module" src=${at(urls.moduleScript)}></script>
<script type="module" src=${at('/src/main.js')}></script>
<script>
window.fetched = Promise.allSettled([
  fetch(${at(urls.fetchQuery)}, { mode: 'no-cors' }),
  fetch(${at(urls.fetchEncoded)}, { mode: 'no-cors' }),
  fetch(${at(urls.fetchFs)}, { mode: 'no-cors', credentials: 'include' }),
]).then((results) => results.length)
</script>
</body></html>`
}

interface Served {
  url: string
  /** Set once the answer is sent. */
  status?: number
  site: string | undefined
}

/** Every request the dev server received, with the browser's `Sec-Fetch-Site` and, once answered, the status. */
function recordServed(server: import('vite').ViteDevServer): Served[] {
  const served: Served[] = []
  server.httpServer!.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry: Served = { url: req.url ?? '', site: req.headers['sec-fetch-site'] as string | undefined }
    served.push(entry)
    res.on('finish', () => (entry.status = res.statusCode))
  })
  return served
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
        // The browser keeps its connections alive; they would hold the close open.
        server.closeAllConnections()
      }),
  }
}

describe('a drive-by in Chromium', () => {
  it("pages of other sites reach no API through the dev server; its own page still gets its image", async () => {
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/hero.imgprompt.json': spec({ prompt: 'the hero of the page', ...MODEL }),
      'src/other.imgprompt.json': spec({ prompt: 'a spec nothing imports yet', ...MODEL }),
    })
    await withEnv(suite.openaiEnv(), async () => {
      const dev = await startDevServer(project.root, { images: { named: { prompt: 'a named spec', ...MODEL } } })
      const { port } = new URL(dev.origin)
      // The browser reaches the dev server as `localhost`: a page on 127.0.0.1 is another site, a page on
      // another port of localhost is the same site (and still not the dev server's own page).
      const devOrigin = `http://localhost:${port}`
      const attacker = await serveHtml(() => attackPage(devOrigin, project.root))
      const served = recordServed(dev.server)
      const pages: Page[] = []
      try {
        for (const [kind, attackerOrigin] of [
          ['cross-site', `http://127.0.0.1:${attacker.port}`],
          ['same-site', `http://localhost:${attacker.port}`],
        ] as const) {
          const page = await browser.newPage()
          pages.push(page)
          served.length = 0
          await page.goto(`${attackerOrigin}/`, { waitUntil: 'load', timeout: 30_000 })
          expect(await page.evaluate('window.fetched'), kind).toBe(3)
          // Chromium sent every one of them (some answers it then blocks from the page: ORB, MIME checks).
          const expected = Object.values(attackUrls(project.root))
          await expect.poll(() => expected.filter((url) => !served.some((s) => s.url === url)), { timeout: 15_000 }).toEqual([])
          const plugin = served.filter((s) => expected.includes(s.url))
          await expect.poll(() => plugin.filter((s) => s.status === undefined), { timeout: 15_000 }).toEqual([])
          expect.soft(plugin.filter((s) => s.status !== 403 || s.site !== kind), kind).toEqual([])
          // The page's entry module was served (it is no plugin URL), so Vite pre-transformed its imports
          // in the background: wait for that load to be refused before counting what reached the API.
          if (kind === 'cross-site') await expect.poll(() => dev.logs.text(), { timeout: 15_000 }).toMatch(/Pre-transform error:.*src\/hero\.imgprompt\.json: refused/)
          await suite.emulator.idle()
          expect(suite.emulator.requests.map((r) => r.body.prompt), kind).toEqual([])
        }

        // The dev server's own page, in the same browser.
        const own = await browser.newPage()
        pages.push(own)
        await own.goto(devOrigin, { waitUntil: 'load', timeout: 30_000 })
        await own.waitForFunction("(img => !!img && img.complete && img.naturalWidth === 1024)(document.getElementById('hero'))", null, { timeout: 20_000 })
        expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['the hero of the page'])
      } finally {
        for (const page of pages) await page.close()
        await attacker.close()
        await dev.close()
      }
    })
  })
})
