/**
 * The cost of a collected batch line (#16): usage priced per token at the batch factor where the table has
 * per-token prices, the table's estimate at batch prices otherwise, the `prices` option first; and the
 * sidecar's `cost` field, read from an untrusted cache entry like every other field.
 */
import { describe, expect, it } from 'vitest'
import { checkSidecar } from '../src/core/cache/entry.js'
import { computeKey, type KeyMaterial } from '../src/core/cache/key.js'
import { BATCH_PRICE_FACTOR } from '../src/core/engine/cost.js'
import { batchLineCost } from '../src/core/service/batch-cost.js'

const usage = { input_tokens: 300, output_tokens: 4160, total_tokens: 4460, input_tokens_details: { text_tokens: 100, image_tokens: 200 } }

describe('batchLineCost', () => {
  it('prices usage per token kind at the batch factor (gpt-image-1: $5 text, $10 image input, $40 output per 1M)', () => {
    const cost = batchLineCost({ model: 'gpt-image-1', quality: 'high', size: '1024x1024' }, usage, 1)
    expect(cost).toEqual({ usd: ((100 * 5 + 200 * 10 + 4160 * 40) / 1e6) * BATCH_PRICE_FACTOR, basis: 'usage' })
  })

  it('prices input tokens the answer does not split at the dearer input rate (errs high), as the engine does (#12)', () => {
    const cost = batchLineCost({ model: 'gpt-image-1-mini' }, { input_tokens: 50, output_tokens: 272 }, 1)
    // Stored to the micro-dollar.
    expect(cost).toEqual({ usd: Math.round(((50 * 2.5 + 272 * 8) / 1e6) * 0.5 * 1e6) / 1e6, basis: 'usage' })
    // gpt-image-1.5 and gpt-image-2 have token prices too now: $5 / $8 / $32 and $5 / $8 / $30 per 1M.
    expect(batchLineCost({ model: 'gpt-image-1.5', quality: 'high', size: '1024x1024' }, usage, 2)).toEqual({ usd: ((100 * 5 + 200 * 8 + 4160 * 32) / 1e6) * 0.5, basis: 'usage' })
    expect(batchLineCost({ model: 'gpt-image-2-2026-04-21' }, usage, 1)).toEqual({ usd: ((100 * 5 + 200 * 8 + 4160 * 30) / 1e6) * 0.5, basis: 'usage' })
  })

  it('falls back to the estimate at batch prices: a model without per-token prices, or an answer without usage', () => {
    expect(batchLineCost({ model: 'dall-e-3', quality: 'hd', size: '1024x1024' }, usage, 2)).toEqual({ usd: 0.08, basis: 'estimate' })
    expect(batchLineCost({ model: 'gpt-image-1', quality: 'low', size: '1024x1024' }, undefined, 1)).toEqual({ usd: Math.round(((272 * 40) / 1e6) * 0.5 * 1e6) / 1e6, basis: 'estimate' })
    // Usage that is not numbers is not priced.
    expect(batchLineCost({ model: 'gpt-image-1-mini', quality: 'low', size: '1024x1024' }, { input_tokens: '50', output_tokens: -1 }, 1)?.basis).toBe('estimate')
  })

  it('the prices option wins (what the user says they pay), at batch prices; an unpriced model has no cost', () => {
    expect(batchLineCost({ model: 'gpt-image-1', quality: 'high', size: '1024x1024' }, usage, 1, { 'gpt-image-1': 0.1 })).toEqual({ usd: 0.05, basis: 'estimate' })
    expect(batchLineCost({ model: 'acme-image', quality: 'high', size: '1024x1024' }, usage, 1)).toBeUndefined()
  })
})

describe("a sidecar's cost", () => {
  const material: KeyMaterial = { endpoint: 'generations', request: { prompt: 'a pear', model: 'gpt-image-1.5', n: 1, size: '1024x1024', quality: 'low' }, inputs: [], mask: null, seed: null }
  const key = computeKey(material)
  const sidecar = (cost: unknown) => ({
    version: 1,
    key,
    ...material,
    provider: { kind: 'openai' },
    created: 1_763_700_000,
    revised_prompt: null,
    usage: null,
    request_id: null,
    images: [{ file: `${key}-0.png`, sha256: 'a'.repeat(64), bytes: 100, width: 1024, height: 1024, mime: 'image/png' }],
    ...(cost === undefined ? {} : { cost }),
  })

  it('is kept when it is { usd >= 0, basis: usage | estimate }, and absent in older entries', () => {
    const checked = checkSidecar(sidecar({ usd: 0.0045, basis: 'estimate', extra: '<script>' }), key)
    expect(checked).toMatchObject({ ok: true, value: { cost: { usd: 0.0045, basis: 'estimate' } } })
    if (checked.ok) expect(checked.value.cost).toEqual({ usd: 0.0045, basis: 'estimate' })
    const older = checkSidecar(sidecar(undefined), key)
    expect(older.ok && 'cost' in older.value).toBe(false)
  })

  it('refuses the entry (a miss with a reason) when the cost is anything else', () => {
    for (const cost of [{ usd: -1, basis: 'usage' }, { usd: '0.1', basis: 'usage' }, { usd: Number.NaN, basis: 'usage' }, { usd: 1, basis: 'guess' }, 'free', null]) {
      const checked = checkSidecar(sidecar(cost), key)
      expect(checked.ok, JSON.stringify(cost)).toBe(false)
      if (!checked.ok) expect(checked.reason).toContain('"cost" must be { usd: a number >= 0, basis: "usage" | "estimate" }')
    }
  })
})
