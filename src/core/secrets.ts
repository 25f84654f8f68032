/**
 * The secret values of this process, and the one redactor that removes them from text. A secret is known by
 * its value, not by a pattern: an OpenAI-compatible server can echo a key of any shape, in any field.
 *
 * Secrets are the API keys of the options (OpenAI, Azure), the bearer tokens obtained at run time (Azure
 * Entra ID), and any credential a later part adds (a remote cache's key). Ids (organization, project,
 * deployment) are not secrets. The registry is process-wide on purpose: an error can be built anywhere
 * (`AiImageError` redacts its own message), and redacting a value of another build of the same process only
 * ever removes more.
 */

/** Shorter values are not real credentials, and replacing them would mangle ordinary words. */
export const MIN_SECRET_LENGTH = 8
export const REDACTED = '[redacted]'

const known = new Set<string>()
let matcher: RegExp | undefined

/** Remember a secret value (and the forms it takes when a server echoes it URL- or JSON-encoded). */
export function addSecret(value: string | undefined | null): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return
  const before = known.size
  for (const form of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) known.add(form)
  if (known.size !== before) matcher = undefined
}

/** Remember several secrets; returns the ones given, for callers that keep their own list. */
export function addSecrets(values: ReadonlyArray<string | undefined | null>): string[] {
  for (const value of values) addSecret(value)
  return values.filter((v): v is string => typeof v === 'string' && v !== '')
}

/** Every known secret value in `text` replaced by `[redacted]`. One pass of one regular expression. */
export function redactSecrets(text: string): string {
  if (known.size === 0 || typeof text !== 'string') return text
  matcher ??= new RegExp(
    // Longest first, so a secret that contains another is replaced whole.
    [...known]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  )
  return text.replace(matcher, REDACTED)
}

/** Whether `text` holds a known secret value. */
export function containsSecret(text: string): boolean {
  return redactSecrets(text) !== text
}

/**
 * A copy of a JSON-like value with every string (keys included) redacted; other values as they are. For the
 * fields of an answer that are stored (usage, revised prompts, request ids) and for structured error data.
 */
export function redactDeep<T>(value: T): T {
  if (known.size === 0) return value
  return walk(value, 0) as T
}

const MAX_DEPTH = 64

function walk(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value)
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1))
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value
  const out: Record<string, unknown> = {}
  // defineProperty: a `__proto__` key of parsed JSON stays a plain field.
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(out, redactSecrets(key), { value: walk(item, depth + 1), enumerable: true, writable: true, configurable: true })
  }
  return out
}
