/**
 * The Vite dev server, over HTTP and Vite's HMR WebSocket, against the emulator: a slow streamed
 * generation does not block the page, its preview URL streams a first frame at once (the placeholder marked
 * `generating…`), each partial frame and then the final image (`multipart/x-mixed-replace`, as an `<img>`
 * renders it), and a module whose importer accepts HMR updates is hot-updated with the final URL and size; editing a spec's prompt or an input image regenerates it and updates the importer.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { answers } from './emulator/index.js'
import { readMixedReplace, startDevServer, type DevServerHandle, type HmrPayload } from './helpers/dev-server.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, png } from './helpers/suite.js'

const suite = emulatorSuite()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** An importer that accepts its own updates, as framework components do. */
const MAIN = "import hero, { width, height } from './hero.imgprompt.json'\nexport const shown = { hero, width, height }\nif (import.meta.hot) import.meta.hot.accept()\n"
const SPEC_URL = /["'](\/src\/hero\.imgprompt\.json\?[^"']*ai-image[^"']*)["']/

const updatesMain = (payload: HmrPayload) => payload.type === 'update' && !!payload.updates?.some((u) => u.path === '/src/main.js')
const quoted = (code: string, pattern: RegExp) => pattern.exec(code)?.[1]

/** Fetch the importer, then the spec module it imports, as the browser would. */
async function loadModule(dev: DevServerHandle) {
  const main = await dev.get('/src/main.js')
  expect(main.status).toBe(200)
  const url = quoted(main.body.toString(), SPEC_URL)
  expect(url, main.body.toString()).toBeDefined()
  const module = await dev.get(url!)
  expect(module.status, module.body.toString()).toBe(200)
  return { url: url!, code: module.body.toString(), ms: module.ms }
}

/**
 * The module once its image exists: a preview module is followed by an HMR update, then refetched. A chained
 * edit may update the importer more than once (when the spec it builds on is done, then when it is), so the
 * preview is refetched after each update, a bounded number of times.
 */
async function finalModule(dev: DevServerHandle) {
  let loaded = await loadModule(dev)
  for (let updates = 0; loaded.code.includes('@ai-image/preview/') && updates < 4; updates++) {
    await dev.nextMessage(updatesMain)
    loaded = await loadModule(dev)
  }
  const src = quoted(loaded.code, /"([^"]*@ai-image\/[0-9a-f]{64}-0-[0-9a-f]{12}\.png)"/)
  expect(src, loaded.code).toBeDefined()
  const image = await dev.get(src!)
  expect(image.status).toBe(200)
  return { code: loaded.code, src: src!, sha: sha256(image.body) }
}

async function withDevServer(root: string, run: (dev: DevServerHandle) => Promise<void>) {
  await withEnv(suite.openaiEnv(), async () => {
    const dev = await startDevServer(root)
    try {
      await run(dev)
    } finally {
      await dev.close()
    }
  })
}

