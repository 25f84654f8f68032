/**
 * What a collected batch line cost: its `usage` priced per token at the Batch API's share of the synchronous
 * price (`BATCH_PRICE_FACTOR`), where the price table knows the model's per-token prices; otherwise the
 * estimate of `engine/cost.ts` at batch prices, labelled as an estimate.
 *
 * Per-token prices here are those API-FACTS.md ("Cost") gives: gpt-image-1 (text input $5, image input $10,
 * image output $40 per 1M tokens) and gpt-image-1-mini ($2, $2.50, $8). Other models are priced per image
 * by the table. A project's `prices` option for a model wins over both (it is what the user says they pay).
 * Meant to be replaced by the engine's own usage pricing once it has one (issue #12): one function to point.
 * (On the front-door floor, not in `batch/`: the Batch API layer and the engine, where prices live, are
 * independent neighbours.)
 */
import { BATCH_PRICE_FACTOR, estimateCost, type PriceOverrides } from '../engine/cost.js'

/** USD per 1M tokens: text input, image input, image output. */
interface TokenPrices {
  textInput: number
  imageInput: number
  output: number
}

const TOKEN_PRICES: Readonly<Record<string, TokenPrices>> = {
  'gpt-image-1': { textInput: 5, imageInput: 10, output: 40 },
  'gpt-image-1-mini': { textInput: 2, imageInput: 2.5, output: 8 },
}

/** The sidecar's `cost` (DESIGN.md, cache layout). */
export interface EntryCost {
  usd: number
  basis: 'usage' | 'estimate'
}

/**
 * Cost of one collected line (`images` candidates of a request asking for `model` at `quality` and `size`),
 * at batch prices; undefined when neither usage nor the table can price it.
 */
export function batchLineCost(
  request: { model: string; quality?: string | number; size?: string | number },
  usage: Record<string, unknown> | undefined,
  images: number,
  prices: PriceOverrides = {},
): EntryCost | undefined {
  const model = String(request.model)
  const own = Object.prototype.hasOwnProperty.call(prices, model)
  const rates = own || !Object.prototype.hasOwnProperty.call(TOKEN_PRICES, model) ? undefined : TOKEN_PRICES[model]
  const tokens = usage && tokenCounts(usage)
  if (rates && tokens) {
    const usd = ((tokens.text * rates.textInput + tokens.image * rates.imageInput + tokens.output * rates.output) / 1e6) * BATCH_PRICE_FACTOR
    return { usd: round(usd), basis: 'usage' }
  }
  const spec = { model, request: { n: images, ...(request.quality === undefined ? {} : { quality: request.quality }), ...(request.size === undefined ? {} : { size: request.size }) } }
  const estimate = estimateCost(spec, prices, images, { batch: true })
  return estimate.usd === undefined ? undefined : { usd: round(estimate.usd), basis: 'estimate' }
}

/** Input tokens split into text and image (all text when the answer does not split them), and output tokens. */
function tokenCounts(usage: Record<string, unknown>): { text: number; image: number; output: number } | undefined {
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined)
  const input = count(usage.input_tokens)
  const output = count(usage.output_tokens)
  if (input === undefined || output === undefined) return undefined
  const details = usage.input_tokens_details
  const detail = details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : {}
  const image = Math.min(input, count(detail.image_tokens) ?? 0)
  return { text: input - image, image, output }
}

/** Micro-dollars are plenty, and keep sums of stored figures free of float noise. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6
}
