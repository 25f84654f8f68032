/**
 * One Batch API request line from one provider request (`ProviderRequest`, as the engine builds it for a
 * synchronous call): `{"custom_id", "method": "POST", "url", "body"}`. Generations send their JSON body as
 * is; edits send the JSON body of `EditImageBodyJsonParam`, with each input image (and the mask) as a
 * `data:` URL, or as the id of an uploaded file when the data URL would pass the schema's `maxLength` or make
 * the line too large. Streaming is never asked of a batch.
 */
import { openaiJsonBody } from '../providers/openai/wire-body.js'
import type { ProviderInput, ProviderRequest } from '../providers/types.js'
import { BATCH_ENDPOINTS, type BatchEndpoint } from './models.js'

/** Limits of one input file (API-FACTS.md "Batch API"): past either, the requests go in several batches. */
export interface BatchLimits {
  lines: number
  bytes: number
}

export const BATCH_LIMITS: BatchLimits = { lines: 50_000, bytes: 200 * 1024 * 1024 }

/** `ImageRefParam.image_url.maxLength` in the official schema. */
export const MAX_DATA_URL_CHARS = 20_971_520

/** Inline images of one line stop here; the rest go as uploaded files, so a line stays well within a file. */
export const MAX_INLINE_LINE_BYTES = 64 * 1024 * 1024

/** Candidate indices of one spec: `n` is at most 10 for every model the Batch API takes. */
const MAX_INDEX = 9

/** A key prefix of 44 hex digits (176 bits) keeps every custom_id within 64 characters, a limit some servers impose. */
const KEY_PREFIX = 44

export const CUSTOM_ID_PATTERN = /^[0-9a-f]{44}-\d(?:\.\d){0,9}$/

/** `<first 44 hex digits of the key>-<candidate indices joined by dots>`, e.g. `3fa1…-0.1.2`. */
export function customIdOf(key: string, indices: readonly number[]): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`not a cache key: ${key}`)
  if (indices.length === 0 || indices.some((i) => !Number.isInteger(i) || i < 0 || i > MAX_INDEX)) {
    throw new Error(`candidate indices must be 0 to ${MAX_INDEX}: ${indices.join(', ')}`)
  }
  return `${key.slice(0, KEY_PREFIX)}-${indices.join('.')}`
}

/** Whether `customId` is the one `customIdOf(key, indices)` makes. */
export function customIdMatches(customId: string, key: string, indices: readonly number[]): boolean {
  try {
    return customIdOf(key, indices) === customId
  } catch {
    return false
  }
}

export interface BuiltLine {
  customId: string
  key: string
  indices: number[]
  label: string
  endpoint: BatchEndpoint
  model: string
  /** The JSONL line, without its newline. */
  text: string
}

/** Uploads one input image and answers its file id (for images too large to go inline). */
export type ImageUploader = (input: ProviderInput, field: string) => Promise<string>

/**
 * The line of one call: `request.params.n` must be the number of `indices` (the candidates this call makes).
 * The caller has run `checkBatchable` on the request.
 */
export async function buildLine(request: ProviderRequest, indices: readonly number[], uploadImage: ImageUploader): Promise<BuiltLine> {
  const endpoint = BATCH_ENDPOINTS[request.endpoint]
  if (!endpoint) throw new Error(`${request.endpoint} cannot be batched`)
  if (Number(request.params.n ?? 1) !== indices.length) {
    throw new Error(`${request.label}: the request asks for n = ${String(request.params.n)} but ${indices.length} candidate(s) are planned`)
  }
  const { stream: _stream, ...notStreamed } = request
  const body = JSON.parse(openaiJsonBody(notStreamed)) as Record<string, unknown>
  if (request.endpoint === 'edits') {
    let inline = 0
    const reference = async (input: ProviderInput, field: string) => {
      const dataUrl = `data:${input.mime};base64,${input.data.toString('base64')}`
      if (dataUrl.length <= MAX_DATA_URL_CHARS && inline + dataUrl.length <= MAX_INLINE_LINE_BYTES) {
        inline += dataUrl.length
        return { image_url: dataUrl }
      }
      return { file_id: await uploadImage(input, field) }
    }
    const images = []
    for (const [i, input] of request.inputs.entries()) images.push(await reference(input, request.inputs.length > 1 ? `image[${i}]` : 'image'))
    body.images = images
    if (request.mask) body.mask = await reference(request.mask, 'mask')
  }
  const customId = customIdOf(request.key, indices)
  return {
    customId,
    key: request.key,
    indices: [...indices],
    label: request.label,
    endpoint,
    model: String(request.params.model),
    text: JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body }),
  }
}
