/**
 * Maps an Images API failure (status, headers, error body) onto the plugin's error codes, with the
 * server's retry hints. Shapes from API-FACTS.md: OpenAI, DALL-E and Azure bodies.
 */
import { AiImageError, clause, type AiImageErrorCode } from '../../errors.js'
import { redactSecrets } from '../../secrets.js'

export type Headers = Readonly<Record<string, string | string[] | undefined>>

export function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}

/** Longest server text (an error message, a field name) passed on in an error. */
const MAX_SERVER_TEXT = 500
/** Request ids are short tokens; anything else a server puts there is cut to this. */
const MAX_REQUEST_ID = 128

/**
 * The request id, as server text: secrets scrubbed, printable ASCII only, and short (it is shown in errors
 * and stored in the committed sidecar).
 */
export function requestIdOf(headers: Headers): string | undefined {
  const raw = header(headers, 'x-request-id') ?? header(headers, 'apim-request-id')
  if (raw === undefined) return undefined
  const clean = scrub(raw).replace(/[^\x21-\x7e]/g, '').slice(0, MAX_REQUEST_ID)
  return clean === '' ? undefined : clean
}

/**
 * Wait hint in milliseconds: `retry-after-ms` (float ms), else `retry-after` (seconds or an HTTP date).
 * Undefined when absent or unparsable.
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms')
  if (ms !== undefined && ms.trim() !== '') {
    const value = Number(ms)
    if (Number.isFinite(value) && value >= 0) return value
  }
  const after = header(headers, 'retry-after')
  if (after === undefined || after.trim() === '') return undefined
  if (/^\d+(\.\d+)?$/.test(after.trim())) return Number(after) * 1000
  const date = Date.parse(after)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** `x-should-retry: true|false` overrides what the status says. */
export function shouldRetryOverride(headers: Headers): boolean | undefined {
  const value = header(headers, 'x-should-retry')
  return value === 'true' ? true : value === 'false' ? false : undefined
}

interface ApiErrorBody {
  error?: {
    message?: string
    type?: string
    code?: string | null
    param?: string | null
    moderation_details?: { moderation_stage?: string; categories?: string[] }
    inner_error?: { code?: string; content_filter_results?: Record<string, unknown>; revised_prompt?: unknown }
    innererror?: { code?: string; content_filter_results?: Record<string, unknown>; revised_prompt?: unknown }
  }
}

/** What to check after a 401 or 403 from OpenAI (or a compatible server); Azure says its own (`ErrorAdvice`). */
export const OPENAI_AUTH_ADVICE = 'Check OPENAI_API_KEY (or the plugin option openai.apiKey), and OPENAI_ORG_ID / OPENAI_PROJECT_ID when you set them'

/** Provider-specific advice for errors whose fix depends on who answered. */
export interface ErrorAdvice {
  /** After 401 or 403: which key, variable or role to check. */
  auth?: string
}

/**
 * The HTTP status an `error` object stands for when it arrives without one (in a 2xx answer, a stream event
 * or a batch line), from its `type` and `code`: so it is handled as that error (a verdict is never retried as
 * "no data", and paid again).
 */
export function statusOfApiError(error: unknown): number {
  const record = error !== null && typeof error === 'object' ? (error as { type?: unknown; code?: unknown }) : {}
  const type = typeof record.type === 'string' ? record.type : ''
  const code = typeof record.code === 'string' ? record.code : ''
  if (type === 'insufficient_quota' || code === 'insufficient_quota' || code === 'rate_limit_exceeded' || type === 'tokens' || type === 'requests') return 429
  if (type === 'authentication_error' || code === 'invalid_api_key' || code === '401') return 401
  if (type === 'permission_error' || code === '403') return 403
  if (type === 'not_found_error' || code === 'not_found' || code === 'DeploymentNotFound' || code === '404') return 404
  if (type === 'invalid_request_error' || type === 'image_generation_user_error' || CONTENT_FILTER_CODES.has(code)) return 400
  return 500
}

const CONTENT_FILTER_CODES = new Set(['moderation_blocked', 'content_policy_violation', 'contentFilter', 'content_filter'])

