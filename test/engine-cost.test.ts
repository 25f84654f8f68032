/**
 * What a build costs and tells: estimates from the one price table (and the `prices` option), dry-run plans
 * that send nothing, budgets that stop before the limit is passed and list what was not generated, progress
 * while generating, and the closing summary; silence when every spec is a hit.
 */
import { describe, expect, it } from 'vitest'
import { estimateCost } from '../src/core/engine/cost.js'
import { formatProgress } from '../src/core/engine/progress.js'
import { resolveOptions } from '../src/core/options.js'
import { startEmulator } from './emulator/index.js'
import { makeService, specProject } from './helpers/engine.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()

const specOf = (model: string, request: Record<string, string | number>) => ({ model, request: { n: 1, ...request } })

describe('cost estimates', () => {
  it('prices every known model from the table', () => {
    expect(estimateCost(specOf('gpt-image-1.5', { quality: 'high', size: '1536x1024' })).usd).toBeCloseTo(0.2)
    expect(estimateCost(specOf('gpt-image-1', { quality: 'high', size: '1024x1024' })).usd).toBeCloseTo(0.1664)
    expect(estimateCost(specOf('gpt-image-1-mini', { quality: 'low', size: '1024x1024' })).usd).toBeCloseTo(0.002176)
    expect(estimateCost(specOf('dall-e-3', { quality: 'hd', size: '1792x1024', n: 3 })).usd).toBeCloseTo(0.36)
    expect(estimateCost(specOf('dall-e-2', { quality: 'standard', size: '512x512' })).usd).toBeCloseTo(0.018)
    expect(estimateCost(specOf('dall-e-2', { quality: 'standard', size: '512x512' })).basis).toContain('estimate')
  })

  it('prices auto quality and size as the dearest, so an estimate errs high', () => {
    const auto = estimateCost(specOf('gpt-image-1.5', { quality: 'auto', size: 'auto' }))
    expect(auto.usd).toBeCloseTo(0.2)
    expect(auto.basis).toContain('quality auto priced as the dearest')
  })

  it('leaves models without a price unpriced until the prices option names one', () => {
    const spec = specOf('my-model', { quality: 'high', size: '512x512', n: 2 })
    expect(estimateCost(spec)).toMatchObject({ usd: undefined, usdPerImage: undefined })
    expect(estimateCost(spec).basis).toContain('set the `prices` option')
    const priced = estimateCost(spec, { 'my-model': { high: { '1024x1024': 0.2 }, low: 0.01 } })
    // 512x512 is a quarter of the area of 1024x1024.
    expect(priced.usdPerImage).toBeCloseTo(0.05)
    expect(priced.usd).toBeCloseTo(0.1)
    expect(priced.basis).toContain('scaled by area from 1024x1024')
    expect(estimateCost(specOf('my-model', {}), { 'my-model': 0.07 }).usd).toBeCloseTo(0.07)
    expect(estimateCost(specOf('gpt-image-1.5', { quality: 'low', size: '1024x1024' }), { 'gpt-image-1.5': { low: 0.5 } }).usd).toBe(0.5)
    // gpt-image-2 is priced by its output tokens (the image guide's calculator: 7024 for 1024x1024 high, at $30/1M).
    expect(estimateCost(specOf('gpt-image-2', { quality: 'high', size: '1024x1024' })).usd).toBeCloseTo(0.21072)
  })

  it('rejects a malformed prices option, naming the model', () => {
    expect(() => resolveOptions({ prices: { 'gpt-image-2': 'cheap' as never } }, { env: {} })).toThrow(/prices\.gpt-image-2.*must be a number/)
    expect(() => resolveOptions({ rateLimit: { maxWait: -1 } }, { env: {} })).toThrow(/rateLimit\.maxWait/)
    expect(resolveOptions({}, { env: {} }).rateLimit.maxWait).toBe(600_000)
  })
})

