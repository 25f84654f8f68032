/**
 * The engine against the emulator's faults, through ImageService (the path the plugins and the CLI share):
 * rate-limit hints in every form and the deadline for long ones, what is retried and what fails at once,
 * stalls, broken bodies, split calls, keeping finished siblings and resuming, with virtual time.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { isAiImageError, type AiImageError } from '../src/core/errors.js'
import { answers } from './emulator/index.js'
import { cacheFiles, makeService, refsOf, specProject } from './helpers/engine.js'
import { emulatorSuite } from './helpers/suite.js'
import { makeProject, spec } from './helpers/project.js'

const suite = emulatorSuite()

async function oneSpec(fields: Record<string, unknown> = {}) {
  const made = await specProject(1, fields)
  suite.keep(made.project)
  return made
}

function failure(report: { results: Array<{ error?: unknown }> }, index = 0): AiImageError {
  const error = report.results[index]!.error
  expect(isAiImageError(error), String(error)).toBe(true)
  return error as AiImageError
}

async function expectCached(harness: ReturnType<typeof makeService>, key: string | undefined) {
  expect(key).toBeDefined()
  const found = await harness.service.inspectEntry(key!)
  expect(found.status).toBe('hit')
  return found.status === 'hit' ? found.entry : undefined
}

describe('rate limits (429)', () => {
  it('waits retry-after-ms, pausing the queue, then succeeds', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue(answers.rateLimited({ 'retry-after-ms': '1500' }))
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests).toHaveLength(2)
    expect(h.clock.sleeps).toEqual([1500])
    expect(h.logs.join('\n')).toContain('pausing all requests for 1.5 s as the server asked')
    expect(report.summary).toMatchObject({ requests: 2, retries: 1, rateLimited: 1, images: 1 })
  })

  it.each([
    ['retry-after in seconds', () => ({ 'retry-after': '2' }), [2_000, 2_000]],
    // HTTP dates have whole seconds. Made when the test runs: a date made when the file is collected is
    // seconds old by then on a loaded machine.
    ['a retry-after HTTP date', () => ({ 'retry-after': new Date(Date.now() + 30_000).toUTCString() }), [28_000, 30_000]],
    // Over the 60 s the official SDK ignores, under the default deadline.
    ['a 90 s hint', () => ({ 'retry-after': '90' }), [90_000, 90_000]],
  ] as const)('waits %s, then succeeds', async (_, headers, [min, max]) => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue(answers.rateLimited(headers()))
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(h.clock.sleeps).toHaveLength(1)
    expect(h.clock.sleeps[0]).toBeGreaterThanOrEqual(min)
    expect(h.clock.sleeps[0]).toBeLessThanOrEqual(max)
  })

  it('fails with RATE_LIMITED naming the wait when a 90 s hint passes a shorter deadline', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project, { rateLimit: { maxWait: 60_000 } })
    suite.emulator.enqueue(answers.rateLimited({ 'retry-after': '90' }))
    const report = await h.service.generateAll(refs)
    const error = failure(report)
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.message).toContain('wait 1 min 30 s')
    expect(error.message).toContain('rateLimit.maxWait = 1 min 0 s')
    expect(error.file).toBe('src/s0.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(h.clock.sleeps).toEqual([])
  })

  it('backs off with jitter when a 429 has no hint', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue(answers.rateLimited({}), answers.rateLimited({}))
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(h.clock.sleeps).toHaveLength(2)
    expect(h.clock.sleeps[0]).toBeLessThanOrEqual(500)
    expect(h.clock.sleeps[1]).toBeLessThanOrEqual(1000)
  })

  it('fails after one request on insufficient_quota (a 429 that is billing, not a rate limit)', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue(answers.insufficientQuota())
    const error = failure(await h.service.generateAll(refs))
    expect(error.code).toBe('QUOTA_EXCEEDED')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(h.clock.sleeps).toEqual([])
  })
})

describe('retries', () => {
  it('does not retry a 500 that says x-should-retry: false', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue(answers.serverError(500, { 'x-should-retry': 'false' }))
    const error = failure(await h.service.generateAll(refs))
    expect(error.code).toBe('NETWORK')
    expect(suite.emulator.requests).toHaveLength(1)
  })

  it('retries a 400 that says x-should-retry: true, and a 503 with backoff', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue({ ...answers.invalidParameter('size', 'transient'), headers: { 'x-should-retry': 'true' } }, answers.serverError(503))
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests).toHaveLength(3)
    expect(h.clock.sleeps).toHaveLength(2)
  })

  it('fails at once on auth errors, content filters and 400s', async () => {
    for (const [answer, code] of [
      [answers.unauthorized(), 'AUTH'],
      [answers.moderationBlocked('output'), 'CONTENT_FILTERED'],
      [answers.invalidParameter('quality', 'bad quality'), 'SPEC_INVALID'],
    ] as const) {
      const { project, refs } = await oneSpec()
      const h = makeService(suite.emulator, project)
      suite.emulator.enqueue(answer)
      expect(failure(await h.service.generateAll(refs)).code).toBe(code)
      expect(suite.emulator.requests).toHaveLength(1)
      suite.emulator.reset()
    }
  })

  it('ends a stalled response in TIMEOUT, counts it as possibly billed, and retries it', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project, { timeout: 300 })
    suite.emulator.enqueue({ kind: 'stall' })
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests).toHaveLength(2)
    expect(report.summary).toMatchObject({ retries: 1, possiblyBilledFailures: 1 })
    expect(h.logs.join('\n')).toMatch(/TIMEOUT .*retry 1\/4/)

    suite.emulator.reset()
    const again = await specProject(1, { prompt: 'always stalls' })
    suite.keep(again.project)
    const h2 = makeService(suite.emulator, again.project, { timeout: 200, retries: 1 })
    suite.emulator.enqueue({ kind: 'stall' }, { kind: 'stall' })
    expect(failure(await h2.service.generateAll(again.refs)).code).toBe('TIMEOUT')
    expect(suite.emulator.requests).toHaveLength(2)
  })

  it('retries a truncated base64 body and never writes it to the cache', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    suite.emulator.enqueue({ kind: 'truncated-base64' }, { kind: 'not-json' }, { kind: 'wrong-size' })
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests).toHaveLength(4)
    expect(report.summary.possiblyBilledFailures).toBe(3)
    expect(h.service.activity().cache.imagesWritten).toBe(1)
    const entry = await expectCached(h, report.results[0]!.key)
    const meta = await sharp(entry!.images[0]!.data).metadata()
    expect([meta.width, meta.height]).toEqual([1024, 1024])
    expect((await cacheFiles(project)).filter((f) => f.includes('.tmp-'))).toEqual([])
  })
})

describe('splitting, keeping what was paid for, resuming', () => {
  it('splits n above the per-call limit (dall-e-3: one per call) into parallel calls', async () => {
    const { project, refs } = await oneSpec({ model: 'dall-e-3', size: '1024x1024', n: 3 })
    const h = makeService(suite.emulator, project)
    const report = await h.service.generateAll(refs)
    expect(report.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests.map((r) => r.body.n)).toEqual([1, 1, 1])
    const entry = await expectCached(h, report.results[0]!.key)
    expect(entry!.images).toHaveLength(3)
    expect(entry!.sidecar.revised_prompt).toContain('revised:')
  })

  it('keeps the finished calls of a failed spec and asks only for the missing ones on the next run', async () => {
    const { project, refs } = await oneSpec({ model: 'dall-e-3', size: '1024x1024', n: 3 })
    const h = makeService(suite.emulator, project)
    // One call (whichever arrives first) is refused by the content filter; the other two are billed and kept.
    suite.emulator.enqueue(answers.contentPolicyViolation())
    const first = await h.service.generateAll(refs)
    const error = failure(first)
    expect(error.code).toBe('CONTENT_FILTERED')
    expect(error.message).toContain('2 of 3 images were kept in the cache')
    expect(suite.emulator.billedImages).toBe(2)
    const [planned] = await h.service.plan(refs)
    expect(planned).toMatchObject({ status: 'miss', images: 1, note: '2 of 3 images kept from an interrupted run' })

    suite.emulator.reset()
    const h2 = makeService(suite.emulator, project)
    const second = await h2.service.generateAll(refs)
    expect(second.results[0]!.status).toBe('generated')
    expect(suite.emulator.requests).toHaveLength(1)
    const entry = await expectCached(h2, second.results[0]!.key)
    expect(entry!.images.map((i) => i.file)).toEqual([0, 1, 2].map((i) => `${second.results[0]!.key}-${i}.png`))
    expect(second.summary).toMatchObject({ images: 1, resumedImages: 2 })
    expect(h2.logs.join('\n')).toContain('resuming an interrupted generation, 2 of 3 images kept')
    // The journal is gone once the sidecar commits, and so is the machine-local work folder.
    expect((await cacheFiles(project)).filter((f) => f.startsWith('.work/'))).toEqual([])
  })

  it('lets the other specs of a build finish when one fails', async () => {
    const made = await specProject(4)
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project, { concurrency: 1 })
    suite.emulator.enqueue(answers.moderationBlocked('input'))
    const report = await h.service.generateAll(made.refs)
    expect(report.results.map((r) => r.status).sort()).toEqual(['failed', 'generated', 'generated', 'generated'])
    expect(report.summary).toMatchObject({ generated: 3, failed: 1 })
  })

  it('cleans temp files of a killed process but leaves those of a live one', async () => {
    const { project, refs } = await oneSpec()
    const h = makeService(suite.emulator, project)
    const folder = path.join(project.root, '.ai-image', 'ab')
    await project.write('.ai-image/ab/abcd-0.png.tmp-999999999-0a0b0c0d', 'half an image')
    await project.write(`.ai-image/ab/abcd-1.png.tmp-${process.pid}-0a0b0c0d`, 'a write in progress')
    await h.service.generateAll(refs)
    expect(await cacheFiles(project)).toContain(`ab/abcd-1.png.tmp-${process.pid}-0a0b0c0d`)
    expect(await cacheFiles(project)).not.toContain('ab/abcd-0.png.tmp-999999999-0a0b0c0d')
    expect(await readFile(path.join(folder, `abcd-1.png.tmp-${process.pid}-0a0b0c0d`), 'utf8')).toBe('a write in progress')
    expect(h.logs.join('\n')).toContain('removed 1 leftover file(s)')
  })
})

describe('one key per process', () => {
  it('generates a key once when several specs and imports share it', async () => {
    const project = await makeProject({
      'src/a.imgprompt.json': spec({ prompt: 'shared', model: 'gpt-image-2', size: '1024x1024' }),
      'src/b.imgprompt.json': spec({ size: '1024x1024', model: 'gpt-image-2', prompt: 'shared', quality: 'auto' }),
    })
    suite.keep(project)
    const h = makeService(suite.emulator, project)
    const refs = refsOf(project, ['src/a.imgprompt.json', 'src/b.imgprompt.json', 'src/a.imgprompt.json'])
    const report = await h.service.generateAll(refs)
    expect(new Set(report.results.map((r) => r.key)).size).toBe(1)
    expect(suite.emulator.requests).toHaveLength(1)
  })
})
