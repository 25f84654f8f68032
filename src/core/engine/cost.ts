/**
 * What images cost, in US dollars, from two tables that the `prices` option overrides per model:
 *
 * - ACTUAL cost, from the `usage` of an answer: GPT image models bill tokens by kind (text input, image input
 *   of edits, image output, which includes the 100 tokens of each streamed preview), at `TOKEN_PRICES`
 *   (`costFromUsage`; the Batch API's collection prices its lines with it at `BATCH_PRICE_FACTOR`).
 * - ESTIMATES, before spending: USD per image by quality and size (`PRICES`), plus what the request itself
 *   adds on token-billed models (prompt tokens, input images, previews). Estimates err high where the
 *   request leaves a choice to the server: `quality: auto` is priced as the dearest quality, `size: auto` as
 *   the dearest size, a prompt as one token per byte, an input image rounded up for its fidelity.
 *
 * A dated snapshot (`gpt-image-1-2025-04-15`) or an alias (`chatgpt-image-latest`) is priced as its family
 * (`modelFamily`). Prices from OpenAI's price list (API-FACTS.md "Cost", and the model pages as of 2026).
 */
import type { ModelPrice } from '../../types.js'
import { modelCapabilities, modelFamily, parseSize } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'

/** USD per image, by quality, then by size. */
export type PriceTable = Readonly<Record<string, Readonly<Record<string, number>>>>

/** USD per 1M tokens of each kind a GPT image model bills. */
export interface TokenPrices {
  textInput: number
  imageInput: number
  imageOutput: number
}

/**
 * THE token prices (OpenAI's price list): gpt-image-1 $5 text / $10 image input / $40 image output, gpt-image-1-mini
 * $2 / $2.50 / $8 (API-FACTS.md); gpt-image-1.5 $5 / $8 / $32 and gpt-image-2 $5 / $8 / $30 (OpenAI's model and
 * pricing pages, 2026: 1.5's per-image prices are its output tokens at $32/1M). Output text tokens, where an
 * answer reports them, are billed at the image output rate here (the dearer one: errs high).
 */
export const TOKEN_PRICES: Readonly<Record<string, TokenPrices>> = {
  'gpt-image-2': { textInput: 5, imageInput: 8, imageOutput: 30 },
  'gpt-image-1.5': { textInput: 5, imageInput: 8, imageOutput: 32 },
  'gpt-image-1': { textInput: 5, imageInput: 10, imageOutput: 40 },
  'gpt-image-1-mini': { textInput: 2, imageInput: 2.5, imageOutput: 8 },
}

/** Output image tokens of GPT image models before gpt-image-2, by quality and size (API-FACTS.md "Cost"). */
export const GPT_IMAGE_OUTPUT_TOKENS: PriceTable = {
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
 * Output image tokens of gpt-image-2 for a quality and size: OpenAI publishes no table, only a cost calculator
 * in its image generation guide; this is that calculator's formula (decoded in the OpenAI developer forum,
 * "gpt-image-2 output pricing calculator", 2026; it gives the guide's 7024 tokens for 1024x1024 high and 5488
 * for 1536x1024 high). The answer's `usage` is what is charged; this only estimates.
 */
export function gptImage2OutputTokens(quality: 'low' | 'medium' | 'high', width: number, height: number): number {
  const factor = { low: 16, medium: 48, high: 96 }[quality]
  const long = Math.max(width, height)
  const short = Math.min(width, height)
  const shortAxis = Math.floor((2 * factor * short + long) / (2 * long))
  return Math.ceil((factor * shortAxis * (2_000_000 + width * height)) / 4_000_000)
}

/** The dearest answer gpt-image-2 may give to `size: auto`, for estimates: its most pixels, square. */
const GPT_IMAGE_2_DEAREST_SIZE = '2880x2880'

/**
 * THE per-image price table (estimates). gpt-image-1-mini's are OpenAI's published per-image prices, which are
 * above its output tokens at $8/1M (so an estimate does not come out low). gpt-image-2 is priced by
 * `gptImage2OutputTokens`, for any size.
 */
export const PRICES: Readonly<Record<string, PriceTable>> = {
  'gpt-image-1.5': {
    low: { '1024x1024': 0.009, '1024x1536': 0.013, '1536x1024': 0.013 },
    medium: { '1024x1024': 0.034, '1024x1536': 0.05, '1536x1024': 0.05 },
    high: { '1024x1024': 0.133, '1024x1536': 0.2, '1536x1024': 0.2 },
  },
  'gpt-image-1': tokenPriced(40),
  'gpt-image-1-mini': {
    low: { '1024x1024': 0.005, '1024x1536': 0.006, '1536x1024': 0.006 },
    medium: { '1024x1024': 0.011, '1024x1536': 0.015, '1536x1024': 0.015 },
    high: { '1024x1024': 0.036, '1024x1536': 0.052, '1536x1024': 0.052 },
  },
  'dall-e-3': {
    standard: { '1024x1024': 0.04, '1792x1024': 0.08, '1024x1792': 0.08 },
    hd: { '1024x1024': 0.08, '1792x1024': 0.12, '1024x1792': 0.12 },
  },
  'dall-e-2': { standard: { '256x256': 0.016, '512x512': 0.018, '1024x1024': 0.02 } },
}

