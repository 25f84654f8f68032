/**
 * The actual cost from `usage` (#12): priced per token kind and model, at Batch API prices on request, with
 * `prices.<model>.tokens` overriding; kept in the sidecar as `cost`; a budget that reserves an estimate erring
 * high before each call and counts the actual spend as answers arrive.
 */
import { describe, expect, it } from 'vitest'
import { checkSidecar } from '../src/core/cache/entry.js'
import { computeKey } from '../src/core/cache/key.js'
import { BATCH_PRICE_FACTOR, costFromUsage, estimateCost } from '../src/core/engine/cost.js'
import { resolveOptions } from '../src/core/options.js'
import { png } from './helpers/suite.js'
import { makeService, specProject } from './helpers/engine.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()

const usage = (text: number, image: number, output: number) => ({
  input_tokens: text + image,
  output_tokens: output,
  total_tokens: text + image + output,
  input_tokens_details: { text_tokens: text, image_tokens: image },
})

describe('costFromUsage', () => {
  it('prices text input, image input and output tokens at the model’s rates', () => {
    expect(costFromUsage('gpt-image-1', usage(100, 1000, 4160))!.usd).toBeCloseTo((100 * 5 + 1000 * 10 + 4160 * 40) / 1e6, 12)
    expect(costFromUsage('gpt-image-1-mini', usage(100, 1000, 272))!.usd).toBeCloseTo((100 * 2 + 1000 * 2.5 + 272 * 8) / 1e6, 12)
    expect(costFromUsage('gpt-image-1.5', usage(50, 0, 272))).toEqual({ usd: expect.closeTo((50 * 5 + 272 * 32) / 1e6, 12), basis: 'usage' })
    expect(costFromUsage('gpt-image-2', usage(50, 0, 196))!.usd).toBeCloseTo((50 * 5 + 196 * 30) / 1e6, 12)
  })

  it('prices a usage without a breakdown at the dearer input rate (errs high), and at batch prices on request', () => {
    expect(costFromUsage('gpt-image-1', { input_tokens: 100, output_tokens: 10 })!.usd).toBeCloseTo((100 * 10 + 10 * 40) / 1e6, 12)
    const sync = costFromUsage('gpt-image-1.5', usage(50, 200, 1000))!.usd
    expect(costFromUsage('gpt-image-1.5', usage(50, 200, 1000), {}, { batch: true })!.usd).toBeCloseTo(sync * BATCH_PRICE_FACTOR, 12)
  })

  it('is undefined for DALL-E, an unknown model, and a usage that is missing or malformed', () => {
    expect(costFromUsage('dall-e-3', usage(50, 0, 272))).toBeUndefined()
    expect(costFromUsage('acme-image', usage(50, 0, 272))).toBeUndefined()
    expect(costFromUsage('gpt-image-1.5', null)).toBeUndefined()
    expect(costFromUsage('gpt-image-1.5', { input_tokens: 'many', output_tokens: -5 })).toBeUndefined()
  })

  it('takes prices.<model>.tokens, for a known model or an unknown one, checked by the options; per-image prices win over usage', () => {
    const prices = { 'gpt-image-1.5': { tokens: { textInput: 1, imageInput: 2, imageOutput: 3 } }, 'acme-image': { tokens: { textInput: 1, imageInput: 1, imageOutput: 10 }, auto: 0.05 } }
    const options = resolveOptions({ prices }, { env: {} })
    expect(costFromUsage('gpt-image-1.5', usage(10, 20, 30), options.prices)!.usd).toBeCloseTo((10 + 40 + 90) / 1e6, 12)
    expect(costFromUsage('acme-image', usage(10, 0, 100), options.prices)!.usd).toBeCloseTo((10 + 1000) / 1e6, 12)
    // The per-image part still estimates.
    expect(estimateCost({ model: 'acme-image', request: { n: 1, quality: 'auto' } }, options.prices).usd).toBeCloseTo(0.05)
    // What the user says they pay per image is what the model costs: usage is not priced at list prices then.
    expect(costFromUsage('gpt-image-1', usage(10, 20, 30), { 'gpt-image-1': 0.1 })).toBeUndefined()
    expect(costFromUsage('gpt-image-1-2025-04-15', usage(10, 20, 30), { 'gpt-image-1': { high: 0.2 } })).toBeUndefined()
    expect(() => resolveOptions({ prices: { 'gpt-image-1.5': { tokens: { textInput: 1 } } } as never }, { env: {} })).toThrow(/prices\.gpt-image-1\.5\.tokens.*textInput, imageInput, imageOutput/)
  })
})

