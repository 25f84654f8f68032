/**
 * Spec → its inputs and its cache key, and the shapes of a resolved image. Light on purpose: the warm path
 * computes every key through here, while the generation machinery (`generate.ts`) loads on the first miss.
 */
import type { FreshnessToken } from '../cache/backend.js'
import type { Sidecar } from '../cache/entry.js'
import { computeKey, type KeyMaterial } from '../cache/key.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { resolveInputs, type ChainResolver, type ResolvedInput } from './inputs.js'

export interface PreparedSpec {
  spec: ValidatedSpec
  key: string
  material: KeyMaterial
  inputs: ResolvedInput[]
  mask?: ResolvedInput
}

export interface ResolvedImageFile {
  data: Buffer
  sha256: string
  width: number
  height: number
  mime: string
  /** In the committed cache: the image's freshness token when these bytes were read (and verified) or written. */
  token?: FreshnessToken
}

export interface ResolvedImage {
  key: string
  spec: ValidatedSpec
  images: ResolvedImageFile[]
  /** Rendered offline by the placeholder provider (not in the committed cache). */
  placeholder: boolean
  /** Served from the committed cache without a request. */
  hit: boolean
  sidecar?: Sidecar
}

/** Resolve inputs (chains through `chain`) and compute the key. */
export async function prepareSpec(spec: ValidatedSpec, root: string, chain: ChainResolver): Promise<PreparedSpec> {
  const { inputs, mask } = await resolveInputs(spec, root, chain)
  const material: KeyMaterial = {
    endpoint: spec.endpoint,
    request: spec.request,
    inputs: inputs.map((i) => i.sha256),
    mask: mask?.sha256 ?? null,
    seed: spec.seed,
  }
  return { spec, key: computeKey(material), material, inputs, ...(mask ? { mask } : {}) }
}
