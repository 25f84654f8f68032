/**
 * Many specs at once, for the `ai-image` command: generate every miss as one build (shared scheduler,
 * budget, progress and closing summary: the same path the bundler plugins take, import by import), or plan
 * a dry run that says what would be generated and what it would cost, without a single request.
 */
import { isAiImageError, type AiImageError } from '../errors.js'
import type { Inspection } from '../cache/backend.js'
import type { CostEstimate } from '../engine/cost.js'
import { checkInputs } from '../engine/inputs.js'
import type { PreparedSpec } from '../engine/prepare.js'
import type { RunSummary } from '../engine/report.js'
import { refLabel } from '../spec/source.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { ResolvedImage } from '../engine/prepare.js'
import type { SpecRef } from '../spec/source.js'

/** `pending`: a batch is making it (#16), so it was not generated (never paid twice). */
export type SpecStatus = 'hit' | 'generated' | 'placeholder' | 'failed' | 'invalid' | 'pending'

/** The batch a pending key waits for. */
export interface PendingBatch {
  batch: string
  /** Unix seconds. */
  submitted: number
  ageSeconds: number
}

export interface SpecOutcome {
  label: string
  key?: string
  status: SpecStatus
  /** Why it failed (an AiImageError with a code, in all but unforeseen cases); for `pending`, what to run. */
  error?: unknown
  pending?: PendingBatch
}

export interface GenerateAllOptions {
  /** Called as each spec finishes, in completion order. */
  onResult?(outcome: SpecOutcome): void
}

export interface GenerateAllReport {
  /** One per ref, in the order given. */
  results: SpecOutcome[]
  summary: RunSummary
  /** Set when the budget stopped the run: lists every spec it kept from being generated. */
  budgetError?: AiImageError
}

/** What generating and planning need of the service. */
export interface PlanDeps {
  root: string
  beginBuild(): void
  endBuild(): Promise<{ summary: RunSummary; error?: AiImageError }>
  loadSpec(ref: SpecRef): Promise<ValidatedSpec>
  resolve(spec: ValidatedSpec): Promise<ResolvedImage>
  /** Inputs and key; `upstream` gives the picked image of a chained spec. */
  prepare(
    spec: ValidatedSpec,
    chain: readonly string[],
    upstream: (spec: ValidatedSpec, chain: readonly string[]) => Promise<{ data: Buffer; mime: string; sha256: string }>,
  ): Promise<PreparedSpec>
  inspect(key: string): Promise<Inspection>
  /** Candidates an interrupted generation of `key` already wrote (and that pass every check). */
  keptCandidates(key: string): Promise<number[]>
  estimate(spec: ValidatedSpec, images?: number): CostEstimate
  /** The batch making a key, if one is (#16). */
  pendingOf(key: string): Promise<PendingBatch | undefined>
}

export async function generateAll(deps: PlanDeps, refs: readonly SpecRef[], options: GenerateAllOptions = {}): Promise<GenerateAllReport> {
  deps.beginBuild()
  const results = await Promise.all(
    refs.map(async (ref) => {
      const outcome = await outcomeOf(deps, ref)
      options.onResult?.(outcome)
      return outcome
    }),
  )
  const { summary, error } = await deps.endBuild()
  const budgetError = error?.code === 'BUDGET_EXCEEDED' ? error : undefined
  return { results, summary, ...(budgetError ? { budgetError } : {}) }
}

async function outcomeOf(deps: PlanDeps, ref: SpecRef): Promise<SpecOutcome> {
  let spec: ValidatedSpec
  try {
    spec = await deps.loadSpec(ref)
  } catch (error) {
    return { label: refLabel(deps.root, ref, error), status: 'invalid', error }
  }
  try {
    const image = await deps.resolve(spec)
    return { label: spec.label, key: image.key, status: image.hit ? 'hit' : image.placeholder ? 'placeholder' : 'generated' }
  } catch (error) {
    const pending = pendingOfError(error)
    return { label: spec.label, status: pending ? 'pending' : 'failed', error, ...(pending ? { pending } : {}) }
  }
}

