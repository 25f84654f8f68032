/**
 * SHA-256 and canonical JSON: how the plugin names content (cache keys, derived keys, image digests).
 *
 * Canonical JSON is written here rather than taken from a library on purpose: committed caches depend
 * on these exact bytes, and they must not change because a dependency changed its output.
 */
import { createHash } from 'node:crypto'

/** JSON with object keys sorted at every depth and no whitespace; `undefined` fields are left out. */
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

/** Lowercase hex SHA-256 of text (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
