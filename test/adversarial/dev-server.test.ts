/**
 * Drive-bys against the Vite dev server, over HTTP: any page the developer opens can make the browser ask
 * `localhost:5173` for the plugin's modules (`<img src=…/@id/__x00__virtual:ai-image?prompt=…&n=10>`), and
 * Vite's transform middleware would run `load`, which generates and bills the developer's key. A real
 * `vite dev` server and the emulator: requests of other sites (as browsers mark them: `Sec-Fetch-Site`,
 * `Origin`) for any form of module URL get 403 and reach no API; the dev server's own pages still get their
 * images; a virtual spec that no source imports is never generated from a request; malformed image URLs
 * answer 400.
 */
import { request as httpRequest } from 'node:http'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { RequestGuard, TOKEN_HEADER } from '../../src/plugin/request-guard.js'
import type { AiImageOptions } from '../../src/types.js'
import { startDevServer, type DevServerHandle } from '../helpers/dev-server.js'
import { withEnv } from '../helpers/env.js'
import { spec } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'

const suite = emulatorSuite()

const MODEL = { model: 'gpt-image-2', size: '1024x1024' }
const IMPORTED_QUERY = 'virtual:ai-image?prompt=a+lighthouse&model=gpt-image-2&size=1024x1024'
const LAZY_QUERY = 'virtual:ai-image?prompt=a+lazy+fox&model=gpt-image-2&size=1024x1024'
/** What a drive-by asks for: its own prompt, as many images as the API allows, the dearest quality. */
const DRIVE_BY = 'prompt=a+drive-by&n=10&quality=high&model=gpt-image-2&size=1024x1024'
const CACHED_IMAGE = `/@ai-image/${'a'.repeat(64)}-0-${'b'.repeat(12)}.png`

const FILES = {
  // The page imports one spec file and one virtual query; the rest exist but nothing imports them yet.
  'src/main.js': `import hero from './hero.imgprompt.json'\nimport lighthouse from '${IMPORTED_QUERY}'\nexport const shown = [hero, lighthouse]\n`,
  'src/lazy.js': `export const later = () => import('${LAZY_QUERY}')\n`,
  'src/hero.imgprompt.json': spec({ prompt: 'a hero', ...MODEL }),
  'src/other.imgprompt.json': spec({ prompt: 'another spec of the project', ...MODEL }),
  'src/banner.prompt.json': spec({ prompt: 'a banner (custom include)', ...MODEL }),
}
const OPTIONS: AiImageOptions = {
  include: ['**/*.imgprompt.json', '**/*.prompt.json'],
  images: { named: { prompt: 'a named spec', ...MODEL } },
}

/** Every form of URL under which Vite's dev server serves (and so loads, and so generates) a plugin module. */
function moduleUrls(root: string): Array<[string, string]> {
  return [
    ['virtual query behind \\0', `/@id/__x00__virtual:ai-image?${DRIVE_BY}`],
    ['virtual query', `/@id/virtual:ai-image?${DRIVE_BY}`],
    ['virtual query, %-encoded prefix', `/@id/%5F%5Fx00%5F%5Fvirtual:ai-image?${DRIVE_BY}`],
    ['virtual query, %-encoded name', `/@id/__x00__virtual:ai%2Dimage?${DRIVE_BY}`],
    ['virtual query, %-encoded colon', `/@id/__x00__virtual%3Aai-image?${DRIVE_BY}`],
    ['virtual query, bad %-escape', `/@id/__x00__virtual:ai-image?prompt=%E0%A4%A&n=10`],
    ['named spec', '/@id/__x00__virtual:ai-image/named'],
    ['spec file ?ai-image', '/src/other.imgprompt.json?ai-image'],
    ['spec file ?import', '/src/other.imgprompt.json?import'],
    ['spec file, bare', '/src/other.imgprompt.json'],
    ['spec file, %-encoded', '/src/other%2Eimgprompt.json?import'],
    ['spec file, custom include', '/src/banner.prompt.json?import'],
    ['spec file through /@fs/', `/@fs${root.split(path.sep).join('/')}/src/other.imgprompt.json?ai-image`],
    ['spec file through /@fs/, timestamped', `/@fs${root.split(path.sep).join('/')}/src/other.imgprompt.json?import&t=1&ai-image`],
    ['image asset', CACHED_IMAGE],
    ['image preview', '/@ai-image/preview/0123456789abcdef01234567-0.png'],
  ]
}

interface Answer {
  status: number
  type: string
  body: string
}

