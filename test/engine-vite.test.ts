/**
 * The engine inside a real `vite build`: one scheduler and budget for every import of the build, the
 * closing summary through Vite's logger, silence on a fully cached rebuild, and a budget that stops the
 * build with one error listing every spec it kept from being generated, while what was paid for stays cached.
 */
import { describe, expect, it } from 'vitest'
import { answers, startEmulator } from './emulator/index.js'
import { cacheFiles } from './helpers/engine.js'
import { emulatorSuite } from './helpers/suite.js'
import { withEnv } from './helpers/env.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { viteBuild } from './helpers/vite.js'

const HTML = '<!doctype html><html><body><script type="module" src="/src/main.js"></script></body></html>\n'

const suite = emulatorSuite({ latencyMs: 30 })

async function fourSpecs(): Promise<TempProject> {
  const files: Record<string, string> = { 'index.html': HTML }
  const imports: string[] = []
  for (let i = 0; i < 4; i++) {
    files[`src/img${i}.imgprompt.json`] = spec({ prompt: `vite engine ${i}`, model: 'gpt-image-2', size: '1024x1024' })
    imports.push(`import img${i} from './img${i}.imgprompt.json'`)
  }
  files['src/main.js'] = `${imports.join('\n')}\nconsole.log(${[0, 1, 2, 3].map((i) => `img${i}`).join(', ')})\n`
  return suite.keep(await makeProject(files))
}

const env = () => ({ ...suite.emulator.openaiEnv(), CI: undefined })

describe('the engine in a vite build', () => {
  it('ends a build with misses with one summary line, and a cached rebuild says nothing', async () => {
    const project = await fourSpecs()
    const { logs } = await withEnv(env(), () => viteBuild(project.root))
    const ours = logs.lines.filter((l) => l.includes('[ai-image]'))
    expect(ours.filter((l) => l.includes('generated 4 images for 4 specs'))).toHaveLength(1)
    // Estimate: quality auto as high (7,024 output tokens at $30/1M) plus the prompt; actual: the emulator's usage of a
    // low 1024x1024 gpt-image-2 image (50 text tokens at $5/1M, 196 output tokens at $30/1M).
    expect(ours.join('\n')).toMatch(/4 requests, 0 retries, 984 tokens, estimated cost \$0\.844, actual cost \$0\.025 \(from usage\)/)

    suite.emulator.reset()
    const rebuild = await withEnv(env(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(0)
    expect(rebuild.logs.lines.filter((l) => l.includes('[ai-image]'))).toEqual([])
  })

  it('stops at the budget with one BUDGET_EXCEEDED naming every spec not generated, keeping those paid for', async () => {
    const project = await fourSpecs()
    const error = await withEnv(env(), () => viteBuild(project.root, { budget: { maxImages: 2 }, concurrency: 1 })).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(error?.message).toContain('BUDGET_EXCEEDED')
    expect(error?.message).toContain('2 specs were not generated')
    expect(suite.emulator.billedImages).toBe(2)
    const listed = [0, 1, 2, 3].filter((i) => error!.message.includes(`- src/img${i}.imgprompt.json`))
    expect(listed).toHaveLength(2)
    const sidecars = (await cacheFiles(project)).filter((f) => f.endsWith('.json'))
    expect(sidecars).toHaveLength(2)

    // The next build with room in the budget generates only the two that are missing.
    suite.emulator.reset()
    await withEnv(env(), () => viteBuild(project.root, { budget: { maxImages: 2 } }))
    expect(suite.emulator.billedImages).toBe(2)
  })
  it('when one spec fails the build, every image paid for lands in the cache', async () => {
    const slow = await startEmulator({ latencyMs: 600 })
    try {
      const project = await fourSpecs()
      // The first answer refuses at once; the requests of the other specs are answered 600 ms later.
      slow.enqueue({ ...answers.moderationBlocked('input'), afterMs: 0 })
      const error = await withEnv({ ...slow.openaiEnv(), CI: undefined }, () => viteBuild(project.root, { concurrency: 2 })).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(error?.message).toContain('CONTENT_FILTERED')
      // The build ends only after those answers are in: each image paid for is a cache entry.
      expect(slow.billedImages).toBeGreaterThan(0)
      const entries = (await cacheFiles(project)).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
      expect(entries).toHaveLength(slow.billedImages)
      expect((await cacheFiles(project)).filter((f) => f.startsWith('.work/') || f.includes('.tmp-'))).toEqual([])
    } finally {
      await slow.close()
    }
  })
})