/** Build the error for a non-2xx answer. `label` is the spec the request was for. */
export function openaiErrorFromResponse(status: number, headers: Headers, bodyText: string, label: string, advice: ErrorAdvice = {}): AiImageError {
  const body = parseBody(bodyText)
  const apiError = body?.error
  // Server messages end with a period of their own ("Incorrect API key provided."); ours follow them.
  const message = clause(scrub(typeof apiError?.message === 'string' ? apiError.message : bodyText.slice(0, 200) || `HTTP ${status}`))
  const requestId = requestIdOf(headers)
  const override = shouldRetryOverride(headers)
  const hint = retryAfterMs(headers)
  const base = { file: label, status, ...(requestId ? { requestId } : {}) }
  const idNote = requestId ? ` (request id ${requestId})` : ''

  const make = (code: AiImageErrorCode, text: string, retryable: boolean, extra: Partial<ConstructorParameters<typeof AiImageError>[2]> = {}) =>
    new AiImageError(code, text + idNote, {
      ...base,
      retryable: override ?? retryable,
      ...(hint === undefined ? {} : { retryAfterMs: hint }),
      ...extra,
    })

  const filter = contentFilterFacts(apiError, message)
  if (filter) {
    const categories = filter.categories.length ? `; categories: ${filter.categories.join(', ')}` : ''
    // Azure (DALL-E 3) rewrites the prompt before filtering it: what was judged may not be what was written.
    const revised = filter.revisedPrompt ? ` The prompt was revised by the service to: ${JSON.stringify(filter.revisedPrompt)}.` : ''
    const advice =
      filter.stage === 'output'
        ? 'The generated image was blocked: reword the prompt away from the flagged content, or change "seed" to try another image'
        : 'The prompt (or an input image) was blocked: reword the prompt or replace the flagged input'
    // A content filter is a verdict on the request: retrying spends again for the same answer, so not even
    // `x-should-retry: true` makes it retryable.
    return make('CONTENT_FILTERED', `the ${filter.stage} was rejected by the content filter${categories} (${message}).${revised} ${advice}`, false, {
      retryable: false,
      data: { stage: filter.stage, categories: filter.categories, ...(filter.revisedPrompt ? { revisedPrompt: filter.revisedPrompt } : {}) },
    })
  }
  if (status === 429) {
    if (apiError?.type === 'insufficient_quota' || apiError?.code === 'insufficient_quota' || /quota|billing|spend limit|credit/i.test(apiError?.code ?? '')) {
      return make('QUOTA_EXCEEDED', `the account is out of quota: ${message}. Check billing and spend limits; nothing was retried`, false)
    }
    return make('RATE_LIMITED', `rate limited: ${message}`, true)
  }
  if (status === 401 || status === 403) {
    return make('AUTH', `the API refused the credentials (HTTP ${status}): ${message}. ${advice.auth ?? OPENAI_AUTH_ADVICE}`, false)
  }
  if (status === 404) {
    return make('SPEC_INVALID', `the model or deployment was not found (HTTP 404): ${message}. Check "model", or the Azure deployment name`, false, {
      field: 'model',
    })
  }
  if (status === 400 || status === 422) {
    const field = typeof apiError?.param === 'string' ? scrub(apiError.param) : undefined
    return make('SPEC_INVALID', `the API rejected the request${field ? ` (parameter "${field}")` : ''}: ${message}`, false, {
      ...(field ? { field } : {}),
    })
  }
  if (status === 408 || status === 409 || status >= 500) {
    return make('NETWORK', `the API failed with HTTP ${status}: ${message}`, true, { possiblyBilled: status === 408 })
  }
  return make('BAD_RESPONSE', `unexpected HTTP ${status}: ${message}`, false)
}

function parseBody(text: string): ApiErrorBody | undefined {
  try {
    const value = JSON.parse(text) as unknown
    return value !== null && typeof value === 'object' ? (value as ApiErrorBody) : undefined
  } catch {
    return undefined
  }
}

/** Longest revised prompt shown in a content-filter message. */
const MAX_FILTERED_REVISED_PROMPT = 1000

function contentFilterFacts(
  apiError: ApiErrorBody['error'],
  message: string,
): { stage: 'input' | 'output'; categories: string[]; revisedPrompt?: string } | undefined {
  if (!apiError) return undefined
  const inner = apiError.inner_error ?? apiError.innererror
  const isFilter =
    CONTENT_FILTER_CODES.has(apiError.code ?? '') ||
    inner?.code === 'ResponsibleAIPolicyViolation' ||
    apiError.moderation_details !== undefined
  if (!isFilter) return undefined
  const stageText = apiError.moderation_details?.moderation_stage
  const stage: 'input' | 'output' =
    stageText === 'output' || (stageText === undefined && /generated image was filtered/i.test(message)) ? 'output' : 'input'
  const listed = apiError.moderation_details?.categories
  const categories = (Array.isArray(listed) ? listed : []).filter((c): c is string => typeof c === 'string').map((c) => scrub(c))
  for (const [name, result] of Object.entries(inner?.content_filter_results ?? {})) {
    if (result && typeof result === 'object' && (result as { filtered?: boolean }).filtered) categories.push(scrub(name))
  }
  const revised = typeof inner?.revised_prompt === 'string' && inner.revised_prompt.trim() !== '' ? scrub(inner.revised_prompt, MAX_FILTERED_REVISED_PROMPT) : undefined
  return { stage, categories: [...new Set(categories)], ...(revised ? { revisedPrompt: revised } : {}) }
}

/**
 * Server text on its way into our errors and files: every known secret value removed (secrets.ts), then
 * key-like patterns as an extra (servers echo masked keys, `sk-…****abcd`, in 401 messages), and cut short.
 */
export function scrub(text: string, maxLength = MAX_SERVER_TEXT): string {
  return redactSecrets(String(text))
    .replace(/\bsk-[A-Za-z0-9_*.-]+/g, 'sk-[redacted]')
    .replace(/(api[-_ ]?key[:=]\s*)\S+/gi, '$1[redacted]')
    .replace(/(bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]')
    .slice(0, maxLength)
}

/** Longest revised prompt kept (the longest prompt any model takes). */
export const MAX_REVISED_PROMPT = 32_000
