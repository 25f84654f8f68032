/**
 * Cost ESTIMATES, before spending: US dollars per image from the one price table below (API-FACTS.md,
 * late 2026), which the `prices` option overrides per model, plus the streamed previews a spec asks for
 * (`partial_images`: 100 output tokens each). Prompt and input-image tokens are left out. Estimates err high
 * where the request leaves a choice to the server: `quality: auto` is priced as the dearest quality, `size:
 * auto` as the dearest size.
 */
import type { ModelPrice } from '../../types.js'
import { parseSize } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'

/** USD per image, by quality, then by size. */
export type PriceTable = Readonly<Record<string, Readonly<Record<string, number>>>>

/** Output image tokens of GPT image models before gpt-image-2, by quality and size. */
const GPT_IMAGE_OUTPUT_TOKENS: PriceTable = {
  low: { '1024x1024': 272, '1024x1536': 408, '1536x1024': 400 },
  medium: { '1024x1024': 1056, '1024x1536': 1584, '1536x1024': 1568 },
  high: { '1024x1024': 4160, '1024x1536': 6240, '1536x1024': 6208 },
}

function tokenPriced(usdPerMillionOutputTokens: number): PriceTable {
  return Object.fromEntries(
    Object.entries(GPT_IMAGE_OUTPUT_TOKENS).map(([quality, sizes]) => [
      quality,
      Object.fromEntries(Object.entries(sizes).map(([size, tokens]) => [size, (tokens * usdPerMillionOutputTokens) / 1e6])),
    ]),
  )
}

/**
 * THE price table (estimates). gpt-image-2 has no published price in our sources: its images are
 * reported as unpriced until `prices` names one.
 */
export const PRICES: Readonly<Record<string, PriceTable>> = {
  'gpt-image-1.5': {
    low: { '1024x1024': 0.009, '1024x1536': 0.013, '1536x1024': 0.013 },
    medium: { '1024x1024': 0.034, '1024x1536': 0.05, '1536x1024': 0.05 },
    high: { '1024x1024': 0.133, '1024x1536': 0.2, '1536x1024': 0.2 },
  },
  'gpt-image-1': tokenPriced(40),
  'gpt-image-1-mini': tokenPriced(8),
  'dall-e-3': {
    standard: { '1024x1024': 0.04, '1792x1024': 0.08, '1024x1792': 0.08 },
    hd: { '1024x1024': 0.08, '1792x1024': 0.12, '1024x1792': 0.12 },
  },
  'dall-e-2': { standard: { '256x256': 0.016, '512x512': 0.018, '1024x1024': 0.02 } },
}

/** Each streamed preview (`partial_images`) costs this many extra output tokens (API-FACTS.md "Streaming"). */
export const PREVIEW_OUTPUT_TOKENS = 100

/**
 * USD per image output token, for the previews of streamed specs. gpt-image-1.5 has per-image prices only: its
 * figure is what they come to per output token ($0.133 for the 4,160 tokens of a high 1024x1024 image).
 */
const OUTPUT_TOKEN_USD: Readonly<Record<string, number>> = {
  'gpt-image-1': 40 / 1e6,
  'gpt-image-1-mini': 8 / 1e6,
  'gpt-image-1.5': 32 / 1e6,
}

export type PriceOverrides = Readonly<Record<string, ModelPrice>>

/** The Batch API bills this share of the synchronous price (API-FACTS.md "Batch API"): applied to the table and to `prices`. */
export const BATCH_PRICE_FACTOR = 0.5

export interface CostEstimate {
  /** Images this estimate is for. */
  images: number
  /** Estimated USD per image; undefined when the model has no price (see `basis`). */
  usdPerImage: number | undefined
  /** Estimated USD for all `images`; undefined when unpriced. */
  usd: number | undefined
  /** How the figure was reached, for dry runs and error messages. */
  basis: string
}

/**
 * Estimate for `images` images of a spec (default: all of its `n`), with the streamed previews of those images
 * when the spec streams; `batch`: at Batch API prices (the Batch API does not stream).
 */