/** GET exactly this path with exactly these headers (fetch would normalise the path and drop some headers). */
function rawGet(dev: DevServerHandle, urlPath: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(dev.origin)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

async function withDevServer(run: (dev: DevServerHandle, root: string) => Promise<void>, extra = {}) {
  const project = await suite.project(FILES)
  await withEnv(suite.openaiEnv(), async () => {
    const dev = await startDevServer(project.root, OPTIONS, extra)
    try {
      await run(dev, project.root)
    } finally {
      await dev.close()
    }
  })
}

/** As a browser marks an `<img>`, `<script type=module>`, `<link>` or `fetch` of a page of another site. */
const ATTACKERS: Array<[string, (dev: DevServerHandle) => Record<string, string>]> = [
  ['an <img> of another site', () => ({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' })],
  [
    'a module script of another port on the same host (same-site)',
    (dev) => ({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'script', origin: otherPort(dev.origin) }),
  ],
  ['a page of a foreign Origin (no Fetch Metadata)', () => ({ origin: 'http://attacker.example' })],
  ['a sandboxed page (Origin: null)', () => ({ origin: 'null' })],
  ['a foreign Origin with a same-origin claim', () => ({ 'sec-fetch-site': 'same-origin', origin: 'http://localhost:1' })],
]

function otherPort(origin: string): string {
  const url = new URL(origin)
  url.port = String(Number(url.port) === 65535 ? 1 : Number(url.port) + 1)
  return url.origin
}

/** Headers of a request of the dev server's own page. */
const own = (dev: DevServerHandle, dest = 'script') => ({ 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': dest, origin: dev.origin })

describe('the dev server refuses image modules to pages of other sites', () => {
  it.each(ATTACKERS)('%s gets 403 for every form of module URL, and no request reaches the API', async (_, headers) => {
    await withDevServer(async (dev, root) => {
      for (const [form, url] of moduleUrls(root)) {
        const answer = await rawGet(dev, url, headers(dev))
        expect(answer.status, `${form}: ${url}\n${answer.body}`).toBe(403)
        expect(answer.body, form).toContain('unplugin-ai-image')
      }
      await suite.emulator.idle()
      expect(suite.emulator.requests).toHaveLength(0)
    })
  })

  it('a URL no pattern recognises (an alias of a spec file) is refused by the load hook, with no request', async () => {
    await withDevServer(
      async (dev) => {
        const answer = await rawGet(dev, '/@id/@other-image', ATTACKERS[0]![1](dev))
        expect(answer.status).toBeGreaterThanOrEqual(400)
        expect(answer.body).toContain('another site')
        await suite.emulator.idle()
        expect(suite.emulator.requests).toHaveLength(0)
      },
      { resolve: { alias: { '@other-image': '/src/other.imgprompt.json' } } },
    )
  })

  it("a page of another site that loads the project's entry module does not generate the specs it imports", async () => {
    await withDevServer(async (dev) => {
      // Vite pre-transforms the imports of a module it serves, in the background: that load would generate.
      const entry = await rawGet(dev, '/src/main.js', ATTACKERS[0]![1](dev))
      expect(entry.status).toBe(200)
      await expect.poll(() => dev.logs.text(), { timeout: 15_000 }).toContain('another site')
      await suite.emulator.idle()
      expect(suite.emulator.requests).toHaveLength(0)
    })
  })
})

describe("the dev server's own pages", () => {
  it('get their images, same-origin as a browser marks them', async () => {
    await withDevServer(async (dev) => {
      expect((await rawGet(dev, '/', { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })).status).toBe(200)
      const main = await rawGet(dev, '/src/main.js', own(dev))
      expect(main.status, main.body).toBe(200)
      const urls = [...main.body.matchAll(/from "([^"]+)"/g)].map((m) => m[1]!)
      expect(urls).toHaveLength(2)
      for (const url of urls) {
        const module = await rawGet(dev, url, own(dev))
        expect(module.status, `${url}\n${module.body}`).toBe(200)
        // The final image, or (on a slow machine) its preview, which a script's fetch gets once it is ready.
        const src = /"([^"]*@ai-image\/(?:preview\/[0-9a-f]{24}-0|[0-9a-f]{64}-0-[0-9a-f]{12})\.png)"/.exec(module.body)?.[1]
        expect(src, module.body).toBeDefined()
        const image = await rawGet(dev, src!, own(dev, 'empty'))
        expect([image.status, image.type]).toEqual([200, 'image/png'])
      }
      expect(suite.emulator.requests.map((r) => r.body.prompt).sort()).toEqual(['a hero', 'a lighthouse'])
    })
  })

  it('accepts the origin set in server.origin (the origin the server declares as its own)', async () => {
    await withDevServer(
      async (dev) => {
        const answer = await rawGet(dev, '/src/other.imgprompt.json?import', { 'sec-fetch-site': 'same-origin', origin: 'http://dev.proxy.test:8080' })
        expect(answer.status, answer.body).toBe(200)
        expect(suite.emulator.requests).toHaveLength(1)
      },
      { server: { origin: 'http://dev.proxy.test:8080' } },
    )
  })

  it('serves clients that send neither Fetch Metadata nor Origin (curl, scripts): no page is behind them', async () => {
    await withDevServer(async (dev) => {
      const answer = await rawGet(dev, '/src/other.imgprompt.json?import')
      expect(answer.status, answer.body).toBe(200)
      expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['another spec of the project'])
    })
  })
})

describe('a virtual spec no source of the project imports is never generated from a request', () => {
  it('is refused even to the own page, with a clear error and no request', async () => {
    await withDevServer(async (dev) => {
      for (const url of [`/@id/__x00__virtual:ai-image?${DRIVE_BY}`, `/@id/virtual:ai-image?${DRIVE_BY}`]) {
        const answer = await rawGet(dev, url, own(dev))
        expect(answer.status, url).toBe(500)
        expect(answer.body).toContain('SPEC_INVALID')
        expect(answer.body).toContain('no source file of the project imports')
      }
      // A query the page imports, asked with a folder (`__dir`) of the attacker's choosing, is another spec.
      const forged = await rawGet(dev, `/@id/__x00__${IMPORTED_QUERY}&image=./x.png&__dir=..`, own(dev))
      expect(forged.status).toBe(500)
      expect(forged.body).toContain('no source file of the project imports')
      await suite.emulator.idle()
      expect(suite.emulator.requests).toHaveLength(0)
    })
  })

  it('is generated once a source imports it, or when a source file of the project names it', async () => {
    await withDevServer(async (dev) => {
      // `src/lazy.js` imports this query but was never loaded: the source text is enough.
      const lazy = await rawGet(dev, `/@id/__x00__${LAZY_QUERY}`, own(dev))
      expect(lazy.status, lazy.body).toBe(200)
      expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['a lazy fox'])
      // Named specs come from the plugin options: the project's own.
      const named = await rawGet(dev, '/@id/__x00__virtual:ai-image/named', own(dev))
      expect(named.status, named.body).toBe(200)
      expect(suite.emulator.requests).toHaveLength(2)
    })
  })
})

describe('malformed image URLs', () => {
  it.each([
    ['a bad %-escape', '/@ai-image/%E0%A4%A'],
    ['a lone %', '/@ai-image/%'],
    ['a bad %-escape in a preview', '/@ai-image/preview/%zz-0.png'],
    ['an unknown name', '/@ai-image/nothing'],
    ['an unknown preview name', '/@ai-image/preview/xyz'],
    ['a path out of the folder', '/@ai-image/..%2F..%2Fsrc%2Fmain.js'],
  ])('%s answers 400', async (_, url) => {
    await withDevServer(async (dev) => {
      const answer = await rawGet(dev, url, own(dev, 'image'))
      expect(answer.status, answer.body).toBe(400)
      expect(answer.body).not.toContain('<!DOCTYPE')
    })
  })

  it('a well-formed name of no image answers 404', async () => {
    await withDevServer(async (dev) => {
      expect((await rawGet(dev, CACHED_IMAGE, own(dev, 'image'))).status).toBe(404)
      expect((await rawGet(dev, '/@ai-image/preview/0123456789abcdef01234567-0.png', own(dev, 'image'))).status).toBe(404)
    })
  })
})

describe('the per-server token (for requests that change files)', () => {
  const request = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as import('node:http').IncomingMessage

  it('is random per server and accepted only exactly, in its header', () => {
    const a = new RequestGuard()
    const b = new RequestGuard()
    expect(a.token).not.toBe(b.token)
    expect(a.token.length).toBeGreaterThanOrEqual(32)
    expect(a.hasToken(request({ [TOKEN_HEADER]: a.token }))).toBe(true)
    for (const wrong of [b.token, '', a.token.slice(1), `${a.token}x`, a.token.toUpperCase()]) {
      expect(a.hasToken(request({ [TOKEN_HEADER]: wrong })), wrong).toBe(false)
    }
    expect(a.hasToken(request({ [TOKEN_HEADER]: [a.token, a.token] }))).toBe(false)
    expect(a.hasToken(request({}))).toBe(false)
  })
})
