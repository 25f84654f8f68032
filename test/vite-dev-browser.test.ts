/**
 * The dev server's live preview in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens a page whose image is still generating, and the `<img>` shows a first frame at
 * once (the placeholder marked `generating…`), then each streamed partial frame, then the final image, then (after the HMR update) the final asset URL with its size.
 * Fails when no Chromium is installed (`apt-get install chromium`, or set CHROMIUM_PATH).
 */
import sharp from 'sharp'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { answers } from './emulator/index.js'
import { chromiumSuite } from './helpers/chromium.js'
import { startDevServer } from './helpers/dev-server.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const browser = chromiumSuite()

/** Renders the image and re-renders it when the module is hot-updated. */
const MAIN = `import hero, { width, height } from './hero.imgprompt.json'
const img = document.createElement('img')
Object.assign(img, { id: 'hero', src: hero, width, height })
document.querySelector('#app').replaceChildren(img)
if (import.meta.hot) import.meta.hot.accept()
`

interface Sampled {
  samples: Array<{ color: string; src: string; width: number; naturalWidth: number; t: number }>
}

/** Samples the centre pixel of #hero every 40 ms into `window.samples` whenever it changes. */
const SAMPLER = `
window.samples = []
const canvas = document.createElement('canvas')
canvas.width = canvas.height = 1
setInterval(() => {
  const img = document.getElementById('hero')
  if (!img || !img.complete && img.naturalWidth === 0) return
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  ctx.clearRect(0, 0, 1, 1)
  try { ctx.drawImage(img, img.naturalWidth / 2, img.naturalHeight / 2, 1, 1, 0, 0, 1, 1) } catch { return }
  const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data
  if (a === 0) return
  const color = [r, g, b].join(',')
  const last = window.samples[window.samples.length - 1]
  if (!last || last.color !== color || last.src !== img.src) window.samples.push({ color, src: img.src, width: img.width, naturalWidth: img.naturalWidth, t: Math.round(performance.now()) })
}, 40)
`

async function centreColour(data: Buffer): Promise<string> {
  const { data: pixel } = await sharp(data).extract({ left: 160, top: 128, width: 1, height: 1 }).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return [...pixel].join(',')
}

describe('vite dev server in Chromium', () => {
  // Real paint timing in a real browser: on a machine starved of CPU a frame can be painted late, so the
  // test may run again (a new page, project and stream); what it checks is not loosened.
  it('shows each partial frame as it arrives, then the final image, then the final asset after HMR', { retry: 2 }, async () => {
    suite.emulator.reset() // a retry starts from a clean slate
    const project = await suite.project({
      'src/main.js': MAIN,
      'src/hero.imgprompt.json': spec({ prompt: 'a slow aurora', model: 'gpt-image-2', size: '1280x1024', stream: true, partial_images: 2 }),
    })
    // The stream begins once the page's preview <img> is subscribed to it: a page that loads slowly on a busy
    // machine would otherwise join after the first frame (it then gets the latest one, as a user would).
    let begin!: () => void
    suite.emulator.enqueue(answers.slowStream(700, new Promise<void>((resolve) => (begin = resolve))))
    await withEnv(suite.openaiEnv(), async () => {
      const dev = await startDevServer(project.root)
      let page: Page | undefined
      try {
        page = await browser.newPage()
        await page.addInitScript(SAMPLER)
        // The preview answers with its headers at once and then holds the stream open for the frames.
        const previewSubscribed = page.waitForResponse((response) => response.url().includes('/@ai-image/preview/'), { timeout: 20_000 })
        // Not the `load` event: a streaming <img> delays it until its first frame, which only `begin()` lets come.
        await page.goto(dev.origin, { waitUntil: 'domcontentloaded' })
        // The page is up while the image is still generating.
        expect(suite.emulator.requests[0]?.returned).toBeUndefined()
        await previewSubscribed
        // The first frame is on the screen before the generation sends anything.
        await page.waitForFunction(() => (globalThis as unknown as Sampled).samples.length > 0, null, { timeout: 15_000 })
        begin()
        await page.waitForFunction(() => (globalThis as unknown as Sampled).samples.some((s) => /@ai-image\/[0-9a-f]{64}-0-/.test(s.src)), null, { timeout: 15_000 })
        const samples = await page.evaluate(() => (globalThis as unknown as Sampled).samples)

        const [request] = suite.emulator.requests
        expect(suite.emulator.requests).toHaveLength(1)
        const finalColour = await centreColour(await project.read(`.ai-image/${(await project.list('.ai-image')).find((f) => f.endsWith('.png'))}`))
        const preview = samples.filter((s) => s.src.includes('/@ai-image/preview/'))
        const final = samples.filter((s) => !s.src.includes('/@ai-image/preview/'))
        // Through the preview URL: the first frame, two partial frames (distinct colours), then the final image.
        expect(preview.map((s) => s.color)).toHaveLength(4)
        expect(new Set(preview.map((s) => s.color)).size).toBe(4)
        expect(preview[3]!.color).toBe(finalColour)
        expect(preview.every((s) => s.width === 1280 && s.naturalWidth === 1280)).toBe(true)
        // Each frame is shown as it arrives (the emulator sends one every 700 ms), not all at the end.
        expect(preview[2]!.t - preview[1]!.t).toBeGreaterThan(400)
        expect(preview[3]!.t - preview[2]!.t).toBeGreaterThan(400)
        // After the HMR update: the final asset URL, same pixels.
        expect(final[0]).toMatchObject({ color: finalColour, width: 1280, naturalWidth: 1280 })
        expect(request!.partials).toHaveLength(2)
      } finally {
        // A failed attempt must not leave the stream waiting: the server's close waits for paid requests to land.
        begin()
        await page?.close()
        await dev.close()
      }
    })
  })
})
