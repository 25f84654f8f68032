/**
 * The cache key: SHA-256 of the canonical JSON (`hash.ts`) of everything that changes the pixels the API
 * returns.
 */
import { canonicalJson, sha256 } from '../hash.js'
import type { Endpoint } from '../spec/models.js'
import type { KeyedRequest } from '../spec/validate.js'

/** Bump only with a migration story: every committed cache entry becomes a miss. */
export const KEY_SCHEMA_VERSION = 1

export interface KeyMaterial {
  endpoint: Endpoint
  request: KeyedRequest
  /** SHA-256 (hex) of each input image, in order. */
  inputs: readonly string[]
  mask: string | null
  seed: string | null
}

export function computeKey(material: KeyMaterial): string {
  return sha256(
    canonicalJson({
      v: KEY_SCHEMA_VERSION,
      endpoint: material.endpoint,
      request: material.request,
      inputs: material.inputs,
      mask: material.mask,
      seed: material.seed,
    }),
  )
}
