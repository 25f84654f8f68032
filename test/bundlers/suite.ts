/**
 * What every bundler must show on the shared fixture app, against the emulator: each image in the output
 * with its requested size, its URL in the JS, a second build with no request, SPEC_INVALID and
 * CACHE_MISS_FROZEN through the bundler's own error channel, and rebuilds in watch mode when a spec or an
 * input image changes.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startEmulator, type Emulator } from '../emulator/index.js'
import { withEnv } from '../helpers/env.js'
import { spec, type TempProject } from '../helpers/project.js'
import { BuildFailed, type BuildOutcome, type BuildRun, type Driver } from './drivers.js'
import { BAD_SPEC, FIXTURE_OPTIONS, HERO, fixtureProject, solidPng, type FixtureResult } from './fixture.js'

let imports = 0

/** Imports a built entry (fresh each time: watch rebuilds overwrite the same file). */
export async function loadApp(run: BuildRun): Promise<FixtureResult> {
  const module = (await import(`${pathToFileURL(run.entry).href}?v=${++imports}`)) as { result: FixtureResult }
  return module.result
}

/** The file an image URL points at: a `file:` URL, or the driver's public path + a path in the outdir. */
export function assetFile(driver: Driver, run: BuildRun, url: string): string {
  if (url.startsWith('file:')) return fileURLToPath(url)
  expect(url.startsWith(driver.publicPath), `${url} starts with ${driver.publicPath}`).toBe(true)
  return path.join(run.outDir, url.slice(driver.publicPath.length))
}

async function expectImage(driver: Driver, run: BuildRun, url: string, width: number, height: number): Promise<string> {
  const file = assetFile(driver, run, url)
  expect(existsSync(file), `${url} → ${file}`).toBe(true)
  const meta = await sharp(file).metadata()
  expect([meta.width, meta.height]).toEqual([width, height])
  return path.relative(run.outDir, file).split(path.sep).join('/')
}

/** Collects watch outcomes; `until` waits for one that passes `check`, poking (e.g. rewriting a file) until then. */
class Outcomes {
  private readonly seen: BuildOutcome[] = []
  private wake: (() => void) | undefined

  push = (outcome: BuildOutcome) => {
    this.seen.push(outcome)
    this.wake?.()
  }

  async until<T>(check: (outcome: BuildOutcome) => Promise<T | undefined>, poke?: () => Promise<void>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let read = this.seen.length
    let lastPoke = 0
    const log: string[] = []
    while (Date.now() < deadline) {
      // Watchers may miss a write made while they start up: poke again until a build answers.
      if (poke && Date.now() - lastPoke > 2_000) {
        lastPoke = Date.now()
        await poke()
      }
      while (read < this.seen.length) {
        const outcome = this.seen[read++]!
        const value = await check(outcome).catch((error: Error) => (log.push(error.message), undefined))
        if (value !== undefined) return value
        log.push(outcome instanceof BuildFailed ? `failed: ${outcome.message}` : 'a build that did not pass the check')
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, 250)
      })
    }
    throw new Error(`no watch build passed the check within ${timeoutMs} ms:\n${log.join('\n')}`)
  }
}

