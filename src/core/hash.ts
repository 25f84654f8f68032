/**
 * SHA-256 and canonical JSON: how the plugin names content (cache keys, derived keys, image digests).
 *
 * Canonical JSON is written here rather than taken from a library on purpose: committed caches depend
 * on these exact bytes, and they must not change because a dependency changed its output.
 */
import { hash } from 'node:crypto'

/** JSON with object keys sorted at every depth and no whitespace; `undefined` fields are left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const object = value as Record<string, unknown>
  // Code-unit order, as `<` compares strings (every key of a warm build goes through here: no intermediate arrays).
  const keys = Object.keys(object).sort()
  let out = ''
  for (const key of keys) {
    const item = object[key]
    if (item === undefined) continue
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`
  }
  return `{${out}}`
}

/** Lowercase hex SHA-256 of text (UTF-8) or bytes (one-shot: no hash object per call). */
export function sha256(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex')
}
