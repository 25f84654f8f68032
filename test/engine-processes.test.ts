/**
 * Across processes: builds sharing one cache folder generate each key once, and a build killed with SIGKILL
 * at any moment leaves nothing a reader would accept but is broken; the rerun recovers the dead process's
 * locks, cleans its temp files, and pays only for the images that were not kept. Real child processes
 * (test/helpers/generate-child.ts); the emulator runs here, so it sees every request of every process.
 */
import type { ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ImageService } from '../src/core/service.js'
import { startEmulator, type Emulator } from './emulator/index.js'
import { startGenerateChild, type ChildRun } from './helpers/child.js'
import { cacheFiles } from './helpers/engine.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'

let emulator: Emulator | undefined
const projects: TempProject[] = []
const children = new Set<ChildProcess>()

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
  await emulator?.close()
  emulator = undefined
})
afterAll(async () => {
  await Promise.all(projects.map((p) => p.remove()))
})

function startChild(project: TempProject, files: string[], options: Record<string, unknown> = {}, onGo = false): ChildRun {
  const run = startGenerateChild(project.root, files, { provider: 'openai', ...options }, emulator!.openaiEnv(), onGo)
  children.add(run.child)
  void run.done.then(() => children.delete(run.child))
  return run
}

async function specFiles(count: number, fields: (i: number) => Record<string, unknown>): Promise<{ project: TempProject; files: string[] }> {
  const content: Record<string, string> = {}
  for (let i = 0; i < count; i++) content[`src/p${i}.imgprompt.json`] = spec({ model: 'gpt-image-2', size: '1024x1024', prompt: `process test ${i}`, ...fields(i) })
  const project = await makeProject(content)
  projects.push(project)
  return { project, files: Object.keys(content) }
}

/** Every sidecar in the cache: a reader must accept it whole or not at all (never a corrupt entry). */
async function sidecarStates(project: TempProject): Promise<string[]> {
  const service = new ImageService({ provider: 'openai' }, { root: project.root, env: {} })
  const sidecars = (await cacheFiles(project)).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
  return Promise.all(sidecars.map(async (f) => (await service.inspectEntry(path.basename(f, '.json'))).status))
}

/** Images a rerun must still request: `n` of each miss, less the candidates kept in its journal. */
async function imagesStillMissing(project: TempProject, files: string[]): Promise<number> {
  const service = new ImageService({ provider: 'openai' }, { root: project.root, env: {} })
  const plan = await service.plan(files.map((f) => ({ kind: 'file', file: path.join(project.root, f) })))
  return plan.reduce((sum, entry) => sum + entry.images, 0)
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('several processes, one cache folder', () => {
  it('four processes building the same 30 specs at once make the emulator bill exactly 30 images', async () => {
    emulator = await startEmulator({ latencyMs: 150 })
    const { project, files } = await specFiles(30, () => ({}))
    const runs = Array.from({ length: 4 }, () => startChild(project, files, {}, true))
    await Promise.all(runs.map((r) => r.ready))
    for (const run of runs) run.go()
    const results = await Promise.all(runs.map((r) => r.done))

    for (const result of results) expect(result.code, `${result.stderr}\n${result.report?.errors.join("\n")}`).toBe(0)
    expect(emulator.billedImages).toBe(30)
    expect(emulator.requests).toHaveLength(30)
    const generated = results.map((r) => r.report!.summary.generated)
    const hits = results.map((r) => r.report!.summary.hits)
    expect(generated.reduce((a, b) => a + b)).toBe(30)
    expect(hits.reduce((a, b) => a + b)).toBe(90)
    // The work was really shared: more than one process generated.
    expect(generated.filter((n) => n > 0).length, `generated per process: ${generated}`).toBeGreaterThan(1)
    expect(await sidecarStates(project)).toEqual(Array(30).fill('hit'))
    expect((await cacheFiles(project)).filter((f) => f.startsWith('.work/') || f.includes('.tmp-'))).toEqual([])
  })

  it('a build killed with SIGKILL mid-generation (twice) and rerun leaves every entry verified and every spec generated', async () => {
    emulator = await startEmulator({ latencyMs: 120 })
    // Single images, dall-e-3 candidates split into one call each, and two-candidate calls.
    const { project, files } = await specFiles(12, (i) =>
      i < 2 ? { model: 'dall-e-3', size: '1024x1024', n: 3 } : i < 4 ? { n: 2 } : {},
    )
    const totalImages = 2 * 3 + 2 * 2 + 8
    const options = { concurrency: 2 }

    // Killed first as soon as an image is kept (noted in a journal, or committed), then a few paid images
    // into the second run.
    const somethingKept = async () =>
      (await cacheFiles(project)).some((f) => /^\.work\/journal\/[0-9a-f]{64}\.json$/.test(f) || /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
    for (const [round, killWhen] of [
      [1, somethingKept],
      [2, async (billedBefore: number) => emulator!.billedImages >= billedBefore + 4],
    ] as const) {
      const stillMissing = await imagesStillMissing(project, files)
      const billedBefore = emulator.billedImages
      const run = startChild(project, files, options)
      await waitFor(() => killWhen(billedBefore))
      run.child.kill('SIGKILL')
      expect((await run.done).signal).toBe('SIGKILL')
      // Requests the dead process had in flight are still finished (and billed) by the server.
      await emulator.idle()
      // Nothing half-written is accepted: every sidecar present verifies whole.
      expect((await sidecarStates(project)).every((s) => s === 'hit')).toBe(true)
      // What was paid for and written is kept for the rerun (answers in flight at the kill are lost).
      const after = await imagesStillMissing(project, files)
      if (round === 1) expect(after).toBeLessThan(stillMissing)
      else expect(after).toBeLessThanOrEqual(stillMissing)
    }

    const missing = await imagesStillMissing(project, files)
    const billedBefore = emulator.billedImages
    const final = await startChild(project, files, options).done
    expect(final.code, final.stderr).toBe(0)
    expect(final.report!.statuses.every((s) => s === 'generated' || s === 'hit')).toBe(true)
    // The rerun paid only for the images that were not kept.
    expect(emulator.billedImages - billedBefore).toBe(missing)
    expect(final.report!.summary.images).toBe(missing)
    expect(await sidecarStates(project)).toEqual(Array(12).fill('hit'))
    expect(await imagesStillMissing(project, files)).toBe(0)
    // The dead processes' locks were recovered and their temp files cleaned; nothing machine-local is left.
    expect((await cacheFiles(project)).filter((f) => f.startsWith('.work/') || f.includes('.tmp-'))).toEqual([])
    expect(emulator.billedImages).toBeGreaterThanOrEqual(totalImages)
  })
})
