/**
 * The one error type of the plugin. Every failure a user can meet carries a `code` from this list,
 * the spec file it concerns (relative to the project root) and a message that says what to do.
 */
import { redactDeep, redactSecrets } from './secrets.js'

export const ERROR_CODES = [
  'SPEC_INVALID',
  'CACHE_MISS_FROZEN',
  'CONTENT_FILTERED',
  'QUOTA_EXCEEDED',
  'AUTH',
  'RATE_LIMITED',
  'TIMEOUT',
  'BAD_RESPONSE',
  'BUDGET_EXCEEDED',
  'NETWORK',
] as const

export type AiImageErrorCode = (typeof ERROR_CODES)[number]

/**
 * Errors about what the user wrote or set up (a spec, a missing cache entry, a key, a budget, a quota, a
 * content filter), not about the plugin: their message says everything, so they carry no stack frames. Vite's
 * overlay, its build output and Rolldown's error summary print the stack under the message; frames of the
 * plugin's internals there only bury the fix.
 */
export const USER_ERROR_CODES: ReadonlySet<AiImageErrorCode> = new Set([
  'SPEC_INVALID',
  'CACHE_MISS_FROZEN',
  'CONTENT_FILTERED',
  'AUTH',
  'BUDGET_EXCEEDED',
  'QUOTA_EXCEEDED',
])

export interface AiImageErrorDetails {
  /** Spec file (or `virtual:ai-image…` id) the error concerns, relative to the project root. */
  file?: string
  /** Spec field at fault, for SPEC_INVALID. */
  field?: string
  /** HTTP status of the API answer, when there was one. */
  status?: number
  /** Request id from `x-request-id` / `apim-request-id`, for support tickets. */
  requestId?: string
  /** Whether the engine may try again (the server's `x-should-retry` wins over the status). */
  retryable?: boolean
  /** Server's wait hint in milliseconds (`retry-after-ms` / `retry-after`). */
  retryAfterMs?: number
  /** Whether a failed attempt may still have been billed (timeouts, dropped connections). */
  possiblyBilled?: boolean
  /** Extra structured facts (moderation stage and categories, missing specs, …). */
  data?: Record<string, unknown>
  cause?: unknown
}

export class AiImageError extends Error {
  override readonly name = 'AiImageError'
  readonly code: AiImageErrorCode
  readonly file?: string
  readonly field?: string
  readonly status?: number
  readonly requestId?: string
  readonly retryable: boolean
  readonly retryAfterMs?: number
  readonly possiblyBilled: boolean
  readonly data?: Record<string, unknown>

  constructor(code: AiImageErrorCode, message: string, details: AiImageErrorDetails = {}) {
    // The last guard: whatever text an error carries (a server's message, a request id, a field name it
    // chose), no known secret value leaves in it, to a bundler's overlay, a terminal or a log.
    super(redactSecrets(formatMessage(code, message, details.file)), details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.file = details.file
    this.field = details.field === undefined ? undefined : redactSecrets(details.field)
    this.status = details.status
    this.requestId = details.requestId === undefined ? undefined : redactSecrets(details.requestId)
    this.retryable = details.retryable ?? false
    this.retryAfterMs = details.retryAfterMs
    this.possiblyBilled = details.possiblyBilled ?? false
    this.data = details.data === undefined ? undefined : redactDeep(details.data)
    if (USER_ERROR_CODES.has(code)) this.stack = `${this.name}: ${this.message}`
  }

  /** The same error for another spec file (an API failure is found before the engine knows the file). */
  withFile(file: string): AiImageError {
    if (this.file === file) return this
    const copy = new AiImageError(this.code, this.bareMessage, { ...this.details(), file })
    if (!USER_ERROR_CODES.has(this.code)) copy.stack = this.stack
    return copy
  }

  /** The message without the `[code] file:` prefix. */
  get bareMessage(): string {
    const prefix = formatMessage(this.code, '', this.file)
    return this.message.startsWith(prefix) ? this.message.slice(prefix.length) : this.message
  }

  private details(): AiImageErrorDetails {
    return {
      file: this.file,
      field: this.field,
      status: this.status,
      requestId: this.requestId,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      possiblyBilled: this.possiblyBilled,
      data: this.data,
      cause: this.cause,
    }
  }
}

function formatMessage(code: AiImageErrorCode, message: string, file: string | undefined): string {
  return `[ai-image] ${code}${file ? ` ${file}` : ''}: ${message}`
}

export function isAiImageError(error: unknown): error is AiImageError {
  return error instanceof AiImageError
}

/** A SPEC_INVALID error: names the file, the field, the bad value and what is allowed. */
export function specInvalid(file: string, field: string, problem: string, fix?: string): AiImageError {
  const where = field ? `field "${field}" ` : ''
  return new AiImageError('SPEC_INVALID', `${where}${problem}${fix ? `. ${fix}` : ''}`, { file, field })
}

/** Server or library text ending a clause of ours: without its own closing period, so `${text}. Next` reads once. */
export function clause(text: string): string {
  return text.replace(/[\s.]+$/, '')
}

/** Short, quoted rendering of a bad value for error messages (never the whole of a long prompt). */
export function showValue(value: unknown): string {
  let text: string
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value))
  } catch {
    text = String(value)
  }
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}
