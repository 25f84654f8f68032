/**
 * What every provider's answer reading shares: the error of an unusable answer (retried, never cached) and
 * the check that a JSON value is an object before any of its fields is used.
 */
import { AiImageError } from '../errors.js'

export function badResponse(label: string, problem: string, requestId?: string): AiImageError {
  return new AiImageError('BAD_RESPONSE', `the API answer was unusable: ${problem}${requestId ? ` (request id ${requestId})` : ''}`, {
    file: label,
    retryable: true,
    // The server answered 2xx: it has most likely billed the image we could not read.
    possiblyBilled: true,
    ...(requestId ? { requestId } : {}),
  })
}

/** A JSON object (not null, not an array): what an answer's `usage` or `error` must be before it is used. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