describe('vite dev server', () => {
  it('answers a slow generation at once and streams its partial frames, then the final image, into the <img>', async () => {
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/hero.imgprompt.json': spec({ prompt: 'a slow aurora', model: 'gpt-image-2', size: '1280x1024', stream: true, partial_images: 2 }),
    })
    // Each SSE event arrives 600 ms after the previous one (the image takes about 1.8 s), the first only once the
    // test lets the stream begin: the module is answered while the image cannot be ready, however busy the machine.
    let begin!: () => void
    suite.emulator.enqueue(answers.slowStream(600, new Promise<void>((resolve) => (begin = resolve))))
    await withDevServer(project.root, async (dev) => {
      try {
        // Answered although the stream has not begun: a preview module.
        const pending = await loadModule(dev)
        const previewUrl = quoted(pending.code, /"([^"]*@ai-image\/preview\/[0-9a-f]+-0\.png)"/)
        expect(previewUrl, pending.code).toBeDefined()
        // The size is known from the spec before the image exists.
        expect(pending.code).toContain('export const width = 1280;')
        expect(pending.code).toContain('export const height = 1024;')

        const reloaded = dev.nextMessage(updatesMain)
        // The first frame comes before the stream begins: the placeholder rendering, marked `generating…`.
        let firstFrame!: () => void
        const first = new Promise<void>((resolve) => (firstFrame = resolve))
        const reading = readMixedReplace(`${dev.origin}${previewUrl}`, () => firstFrame())
        await first
        begin()
        const live = await reading
        const [request] = suite.emulator.requests
        expect(live.contentType).toMatch(/^multipart\/x-mixed-replace; boundary=/)
        expect(live.parts.map((p) => p.type)).toEqual(['image/png', 'image/png', 'image/png', 'image/png'])
        expect(await sharp(live.parts[0]!.data).metadata()).toMatchObject({ format: 'png', width: 1280, height: 1024 })
        expect([...request!.partials!, ...request!.returned!]).not.toContain(sha256(live.parts[0]!.data))
        // Then each partial frame, in order, then the completed image.
        expect(live.parts.slice(1).map((p) => sha256(p.data))).toEqual([...request!.partials!, ...request!.returned!])
        // Frames arrive as they are generated, not all at the end.
        expect(live.parts[3]!.at - live.parts[1]!.at).toBeGreaterThan(700)

        // Ready: the module is reloaded and the importer hot-updated with the final URL and size.
        await reloaded
        const final = await finalModule(dev)
        expect(final.code).toContain('export const width = 1280;')
        expect(final.code).toMatch(/export const key = "[0-9a-f]{64}";/)
        expect(final.sha).toBe(request!.returned![0])
        // Only the completed image went into the cache; an image request after the end gets the final file.
        const cached = (await project.list('.ai-image')).filter((f) => f.endsWith('.png'))
        expect(await Promise.all(cached.map(async (f) => sha256(await project.read(path.join('.ai-image', f)))))).toEqual(request!.returned)
        const late = await dev.get(previewUrl!, { 'sec-fetch-dest': 'image' })
        expect([late.type, sha256(late.body)]).toEqual(['image/png', request!.returned![0]])
        expect(suite.emulator.requests).toHaveLength(1)
      } finally {
        // A failed assertion must not leave the stream waiting: the server's close waits for paid requests to land.
        begin()
      }
    })
  })

  it('regenerates on a prompt edit: the importer is hot-updated and the new image is served', async () => {
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/hero.imgprompt.json': spec({ prompt: 'a red door', model: 'gpt-image-2', size: '1024x1024' }),
    })
    await withDevServer(project.root, async (dev) => {
      const before = await finalModule(dev)
      expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['a red door'])
      const specId = path.join(project.root, 'src/hero.imgprompt.json?ai-image')
      expect(dev.server.environments.client.moduleGraph.getModuleById(specId)?.transformResult).toBeTruthy()

      const updated = dev.nextMessage(updatesMain)
      await project.write('src/hero.imgprompt.json', spec({ prompt: 'a blue door', model: 'gpt-image-2', size: '1024x1024' }))
      await updated
      // The spec module was invalidated by the edit (its next request runs `load` again).
      expect(dev.server.environments.client.moduleGraph.getModuleById(specId)?.transformResult).toBeFalsy()

      const after = await finalModule(dev)
      expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['a red door', 'a blue door'])
      expect(after.src).not.toBe(before.src)
      expect(after.sha).toBe(suite.emulator.requests[1]!.returned![0])
      expect(after.sha).not.toBe(before.sha)
    })
  })

  it('regenerates when an input image changes, and when the spec a chained edit builds on changes', async () => {
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/base.imgprompt.json': spec({ prompt: 'a plain vase', model: 'gpt-image-2', size: '1024x1024' }),
      'src/hero.imgprompt.json': spec({ prompt: 'add flowers', model: 'gpt-image-2', size: '1024x1024', image: ['./base.imgprompt.json', './photo.png'] }),
      'src/photo.png': await png(32, 32, [200, 0, 0]),
    })
    await withDevServer(project.root, async (dev) => {
      await finalModule(dev)
      expect(suite.emulator.requests.map((r) => r.operation)).toEqual(['generations', 'edits'])

      let updated = dev.nextMessage(updatesMain)
      const photo = await png(32, 32, [0, 0, 200])
      await project.write('src/photo.png', photo)
      await updated
      await finalModule(dev)
      expect(suite.emulator.requests.map((r) => r.operation)).toEqual(['generations', 'edits', 'edits'])
      expect(suite.emulator.requests[2]!.files[1]!.sha256).toBe(sha256(photo))

      // The upstream spec is watched too: editing it regenerates both, in order.
      updated = dev.nextMessage(updatesMain)
      await project.write('src/base.imgprompt.json', spec({ prompt: 'a tall vase', model: 'gpt-image-2', size: '1024x1024' }))
      await updated
      await finalModule(dev)
      const last = suite.emulator.requests.slice(3)
      expect(last.map((r) => [r.operation, r.body.prompt])).toEqual([
        ['generations', 'a tall vase'],
        ['edits', 'add flowers'],
      ])
      expect(last[1]!.files[0]!.sha256).toBe(last[0]!.returned![0])
    })
  })

  it('regenerates when an input image changes of a spec that a later server answered from the warm path', async () => {
    // webp: the dev server's warm path answers only from derived files (a PNG as generated is served as it is).
    const fields = { prompt: 'add a hat', model: 'gpt-image-2', size: '1024x1024', image: './photo.png', emit: { format: 'webp' } }
    const project = await suite.project({ 'src/main.js': MAIN, 'src/hero.imgprompt.json': spec(fields), 'src/photo.png': await png(32, 32, [200, 0, 0]) })
    const webp = /"([^"]*@ai-image\/[0-9a-f]{64}-0-[0-9a-f]{12}\.webp)"/
    await withDevServer(project.root, async (dev) => {
      const first = await loadModule(dev)
      if (first.code.includes('@ai-image/preview/')) await dev.nextMessage(updatesMain)
    })
    expect(suite.emulator.requests).toHaveLength(1)
    await withDevServer(project.root, async (dev) => {
      // A new server: the module comes from the sidecar and the derived cache, without a request.
      const warm = await loadModule(dev)
      expect(quoted(warm.code, webp), warm.code).toBeDefined()
      expect(suite.emulator.requests).toHaveLength(1)

      const updated = dev.nextMessage(updatesMain)
      const photo = await png(32, 32, [0, 0, 200])
      await project.write('src/photo.png', photo)
      await updated
      let after = await loadModule(dev)
      if (after.code.includes('@ai-image/preview/')) {
        await dev.nextMessage(updatesMain)
        after = await loadModule(dev)
      }
      expect(suite.emulator.requests).toHaveLength(2)
      expect(suite.emulator.requests[1]!.files[0]!.sha256).toBe(sha256(photo))
      expect(quoted(after.code, webp)).not.toBe(quoted(warm.code, webp))
    })
  })

  it('shows a failure found after the preview module was served in the overlay, once', async () => {
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/hero.imgprompt.json': spec({ prompt: 'a brawl', model: 'gpt-image-2', size: '1024x1024', stream: true, partial_images: 1 }),
    })
    suite.emulator.enqueue(answers.filteredStream(['violence'], 600))
    await withDevServer(project.root, async (dev) => {
      const pending = await loadModule(dev)
      expect(pending.code).toContain('@ai-image/preview/')
      await dev.nextMessage(updatesMain)
      const failed = await dev.get(pending.url)
      expect(failed.status).toBe(500)
      expect(failed.body.toString()).toContain('CONTENT_FILTERED')
      expect(failed.body.toString()).toContain('src/hero.imgprompt.json')
      // Vite's overlay gets the same error over the HMR socket.
      expect(dev.messages.some((m) => m.type === 'error' && m.err?.message.includes('CONTENT_FILTERED'))).toBe(true)
      expect(suite.emulator.requests).toHaveLength(1)
      // Shown once: reloading the page tries again (and this time the emulator draws it).
      const retried = await finalModule(dev)
      expect(suite.emulator.requests).toHaveLength(2)
      expect(retried.sha).toBe(suite.emulator.requests[1]!.returned![0])
    })
  })
})
