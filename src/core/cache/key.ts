/**
 * The cache key: SHA-256 of the canonical JSON of everything that changes the pixels the API returns.
 *
 * Canonical JSON is written here rather than taken from a library on purpose: committed caches depend
 * on these exact bytes, and they must not change because a dependency changed its output.
 */
import { createHash } from 'node:crypto'
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

/** JSON with object keys sorted at every depth and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
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
