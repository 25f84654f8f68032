/**
 * The static contact sheet in real Chromium, opened from the file system (`file://…/index.html`: no server,
 * no network): every spec card is visible, every image decodes, a candidate opens full size, and a prompt
 * made to inject script stays text (the page's Content-Security-Policy admits only its own script, which
 * must still run).
 *
 * The sheet of the playground (copied into a temp folder, its cache filled through the emulator) is also
 * the README's screenshot: with `AI_IMAGE_SCREENSHOTS=<dir>` set, the test writes `<dir>/gallery-sheet.png`
 * and `<dir>/gallery-since.png` (`AI_IMAGE_SCREENSHOTS=docs npx vitest run test/gallery-sheet-browser.test.ts` refreshes the
 * committed ones).
 */
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { chromiumSuite } from './helpers/chromium.js'
import { embeddedState, gitIn, NO_KEY_CI, runCli } from './helpers/gallery.js'
import { makeProject, spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const browser = chromiumSuite()
const REPO = fileURLToPath(new URL('..', import.meta.url))

/**
 * The playground in a temp folder named `playground` (the sheet's title), with `unplugin-ai-image` (its config
 * imports it) resolving to this repository.
 */
async function playgroundCopy(): Promise<{ root: string }> {
  const holder = suite.keep(await makeProject())
  const root = path.join(holder.root, 'playground')
  for (const name of ['ai-image.config.ts', 'index.html', 'vite.config.ts', 'tsconfig.json', 'src']) {
    await cp(path.join(REPO, 'playground', name), path.join(root, name), { recursive: true })
  }
  await mkdir(path.join(root, 'node_modules'))
  await symlink(REPO, path.join(root, 'node_modules', 'unplugin-ai-image'), 'dir')
  return { root }
}

async function openSheet(page: Page, root: string): Promise<void> {
  await page.setViewportSize({ width: 1400, height: 900 })
  await page.goto(pathToFileURL(path.join(root, 'sheet', 'index.html')).href, { waitUntil: 'load' })
}

/** Every image of the cards, made to load now (they load lazily), with its decoded width. */
function decodedWidths(page: Page): Promise<Array<{ src: string; width: number }>> {
  return page.evaluate(`Promise.all([...document.querySelectorAll('article[data-spec] img')].map(async (img) => {
    img.loading = 'eager'
    await img.decode().catch(() => undefined)
    return { src: img.getAttribute('src') ?? '', width: img.naturalWidth }
  }))`)
}

describe('the static sheet in Chromium', () => {
  it('shows every spec of the playground; every image decodes; a candidate opens full size', async () => {
    const project = await playgroundCopy()
    const generated = await runCli(['generate'], project.root, { ...suite.openaiEnv(), PLAYGROUND_REAL_IMAGES: '1' })
    expect(generated.code, generated.stderr).toBe(0)
    const sheet = await runCli(['gallery', '--out', 'sheet'], project.root, NO_KEY_CI)
    expect(sheet.code, sheet.stderr).toBe(0)

    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()))
    page.on('pageerror', (error) => problems.push(error.message))
    try {
      await openSheet(page, project.root)
      const labels = await page.locator('article[data-spec]').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-spec')))
      expect(labels).toEqual([
        'src/gallery.imgprompt.json',
        'src/hero.imgprompt.json',
        'virtual:ai-image/badge',
        'virtual:ai-image/hero-webp',
        'virtual:ai-image?prompt=A%20red%20fox%20in%20fresh%20snow%2C%20watercolour&size=1024x1536',
      ])
      for (const label of labels) await expect.poll(() => page.locator(`article[data-spec="${label}"]`).isVisible()).toBe(true)
      const images = await decodedWidths(page)
      expect(images.length).toBe(6) // gallery n: 2, hero, badge, hero-webp (the hero's entry), fox
      expect(images.filter((image) => image.width === 0)).toEqual([])

      // Full size on click, in a dialog; Escape closes it.
      const candidate = page.locator('article[data-spec="src/gallery.imgprompt.json"] [data-candidate="1"] a')
      await candidate.click()
      const viewer = page.locator('dialog#viewer')
      await expect.poll(() => viewer.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(true)
      await expect.poll(() => viewer.locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(1024)
      expect(await viewer.locator('[data-caption]').textContent()).toBe('src/gallery.imgprompt.json #1 · 1024×1024')
      await page.keyboard.press('Escape')
      await expect.poll(() => viewer.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(false)

      // The filter hides the cards that do not match.
      await page.fill('#search', 'fox')
      await expect.poll(() => page.locator('article[data-spec]:visible').count()).toBe(1)
      await page.fill('#search', '')

      const screenshots = process.env.AI_IMAGE_SCREENSHOTS
      if (screenshots) {
        const dir = path.resolve(REPO, screenshots)
        await mkdir(dir, { recursive: true })
        await page.screenshot({ path: path.join(dir, 'gallery-sheet.png'), fullPage: true })
      }
      expect(problems).toEqual([])
    } finally {
      await page.close()
    }
  })

  it('the --since sheet of the playground shows old and new side by side, every image decoded', async () => {
    const { root } = await playgroundCopy()
    const env = { ...suite.openaiEnv(), PLAYGROUND_REAL_IMAGES: '1' }
    expect((await runCli(['generate'], root, env)).code).toBe(0)
    await writeFile(path.join(root, '.gitignore'), 'node_modules/\nsheet/\n')
    await gitIn(root, ['init', '-q'])
    await gitIn(root, ['add', '-A'])
    await gitIn(root, ['commit', '-q', '-m', 'images'])
    // A pull request: the hero's prompt changes, the gallery spec picks its other candidate.
    const hero = JSON.parse(await readFile(path.join(root, 'src/hero.imgprompt.json'), 'utf8')) as Record<string, unknown>
    await writeFile(path.join(root, 'src/hero.imgprompt.json'), `${JSON.stringify({ ...hero, prompt: `${String(hero.prompt)}, first light of dawn` }, null, 2)}\n`)
    const pears = JSON.parse(await readFile(path.join(root, 'src/gallery.imgprompt.json'), 'utf8')) as Record<string, unknown>
    await writeFile(path.join(root, 'src/gallery.imgprompt.json'), `${JSON.stringify({ ...pears, pick: 0 }, null, 2)}\n`)
    expect((await runCli(['generate'], root, env)).code).toBe(0)
    const sheet = await runCli(['gallery', '--out', 'sheet', '--since', 'HEAD'], root, NO_KEY_CI)
    expect(sheet.code, sheet.stderr).toBe(0)

    const page = await browser.newPage()
    try {
      await openSheet(page, root)
      const cards = await page.locator('article[data-spec]').evaluateAll((all) => all.map((card) => [card.getAttribute('data-spec'), card.getAttribute('data-change')]))
      // The WebP variant of the hero is the same request: it changed too.
      expect(cards).toEqual([
        ['src/gallery.imgprompt.json', 'changed'],
        ['src/hero.imgprompt.json', 'changed'],
        ['virtual:ai-image/hero-webp', 'changed'],
      ])
      for (const side of ['old', 'new']) {
        expect(await page.locator(`article[data-spec="src/hero.imgprompt.json"] [data-side="${side}"] [data-candidate="0"] img`).count()).toBe(1)
      }
      const images = await decodedWidths(page)
      expect(images.length).toBe(8) // gallery 2 + 2, hero 1 + 1, hero-webp 1 + 1
      expect(images.filter((image) => image.width === 0)).toEqual([])
      const screenshots = process.env.AI_IMAGE_SCREENSHOTS
      if (screenshots) await page.screenshot({ path: path.join(path.resolve(REPO, screenshots), 'gallery-since.png'), fullPage: true })
    } finally {
      await page.close()
    }
  })

  it('a prompt made to inject markup and script renders as text; the page script still runs', async () => {
    const xss = '</script><img src=x onerror="window.injected=1"><script>window.injected=2</script>'
    const project = suite.keep(
      await makeProject({
        'src/xss.imgprompt.json': spec({ prompt: xss, model: 'dall-e-2', size: '256x256', alt: '"><img src=x onerror="window.injected=3">' }),
        'src/plain.imgprompt.json': spec({ prompt: 'a plain spec', model: 'dall-e-2', size: '256x256' }),
      }),
    )
    expect((await runCli(['generate'], project.root, suite.openaiEnv())).code).toBe(0)
    expect((await runCli(['gallery', '--out', 'sheet'], project.root, NO_KEY_CI)).code).toBe(0)
    const page = await browser.newPage()
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    try {
      await openSheet(page, project.root)
      expect(await page.evaluate('window.injected')).toBeUndefined()
      expect(await page.locator('img[src="x"]').count()).toBe(0)
      const prompt = page.locator('article[data-spec="src/xss.imgprompt.json"] dl.facts dd').first()
      expect(await prompt.textContent()).toBe(xss)
      // The state the page embeds parses back to the prompt.
      const state = embeddedState(await page.content())
      expect(state.specs.find((s) => s.label === 'src/xss.imgprompt.json')!.spec!.prompt).toBe(xss)
      // The page's own script runs under its CSP: a candidate opens in the dialog.
      await page.locator('article[data-spec="src/xss.imgprompt.json"] [data-candidate="0"] a').click()
      await expect.poll(() => page.locator('dialog#viewer').evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(true)
      expect(dialogs).toEqual([])
    } finally {
      await page.close()
    }
  })
})