/** Output tokens of one streamed preview (API-FACTS.md "Streaming"). */
export const PARTIAL_IMAGE_TOKENS = 100

/**
 * Input tokens an input image (or a mask) may bill, for estimates. gpt-image-1 bills a 512 px tile at 129
 * tokens plus 65 (OpenAI forum, "Vision pricing calculator", 2025): 4 tiles' worth is 581. `input_fidelity: high`
 * adds about $0.062 an image at $10/1M (same source), some 6,200 tokens; gpt-image-2 takes every input at high
 * fidelity. Rounded up: estimates err high.
 */
const INPUT_IMAGE_TOKENS = { low: 600, high: 7_000 } as const
/** Tokens the service adds to a prompt (the edits endpoint bills about 32 more per request, same source). */
const PROMPT_OVERHEAD_TOKENS = 64

export type PriceOverrides = Readonly<Record<string, ModelPrice>>

/** The Batch API bills this share of the synchronous price (API-FACTS.md "Batch API"): applied to the tables and to `prices`. */
export const BATCH_PRICE_FACTOR = 0.5

export interface CostEstimate {
  /** Images this estimate is for. */
  images: number
  /** Estimated USD per image (with its share of the request's own tokens); undefined when unpriced. */
  usdPerImage: number | undefined
  /** Estimated USD for all `images`; undefined when unpriced. */
  usd: number | undefined
  /** How the figure was reached, for dry runs and error messages. */
  basis: string
}

/** A cost and how it was reached: from the answer's token `usage`, or estimated from the tables. */
export interface Cost {
  usd: number
  basis: 'usage' | 'estimate'
}

/** What an estimate reads of a spec; the request's own tokens need the rest (absent: not counted). */
export type EstimatedSpec = Pick<ValidatedSpec, 'model' | 'request'> & Partial<Pick<ValidatedSpec, 'endpoint' | 'inputs' | 'mask' | 'transport'>>

/**
 * Estimate for `images` images of a spec (default: all of its `n`), erring high: the output images from the
 * per-image table, and on token-billed models each request's prompt tokens, input images and previews.
 * `batch`: at Batch API prices.
 */
export function estimateCost(
  spec: EstimatedSpec,
  overrides: PriceOverrides = {},
  images = Number(spec.request.n ?? 1),
  options: { batch?: boolean } = {},
): CostEstimate {
  const price = priceOf(spec.model, String(spec.request.quality ?? 'auto'), String(spec.request.size ?? 'auto'), overrides)
  if (!price) {
    return { images, usdPerImage: undefined, usd: undefined, basis: `no price known for ${spec.model}; set the \`prices\` option to estimate it` }
  }
  const factor = options.batch ? BATCH_PRICE_FACTOR : 1
  const extra = requestExtras(spec, overrides, images, options.batch === true)
  const usd = (price.usd * images + extra.usd) * factor
  const batchNote = options.batch ? `, at batch prices (${BATCH_PRICE_FACTOR * 100}%)` : ''
  return {
    images,
    usdPerImage: images > 0 ? usd / images : price.usd * factor,
    usd,
    basis: `${spec.model} ${price.basis}${extra.note}${batchNote}, estimate`,
  }
}

/**
 * The actual cost of an answer from its `usage` (text input, image input and output tokens, at the model's
 * token prices or those of `prices[model].tokens`), or undefined when the answer has no usable usage or the
 * model no token price. `batch`: at Batch API prices (for the lines of a collected batch).
 */
export function costFromUsage(
  model: string,
  usage: Readonly<Record<string, unknown>> | null | undefined,
  overrides: PriceOverrides = {},
  options: { batch?: boolean } = {},
): Cost | undefined {
  const prices = tokenPricesOf(model, overrides)
  if (!prices || !usage) return undefined
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined)
  const input = count(usage.input_tokens)
  const output = count(usage.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const details = usage.input_tokens_details
  const text = details && typeof details === 'object' ? count((details as Record<string, unknown>).text_tokens) : undefined
  const image = details && typeof details === 'object' ? count((details as Record<string, unknown>).image_tokens) : undefined
  // Without a breakdown, every input token is priced at the dearer input rate.
  const inputUsd =
    text === undefined && image === undefined
      ? (input ?? 0) * Math.max(prices.textInput, prices.imageInput)
      : (text ?? 0) * prices.textInput + (image ?? Math.max(0, (input ?? 0) - (text ?? 0))) * prices.imageInput
  const usd = ((inputUsd + (output ?? 0) * prices.imageOutput) / 1e6) * (options.batch ? BATCH_PRICE_FACTOR : 1)
  return { usd, basis: 'usage' }
}

/**
 * Token prices of a model: `prices[model].tokens`, else its family's in the option, else the built-in table.
 * A `prices` entry without `tokens` (per-image prices: what the user says they pay) wins over the built-in
 * token prices: the model is then priced by that entry only, never from usage.
 */