describe('a build that costs money', () => {
  it('plans a dry run without a request, with an estimate per spec', async () => {
    const made = await specProject(3, { model: 'gpt-image-1.5', size: '1024x1024', quality: 'medium' })
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project)
    const plan = await h.service.plan(made.refs)
    expect(suite.emulator.requests).toHaveLength(0)
    // The table's $0.034 an image, plus the prompt's tokens ("picture number N": 16 bytes + 64) at $5/1M.
    expect(plan.map((p) => [p.status, p.images, p.estimate?.usd])).toEqual(Array(3).fill(['miss', 1, 0.034 + (80 * 5) / 1e6]))
    expect(plan[0]!.key).toMatch(/^[0-9a-f]{64}$/)
    await h.service.generateAll(made.refs)
    expect((await h.service.plan(made.refs)).map((p) => p.status)).toEqual(['hit', 'hit', 'hit'])
  })

  it('stops before the call that would pass budget.maxImages, listing what was not generated', async () => {
    const made = await specProject(5)
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project, { budget: { maxImages: 3 } })
    const report = await h.service.generateAll(made.refs)
    expect(suite.emulator.billedImages).toBe(3)
    expect(suite.emulator.requests).toHaveLength(3)
    const refused = report.results.filter((r) => r.status === 'failed')
    expect(refused).toHaveLength(2)
    for (const r of refused) expect(r.error).toMatchObject({ code: 'BUDGET_EXCEEDED' })
    expect(report.budgetError).toMatchObject({ code: 'BUDGET_EXCEEDED' })
    for (const r of refused) expect(report.budgetError!.message).toContain(`  - ${r.label}`)
    expect(report.summary).toMatchObject({ generated: 3, failed: 2 })
  })

  it('stops before the call whose estimate would pass budget.maxUSD', async () => {
    const made = await specProject(5, { model: 'dall-e-2', size: '256x256' })
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project, { budget: { maxUSD: 0.05 } })
    const report = await h.service.generateAll(made.refs)
    // $0.016 each: a fourth image would make $0.064.
    expect(suite.emulator.billedImages).toBe(3)
    expect(report.summary.estimatedUSD).toBeCloseTo(0.048)
    expect(report.budgetError!.message).toContain('would pass budget.maxUSD = $0.050')
  })

  it('ends with a summary (generated, hits, retries, tokens, estimated cost) and keeps usage in the sidecar', async () => {
    const made = await specProject(3, { model: 'gpt-image-1.5', size: '1024x1024', quality: 'low' })
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project)
    suite.emulator.enqueue({ status: 503, body: { error: { message: 'overloaded', type: 'server_error', param: null, code: null } } })
    const report = await h.service.generateAll([...made.refs, made.refs[0]!])
    expect(report.summary).toMatchObject({ generated: 3, images: 3, hits: 0, retries: 1, tokens: 3 * 322 })
    expect(report.summary.estimatedUSD).toBeCloseTo(0.0282)
    // Actual: 50 text input tokens at $5/1M and 272 output tokens at $32/1M, each.
    expect(report.summary.actualUSD).toBeCloseTo(3 * (50 * 5 + 272 * 32) / 1e6, 9)
    const summary = h.logs.filter((l) => l.startsWith('info') && l.includes('generated 3 images'))
    expect(summary).toHaveLength(1)
    expect(summary[0]).toMatch(
      /generated 3 images for 3 specs in .*, 0 cache hits, 4 requests, 1 retry, 966 tokens, estimated cost \$0\.028, actual cost \$0\.027 \(from usage\)$/,
    )
    const found = await h.service.inspectEntry(report.results[0]!.key!)
    const entry = found.status === 'hit' ? found.entry : undefined
    expect(entry!.sidecar.usage).toMatchObject({ total_tokens: 322, output_tokens: 272 })
    expect(entry!.sidecar.cost).toEqual({ usd: (50 * 5 + 272 * 32) / 1e6, basis: 'usage' })

    // A second run over the same specs: all hits, and not a word.
    const again = makeService(suite.emulator, made.project)
    const second = await again.service.generateAll(made.refs)
    expect(second.summary).toMatchObject({ hits: 3, generated: 0, requests: 0 })
    expect(again.logs).toEqual([])
  })

  it('reports progress while generating: done/total, in flight, ETA', async () => {
    const slow = await startEmulator({ latencyMs: 120 })
    try {
      const made = await specProject(6)
      suite.keep(made.project)
      const h = makeService(slow, made.project, { concurrency: 2 }, { progressIntervalMs: 40, clock: undefined })
      await h.service.generateAll(made.refs)
      const lines = h.logs.filter((l) => l.includes('generating images:'))
      expect(lines.length).toBeGreaterThan(2)
      expect(lines.some((l) => /generating images: [1-5]\/6 done, 2 in flight, ETA \d/.test(l)), lines.join('\n')).toBe(true)
      // Nothing after the build ended.
      const count = h.logs.length
      await new Promise((resolve) => setTimeout(resolve, 120))
      expect(h.logs).toHaveLength(count)
    } finally {
      await slow.close()
    }
  })

  it('formats a rate-limit pause in progress lines', () => {
    expect(formatProgress({ total: 60, done: 20, failed: 1, inFlight: 0, waiting: 4, rateLimitedMs: 7_500, etaMs: 35_000, elapsedMs: 10_000 })).toBe(
      'generating images: 20/60 done, 1 failed, 0 in flight, rate limit: resuming in 7.5 s, ETA 35.0 s',
    )
  })
})
