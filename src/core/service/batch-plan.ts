/**
 * Which specs `ai-image generate --batch` submits (#16), after the same checks as `generate`: the spec is
 * valid, its inputs pass the model's limits, the provider takes it (its own restrictions), and the Batch API
 * takes it (OpenAI only; its models and endpoints: `batch/models.ts`). A key in the cache, a key a batch is
 * already making, and a chained spec whose upstream image is not in the cache yet are not submitted; a key two
 * specs share is submitted once. Candidates an interrupted earlier generation kept are not asked again.
 * Sends nothing: the estimate is at batch prices.
 */
import { checkBatchable } from '../batch/models.js'
import type { PendingIndex } from '../batch/pending.js'
import type { PendingKey } from '../batch/record.js'
import type { Inspection } from '../cache/backend.js'
import { estimateCost, type CostEstimate, type PriceOverrides } from '../engine/cost.js'
import { checkInputs } from '../engine/inputs.js'
import type { PreparedSpec } from '../engine/prepare.js'
import type { ProviderConfig } from '../providers/registry.js'
import { refLabel, type SpecRef } from '../spec/source.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { cachedKey, UpstreamMissing, type PlanDeps } from './plan.js'

export interface BatchPlanDeps extends Pick<PlanDeps, 'prepare' | 'inspect' | 'loadSpec' | 'keptCandidates'> {
  root: string
  provider: ProviderConfig
  prices: PriceOverrides
  pending: PendingIndex
  /** The provider's own restrictions (SPEC_INVALID), as a synchronous generation checks them. */
  checkSpec(spec: ValidatedSpec): Promise<void>
}

/** What becomes of one spec. */
export type BatchPlanEntry =
  | { kind: 'hit'; label: string; key: string }
  | { kind: 'pending'; label: string; key: string; pending: PendingKey }
  /** Invalid, or not something the Batch API (or the provider) takes: an error naming the spec. */
  | { kind: 'refused'; label: string; key?: string; error: unknown }
  /** A chained spec whose upstream image is not in the cache: its key is not known yet. */
  | { kind: 'upstream'; label: string; upstream: string }
  /** Another spec of the plan makes the same key. */
  | { kind: 'same'; label: string; key: string; sameAs: string }
  /** Left out of this run (its line failed in this run's collection: the error was reported). */
  | { kind: 'skipped'; label: string; key: string }
  | { kind: 'miss'; label: string; key: string; prepared: PreparedSpec; indices: number[]; estimate: CostEstimate }

export async function planBatch(deps: BatchPlanDeps, refs: readonly SpecRef[], skip: ReadonlySet<string> = new Set()): Promise<BatchPlanEntry[]> {
  const entries: BatchPlanEntry[] = []
  const owners = new Map<string, string>()
  for (const ref of refs) {
    const entry = await planOne(deps, ref, skip)
    if (entry.kind === 'miss') {
      const owner = owners.get(entry.key)
      if (owner !== undefined) {
        entries.push({ kind: 'same', label: entry.label, key: entry.key, sameAs: owner })
        continue
      }
      owners.set(entry.key, entry.label)
    }
    entries.push(entry)
  }
  return entries
}

async function planOne(deps: BatchPlanDeps, ref: SpecRef, skip: ReadonlySet<string>): Promise<BatchPlanEntry> {
  let spec: ValidatedSpec
  try {
    spec = await deps.loadSpec(ref)
  } catch (error) {
    return { kind: 'refused', label: refLabel(deps.root, ref, error), error }
  }
  const label = spec.label
  let prepared: PreparedSpec
  try {
    prepared = await cachedKey(deps, spec, [])
  } catch (error) {
    if (error instanceof UpstreamMissing) return { kind: 'upstream', label, upstream: error.upstream }
    return { kind: 'refused', label, error }
  }
  const { key } = prepared
  const found: Inspection = await deps.inspect(key)
  if (found.status === 'hit') return { kind: 'hit', label, key }
  const pending = await deps.pending.get(key)
  if (pending) return { kind: 'pending', label, key, pending }
  if (skip.has(key)) return { kind: 'skipped', label, key }
  try {
    checkBatchable(deps.provider, { label, endpoint: spec.endpoint, params: spec.request })
    await deps.checkSpec(spec)
    await checkInputs(spec, prepared.inputs, prepared.mask)
  } catch (error) {
    return { kind: 'refused', label, key, error }
  }
  const n = Number(spec.request.n)
  const kept = new Set(await deps.keptCandidates(key))
  const indices = [...Array(n).keys()].filter((i) => !kept.has(i))
  return { kind: 'miss', label, key, prepared, indices, estimate: estimateCost(spec, deps.prices, indices.length, { batch: true }) }
}

/** The calls of a planned miss: as many candidates per line as the model makes per request. */
export function callsOf(entry: Extract<BatchPlanEntry, { kind: 'miss' }>): number[][] {
  const per = Math.max(1, entry.prepared.spec.perCallN)
  const calls: number[][] = []
  for (let i = 0; i < entry.indices.length; i += per) calls.push(entry.indices.slice(i, i + per))
  return calls
}