export function tokenPricesOf(model: string, overrides: PriceOverrides = {}): TokenPrices | undefined {
  const family = modelFamily(model)
  for (const name of [model, family]) {
    if (name === undefined || !Object.prototype.hasOwnProperty.call(overrides, name)) continue
    const own = overrides[name]
    const tokens = own !== undefined && typeof own === 'object' ? (own as Record<string, unknown>).tokens : undefined
    return tokens && typeof tokens === 'object' ? (tokens as unknown as TokenPrices) : undefined
  }
  return family !== undefined && Object.prototype.hasOwnProperty.call(TOKEN_PRICES, family) ? TOKEN_PRICES[family] : undefined
}

/** Prompt tokens, input images and previews of the requests making `images` images, on a token-billed model. */
function requestExtras(spec: EstimatedSpec, overrides: PriceOverrides, images: number, batch: boolean): { usd: number; note: string } {
  const prices = tokenPricesOf(spec.model, overrides)
  if (!prices || images <= 0) return { usd: 0, note: '' }
  const calls = Math.ceil(images / (modelCapabilities(spec.model)?.perCallN ?? 10))
  const prompt = typeof spec.request.prompt === 'string' ? Buffer.byteLength(spec.request.prompt, 'utf8') + PROMPT_OVERHEAD_TOKENS : 0
  const inputs = (spec.inputs?.length ?? 0) + (spec.mask ? 1 : 0)
  const highFidelity = spec.request.input_fidelity === 'high' || modelFamily(spec.model) === 'gpt-image-2'
  const inputTokens = inputs * INPUT_IMAGE_TOKENS[highFidelity ? 'high' : 'low']
  // The Batch API does not stream: a batch line makes no previews.
  const previews = !batch && spec.transport?.stream ? spec.transport.partialImages : 0
  const previewTokens = previews * PARTIAL_IMAGE_TOKENS * images
  const usd = (calls * (prompt * prices.textInput + inputTokens * prices.imageInput) + previewTokens * prices.imageOutput) / 1e6
  const parts = [`prompt ≤ ${prompt} tokens`]
  if (inputs > 0) parts.push(`${inputs} input image${inputs > 1 ? 's' : ''}`)
  if (previews > 0) parts.push(`${previews} streamed preview${previews > 1 ? 's' : ''} (${PARTIAL_IMAGE_TOKENS} output tokens each) an image`)
  return { usd, note: ` + ${parts.join(', ')}` }
}

function priceOf(model: string, quality: string, size: string, overrides: PriceOverrides): { usd: number; basis: string } | undefined {
  const family = modelFamily(model)
  const ownOf = (name: string | undefined) => (name !== undefined && Object.prototype.hasOwnProperty.call(overrides, name) ? overrides[name] : undefined)
  const own = ownOf(model) ?? ownOf(family)
  const source = own === undefined ? '' : ' (prices option)'
  if (typeof own === 'number') return { usd: own, basis: `per image${source}` }
  const perImage = own === undefined ? undefined : withoutTokens(own)
  if (perImage === undefined && family === 'gpt-image-2') return gptImage2Price(quality, size, overrides)
  const table: Record<string, number | Record<string, number>> | undefined =
    perImage ?? (family !== undefined && Object.prototype.hasOwnProperty.call(PRICES, family) ? PRICES[family] : undefined)
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

/** A `prices` entry without its `tokens` (which price usage, not images); undefined when nothing is left. */
function withoutTokens(price: Exclude<ModelPrice, number>): Record<string, number | Record<string, number>> | undefined {
  const { tokens: _tokens, ...perImage } = price as Record<string, number | Record<string, number>>
  return Object.keys(perImage).length > 0 ? perImage : undefined
}

/** gpt-image-2 by its output tokens (`gptImage2OutputTokens`), `auto` as the dearest quality and size. */
function gptImage2Price(quality: string, size: string, overrides: PriceOverrides): { usd: number; basis: string } | undefined {
  const prices = tokenPricesOf('gpt-image-2', overrides)
  if (!prices) return undefined
  const q = quality === 'low' || quality === 'medium' || quality === 'high' ? quality : 'high'
  const parsed = parseSize(size) ?? parseSize(GPT_IMAGE_2_DEAREST_SIZE)!
  const tokens = gptImage2OutputTokens(q, parsed.width, parsed.height)
  const qualityNote = q === quality ? q : `${q} (quality ${quality} priced as the dearest)`
  const sizeNote = parseSize(size) ? size : `${GPT_IMAGE_2_DEAREST_SIZE} (size ${size} priced as the dearest)`
  return { usd: (tokens * prices.imageOutput) / 1e6, basis: `${qualityNote} ${sizeNote}, ${tokens} output tokens` }
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

/** Micro-dollars are plenty for a stored figure, and keep sums of stored figures free of float noise. */
export function roundUSD(usd: number): number {
  return Math.round(usd * 1e6) / 1e6
}

export function formatUSD(usd: number): string {
  return `$${usd.toFixed(usd > 0 && usd < 1 ? 3 : 2)}`
}