export function estimateCost(
  spec: Pick<ValidatedSpec, 'model' | 'request'> & { transport?: Pick<ValidatedSpec['transport'], 'stream' | 'partialImages'> },
  overrides: PriceOverrides = {},
  images = Number(spec.request.n ?? 1),
  options: { batch?: boolean } = {},
): CostEstimate {
  const price = priceOf(spec.model, String(spec.request.quality ?? 'auto'), String(spec.request.size ?? 'auto'), overrides)
  if (!price) {
    return { images, usdPerImage: undefined, usd: undefined, basis: `no price known for ${spec.model}; set the \`prices\` option to estimate it` }
  }
  const usd = options.batch ? price.usd * BATCH_PRICE_FACTOR : price.usd
  const batchNote = options.batch ? `, at batch prices (${BATCH_PRICE_FACTOR * 100}%)` : ''
  const previews = !options.batch && spec.transport?.stream ? spec.transport.partialImages * images : 0
  const tokenUSD = Object.prototype.hasOwnProperty.call(OUTPUT_TOKEN_USD, spec.model) ? OUTPUT_TOKEN_USD[spec.model]! : undefined
  let previewUSD = 0
  let previewNote = ''
  if (previews > 0) {
    const what = `${previews} streamed preview${previews === 1 ? '' : 's'} (${PREVIEW_OUTPUT_TOKENS} output tokens each)`
    if (tokenUSD === undefined) previewNote = `; ${what} not priced: no output-token price for ${spec.model}`
    else {
      previewUSD = previews * PREVIEW_OUTPUT_TOKENS * tokenUSD
      previewNote = ` + ${what}`
    }
  }
  const total = usd * images + previewUSD
  return { images, usdPerImage: images > 0 ? total / images : usd, usd: total, basis: `${spec.model} ${price.basis}${batchNote}${previewNote}, estimate` }
}

function priceOf(model: string, quality: string, size: string, overrides: PriceOverrides): { usd: number; basis: string } | undefined {
  const own = Object.prototype.hasOwnProperty.call(overrides, model) ? overrides[model] : undefined
  const source = own === undefined ? '' : ' (prices option)'
  if (typeof own === 'number') return { usd: own, basis: `per image${source}` }
  const table: Record<string, number | Record<string, number>> | undefined =
    own ?? (Object.prototype.hasOwnProperty.call(PRICES, model) ? PRICES[model] : undefined)
  if (!table || Object.keys(table).length === 0) return undefined

  // `auto` (or a quality the table lacks) is priced as the dearest quality: an estimate should err high.
  const qualityKey = Object.prototype.hasOwnProperty.call(table, quality) ? quality : dearest(table)
  const bySize = table[qualityKey]!
  const qualityNote = qualityKey === quality ? quality : `${qualityKey} (quality ${quality} priced as the dearest)`
  if (typeof bySize === 'number') return { usd: bySize, basis: `${qualityNote}${source}` }
  const sizeEntry = priceForSize(bySize, size)
  if (sizeEntry === undefined) return undefined
  return { usd: sizeEntry.usd, basis: `${qualityNote} ${sizeEntry.note}${source}` }
}

/** Exact size; `auto` as the dearest size; another size scaled by pixel area from the listed size nearest in area. */
function priceForSize(bySize: Record<string, number>, size: string): { usd: number; note: string } | undefined {
  const listed = Object.entries(bySize)
  if (listed.length === 0) return undefined
  const exact = bySize[size]
  if (exact !== undefined) return { usd: exact, note: size }
  const wanted = parseSize(size)
  if (!wanted) {
    const [dearSize, usd] = listed.reduce((a, b) => (b[1] > a[1] ? b : a))
    return { usd, note: `${dearSize} (size ${size} priced as the dearest)` }
  }
  const area = wanted.width * wanted.height
  const withArea = listed.map(([s, usd]) => ({ s, usd, area: areaOf(s) })).filter((e) => e.area > 0)
  if (withArea.length === 0) return undefined
  const nearest = withArea.reduce((a, b) => (Math.abs(b.area - area) < Math.abs(a.area - area) ? b : a))
  return { usd: (nearest.usd * area) / nearest.area, note: `${size} (scaled by area from ${nearest.s})` }
}

function areaOf(size: string): number {
  const parsed = parseSize(size)
  return parsed ? parsed.width * parsed.height : 0
}

function dearest(table: Record<string, number | Record<string, number>>): string {
  const top = (v: number | Record<string, number>) => (typeof v === 'number' ? v : Math.max(0, ...Object.values(v)))
  return Object.keys(table).reduce((a, b) => (top(table[b]!) > top(table[a]!) ? b : a))
}

export function formatUSD(usd: number): string {
  return `$${usd.toFixed(usd > 0 && usd < 1 ? 3 : 2)}`
}
