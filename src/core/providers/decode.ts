/**
 * Decoding image payloads of API answers, strictly: a broken body must be retried, never cached.
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

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Strict base64: Buffer.from silently skips junk and truncation, which would cache a broken image. */
export function decodeBase64(text: unknown, label: string, requestId?: string): Buffer {
  if (typeof text !== 'string' || text.length === 0) throw badResponse(label, 'an image has no b64_json', requestId)
  const clean = text.replace(/\s+/g, '')
  if (clean.length % 4 !== 0 || !BASE64.test(clean)) throw badResponse(label, 'an image is not valid base64 (truncated?)', requestId)
  const data = Buffer.from(clean, 'base64')
  if (data.length === 0) throw badResponse(label, 'an image is empty', requestId)
  return data
}

