/**
 * What a collected batch line cost: its `usage` priced per token kind at the Batch API's share of the
 * synchronous price (`costFromUsage` of `engine/cost.ts` with `batch: true`, the one usage pricing of the
 * engine, #12), where the model has token prices; otherwise the estimate of `engine/cost.ts` at batch prices,
 * labelled as an estimate. A project's `prices` option for a model wins over the built-in prices (it is what
 * the user says they pay). (On the front-door floor, not in `batch/`: the Batch API layer and the engine,
 * where prices live, are independent neighbours.)
 */
import { costFromUsage, estimateCost, roundUSD, type PriceOverrides } from '../engine/cost.js'

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
  const actual = costFromUsage(model, usage, prices, { batch: true })
  if (actual) return { usd: roundUSD(actual.usd), basis: 'usage' }
  const spec = { model, request: { n: images, ...(request.quality === undefined ? {} : { quality: request.quality }), ...(request.size === undefined ? {} : { size: request.size }) } }
  const estimate = estimateCost(spec, prices, images, { batch: true })
  return estimate.usd === undefined ? undefined : { usd: roundUSD(estimate.usd), basis: 'estimate' }
}