export function bundlerSuite(driver: Driver): void {
  describe(`${driver.name}: the fixture app against the emulator`, () => {
    let emulator: Emulator
    const projects: TempProject[] = []
    const env = () => ({ ...emulator.openaiEnv(), CI: undefined })
    const project = async () => {
      const created = await fixtureProject()
      projects.push(created)
      return created
    }

    beforeAll(async () => {
      emulator = await startEmulator()
    })
    afterAll(async () => {
      await emulator.close()
      await Promise.all(projects.map((p) => p.remove()))
    })
    afterEach(() => emulator.reset())

    it('emits every image with its requested size, references it from the JS, and rebuilds with no request', async () => {
      const fixture = await project()
      const run = await withEnv(env(), () => driver.build(fixture.root, FIXTURE_OPTIONS))

      expect(emulator.requests.map((r) => `${r.operation} ${String(r.body.prompt)}`).sort()).toEqual([
        'edits paint it blue',
        'generations a lighthouse at dusk',
        'generations a red fox',
        'generations a round logo',
      ])
      const app = await loadApp(run)
      expect(app.hero).toMatchObject({ width: 1536, height: 1024, alt: HERO.prompt, srcset: '', placeholder: undefined })
      expect(app.hero.key).toMatch(/^[0-9a-f]{64}$/)
      expect(app.hero.images).toEqual([{ src: app.hero.src, width: 1536, height: 1024 }])
      expect(app.edited).toMatchObject({ width: 1024, height: 1024 })
      expect(app.fox).toMatchObject({ width: 1024, height: 1024 })
      expect(app.logo.alt).toBe('Logo')

      const js = await readFile(run.entry, 'utf8')
      const files = {
        hero: await expectImage(driver, run, app.hero.src, 1536, 1024),
        edited: await expectImage(driver, run, app.edited.src, 1024, 1024),
        fox: await expectImage(driver, run, app.fox.src, 1024, 1024),
        logo: await expectImage(driver, run, app.logo.src, 1024, 1024),
      }
      expect(files.hero).toMatch(/^assets\/hero-[\w-]+\.png$/)
      expect(files.edited).toMatch(/^assets\/edited-[\w-]+\.png$/)
      expect(files.logo).toMatch(/^assets\/logo-[\w-]+\.png$/)
      for (const file of Object.values(files)) expect(js).toContain(file)
      // The pixels are the API's: the emitted PNG is only recompressed losslessly, and never larger.
      const cached = (await fixture.list('.ai-image')).filter((f) => f.endsWith('.png'))
      expect(cached).toHaveLength(4)
      const heroBytes = await readFile(assetFile(driver, run, app.hero.src))
      const pixels = (bytes: Buffer) => sharp(bytes).ensureAlpha().raw().toBuffer()
      const heroPixels = await pixels(heroBytes)
      const cachedBytes = await Promise.all(cached.map((f) => fixture.read(`.ai-image/${f}`)))
      const source = (await Promise.all(cachedBytes.map(async (bytes) => ((await pixels(bytes)).equals(heroPixels) ? bytes : undefined)))).find(Boolean)
      expect(source).toBeDefined()
      expect(heroBytes.length).toBeLessThanOrEqual(source!.length)

      emulator.reset()
      const again = await withEnv(env(), () => driver.build(fixture.root, FIXTURE_OPTIONS))
      expect(emulator.requests).toHaveLength(0)
      expect(await loadApp(again)).toEqual(app)
    })

    it('fails a bad spec with SPEC_INVALID naming the file, through the bundler', async () => {
      const fixture = await project()
      await fixture.write('src/bad.imgprompt.json', BAD_SPEC)
      const error = await withEnv(env(), () => driver.build(fixture.root, FIXTURE_OPTIONS, 'src/broken.js')).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(BuildFailed)
      const text = (error as BuildFailed).messages.join('\n')
      expect(text).toContain('SPEC_INVALID')
      expect(text).toContain('src/bad.imgprompt.json')
      expect(text).toContain('"size"')
      // Once: a bundler that goes on loading after a failed start (esbuild) does not list it again (#13).
      expect(text.match(/SPEC_INVALID/g), text).toHaveLength(1)
      expect(emulator.requests).toHaveLength(0)
    })

    it('fails in CI on an empty cache, listing every missing spec, without a request', async () => {
      const fixture = await project()
      const error = await withEnv({ ...emulator.openaiEnv(), CI: '1' }, () => driver.build(fixture.root, FIXTURE_OPTIONS)).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(BuildFailed)
      const text = (error as BuildFailed).messages.join('\n')
      expect(text).toContain('CACHE_MISS_FROZEN')
      for (const label of ['src/hero.imgprompt.json', 'src/edited.imgprompt.json', 'virtual:ai-image/logo', 'virtual:ai-image?prompt=']) {
        expect(text).toContain(label)
      }
      expect(emulator.requests).toHaveLength(0)
    })

    it('rebuilds in watch mode when a spec file or an input image changes', async () => {
      const fixture = await project()
      const outcomes = new Outcomes()
      await withEnv(env(), async () => {
        const stop = await driver.watch(fixture.root, FIXTURE_OPTIONS, outcomes.push)
        try {
          const built = async (outcome: BuildOutcome) => (outcome instanceof BuildFailed ? undefined : { run: outcome, app: await loadApp(outcome) })
          const first = await outcomes.until(built)
          expect([first.app.hero.width, first.app.hero.height]).toEqual([1536, 1024])

          const taller = spec({ ...HERO, size: '1024x1536' })
          const second = await outcomes.until(
            async (outcome) => {
              const next = await built(outcome)
              return next && next.app.hero.height === 1536 ? next : undefined
            },
            () => fixture.write('src/hero.imgprompt.json', taller),
          )
          await expectImage(driver, second.run, second.app.hero.src, 1024, 1536)

          const editsBefore = emulator.requests.filter((r) => r.operation === 'edits').length
          const green = await solidPng('#33cc33')
          const third = await outcomes.until(
            async (outcome) => {
              const next = await built(outcome)
              return next && next.app.edited.src !== first.app.edited.src ? next : undefined
            },
            () => fixture.write('src/input.png', green),
          )
          await expectImage(driver, third.run, third.app.edited.src, 1024, 1024)
          // A new input is a new key: one more edits request, sending the new image.
          const edits = emulator.requests.filter((r) => r.operation === 'edits')
          expect(edits.length).toBe(editsBefore + 1)
        } finally {
          await stop()
        }
      })
    })
  })
}