/** The batch named by the error of a miss that a batch is making (`batch/pending.ts`, `pendingMiss`). */
export function pendingOfError(error: unknown): PendingBatch | undefined {
  const data = isAiImageError(error) && error.code === 'CACHE_MISS_FROZEN' ? error.data : undefined
  const pending = data?.pending as PendingBatch | undefined
  return pending && typeof pending.batch === 'string' ? pending : undefined
}

export interface PlanEntry {
  label: string
  /** Unknown while an input is the output of a spec that is not generated yet. */
  key?: string
  /**
   * `corrupt`: an entry exists but fails verification (it would be generated again, like a miss); `pending`:
   * a miss that a batch is making (#16), which nothing generates meanwhile.
   */
  status: 'hit' | 'miss' | 'corrupt' | 'invalid' | 'pending'
  /** Images a generation would request now: `n`, less candidates kept from an interrupted run. */
  images: number
  /** Estimated cost of those images (a miss). */
  estimate?: CostEstimate
  note?: string
  error?: unknown
  /** Another spec of the plan makes the same request (only `emit`, `pick` or `alt` differ): no extra images. */
  sameAs?: string
  /** The batch making it (status `pending`). */
  pending?: PendingBatch
}

/** Thrown while planning when a chained input is itself a miss: the key cannot be known before it exists. */
export class UpstreamMissing extends Error {
  constructor(readonly upstream: string) {
    super(`depends on ${upstream}, which is not generated yet`)
  }
}

export async function planSpecs(deps: PlanDeps, refs: readonly SpecRef[]): Promise<PlanEntry[]> {
  const entries = await planEach(deps, refs)
  // One key is generated once, however many specs ask for it.
  const first = new Map<string, string>()
  return entries.map((entry) => {
    if (!entry.key) return entry
    const owner = first.get(entry.key)
    if (owner === undefined) {
      first.set(entry.key, entry.label)
      return entry
    }
    if (entry.status === 'hit' || entry.status === 'pending') return entry
    return { ...entry, images: 0, sameAs: owner, ...(entry.estimate ? { estimate: { ...entry.estimate, images: 0, usd: entry.estimate.usd === undefined ? undefined : 0 } } : {}) }
  })
}

function planEach(deps: PlanDeps, refs: readonly SpecRef[]): Promise<PlanEntry[]> {
  return Promise.all(
    refs.map(async (ref): Promise<PlanEntry> => {
      let spec: ValidatedSpec
      try {
        spec = await deps.loadSpec(ref)
      } catch (error) {
        return { label: refLabel(deps.root, ref, error), status: 'invalid', images: 0, error }
      }
      const n = Number(spec.request.n)
      try {
        const prepared = await cachedKey(deps, spec, [])
        const key = prepared.key
        const found = await deps.inspect(key)
        if (found.status === 'hit') return { label: spec.label, key, status: 'hit', images: 0 }
        const pending = await deps.pendingOf(key)
        if (pending) return { label: spec.label, key, status: 'pending', images: 0, pending }
        // What a generation would refuse before spending, a dry run reports too.
        await checkInputs(spec, prepared.inputs, prepared.mask)
        const kept = await deps.keptCandidates(key)
        const images = n - kept.filter((i) => i < n).length
        const note =
          found.status === 'corrupt' ? found.reason : images < n ? `${n - images} of ${n} images kept from an interrupted run` : undefined
        return { label: spec.label, key, status: found.status, images, estimate: deps.estimate(spec, images), ...(note ? { note } : {}) }
      } catch (error) {
        if (error instanceof UpstreamMissing) {
          return { label: spec.label, status: 'miss', images: n, estimate: deps.estimate(spec, n), note: error.message }
        }
        return { label: spec.label, status: 'invalid', images: 0, error }
      }
    }),
  )
}

/** The key of a spec whose chained inputs are read from the cache only (a dry run generates nothing). */
export async function cachedKey(deps: Pick<PlanDeps, 'prepare' | 'inspect'>, spec: ValidatedSpec, chain: readonly string[]): Promise<PreparedSpec> {
  return deps.prepare(spec, chain, async (upstream, here) => {
    const { key } = await cachedKey(deps, upstream, here)
    const found = await deps.inspect(key)
    if (found.status !== 'hit') throw new UpstreamMissing(upstream.label)
    return found.entry.images[upstream.pick] ?? found.entry.images[0]!
  })
}
