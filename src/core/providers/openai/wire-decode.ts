/**
 * Image payloads of the OpenAI wire format (`b64_json`, in JSON answers and stream events), decoded strictly:
 * a broken body must be retried, never cached.
 */
import { badResponse } from '../decode.js'

/**
 * Strict base64: Buffer.from silently skips junk and truncation, which would cache a broken image. The
 * check is a round trip (decode, encode, compare): any junk character, a missing or extra padding or a cut
 * makes the re-encoding differ. It costs a few ms for a 4 MB image, where a regular expression over the
 * whole text costs ten times that on the main thread.
 */
export function decodeOpenAIBase64(text: unknown, label: string, requestId?: string): Buffer {
  if (typeof text !== 'string' || text.length === 0) throw badResponse(label, 'an image has no b64_json', requestId)
  const clean = /\s/.test(text) ? text.replace(/\s+/g, '') : text
  const data = Buffer.from(clean, 'base64')
  if (data.toString('base64') !== clean) throw badResponse(label, 'an image is not valid base64 (truncated?)', requestId)
  if (data.length === 0) throw badResponse(label, 'an image is empty', requestId)
  return data
}