describe("the sidecar's cost", () => {
  it('is absent when nothing priced it (and in older sidecars), checked when present', () => {
    const material = { endpoint: 'generations' as const, request: { model: 'gpt-image-1.5', prompt: 'p', n: 1 }, inputs: [], mask: null, seed: null }
    const key = computeKey(material)
    const base = {
      version: 1, key, ...material,
      provider: { kind: 'openai' }, created: 1, revised_prompt: null, usage: null, request_id: null,
      images: [{ file: `${key}-0.png`, sha256: 'b'.repeat(64), bytes: 10, width: 1024, height: 1024, mime: 'image/png' }],
    }
    const read = (cost: unknown) => checkSidecar(cost === undefined ? base : { ...base, cost }, key)
    const older = read(undefined)
    expect(older.ok && !('cost' in older.value)).toBe(true)
    expect(read({ usd: 0.0123, basis: 'usage' })).toMatchObject({ ok: true, value: { cost: { usd: 0.0123, basis: 'usage' } } })
    for (const bad of [{ usd: -1, basis: 'usage' }, { usd: 1e9, basis: 'usage' }, { usd: 0.1, basis: 'guess' }, { usd: '0.1', basis: 'usage' }, 'cheap', null]) {
      expect(read(bad), JSON.stringify(bad)).toMatchObject({ ok: false, reason: expect.stringContaining('"cost"') })
    }
  })
})

describe('the budget counts what was spent', () => {
  it('lets calls whose estimates would pass maxUSD go on once the answers say they cost less', async () => {
    // quality auto is estimated as high ($0.133 at 1024x1024); the emulator answers low (272 output tokens, under
    // $0.01): a second estimate on top of the first would pass $0.25, on top of the first's actual cost it does not.
    const made = await specProject(3, { model: 'gpt-image-1.5', size: '1024x1024', quality: 'auto' })
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project, { budget: { maxUSD: 0.25 }, concurrency: 1 })
    const report = await h.service.generateAll(made.refs)
    expect(report.budgetError).toBeUndefined()
    expect(suite.emulator.billedImages).toBe(3)
    expect(report.summary.actualUSD).toBeCloseTo(3 * (50 * 5 + 272 * 32) / 1e6, 9)
    expect(report.summary.estimatedUSD).toBeCloseTo(3 * (0.133 + (80 * 5) / 1e6), 9)
  })

  it('still refuses the call whose estimate, on top of the spend so far, would pass maxUSD', async () => {
    const made = await specProject(3, { model: 'gpt-image-1.5', size: '1024x1024', quality: 'auto' }, 't')
    suite.keep(made.project)
    const h = makeService(suite.emulator, made.project, { budget: { maxUSD: 0.1 }, concurrency: 1 })
    const report = await h.service.generateAll(made.refs)
    // Each call reserves $0.133 (high 1024x1024) + its prompt: not even the first fits.
    expect(suite.emulator.billedImages).toBe(0)
    expect(report.budgetError?.message).toMatch(/BUDGET_EXCEEDED[\s\S]*would pass budget\.maxUSD = \$0\.100/)
  })

  it('reserves an estimate that errs high: an edit with inputs, and a stream with previews, cost less than estimated', async () => {
    const input = await png(64, 64, [10, 120, 200])
    for (const fields of [
      { model: 'gpt-image-1.5', quality: 'low', size: '1024x1024', image: ['./in0.png', './in1.png'], input_fidelity: 'high' },
      { model: 'gpt-image-2', quality: 'low', size: '1024x1024', n: 2, stream: true, partial_images: 3 },
    ]) {
      const project = await suite.project({ 'in0.png': input, 'in1.png': input })
      const made = await specProject(1, { ...fields, image: (fields as { image?: string[] }).image?.map((p) => `.${p}`) }, 'e')
      suite.keep(made.project)
      await Promise.all(['in0.png', 'in1.png'].map((f) => project.read(f).then((data) => made.project.write(f, data))))
      const h = makeService(suite.emulator, made.project)
      const [plan] = await h.service.plan(made.refs)
      const report = await h.service.generateAll(made.refs)
      const found = await h.service.inspectEntry(report.results[0]!.key!)
      const cost = found.status === 'hit' ? found.entry.sidecar.cost : undefined
      expect(cost?.basis).toBe('usage')
      expect(cost!.usd).toBeGreaterThan(0)
      expect(plan!.estimate!.usd!).toBeGreaterThanOrEqual(cost!.usd)
      suite.emulator.reset()
    }
  })
})
