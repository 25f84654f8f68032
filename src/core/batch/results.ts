/**
 * The lines of a batch's output and error files, each checked against the batch's record:
 * `{"id": "batch_req_…", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`.
 *
 * - 2xx: the body is an ImagesResponse; its images are decoded as strictly as a synchronous answer
 *   (`providers/decode.ts`) and must be as many as the line asked for.
 * - any other status: the body is an API error, mapped by `errorFromResponse` to the same codes as a
 *   synchronous failure (a moderation refusal is CONTENT_FILTERED naming the spec; an invalid request is
 *   SPEC_INVALID).
 * - `error` without a response: `batch_expired` / `batch_cancelled` mean "not done" (resubmitted later);
 *   anything else is mapped like an API error.
 *
 * A line that names a custom_id the batch did not ask for, or answers one twice, cannot be trusted with any
 * key: it is reported as `unattributable` and never becomes an image.
 */
import { AiImageError } from '../errors.js'
import { IMAGE_LIMITS } from '../image-format.js'
import { badResponse } from '../providers/decode.js'
import { decodeOpenAIBase64 } from '../providers/openai/wire-decode.js'
import { openaiErrorFromResponse, statusOfApiError } from '../providers/openai/wire-errors.js'
import type { ProviderImage } from '../providers/types.js'
import { modelCapabilities, parseSize } from '../spec/models.js'
import { serverText } from './objects.js'
import type { BatchRecord, RecordLine } from './record.js'

export interface LineRef {
  customId: string
  key: string
  /** Candidate indices the line makes, in the order of its images. */
  indices: number[]
  /** Spec label, for errors. */
  label: string
}

export type LineResult =
  | (LineRef & { kind: 'images'; images: ProviderImage[]; created: number; usage?: Record<string, unknown>; requestId?: string })
  | (LineRef & { kind: 'error'; error: AiImageError })
  | (LineRef & { kind: 'not-done'; reason: string })

export type ParsedLine = LineResult | { kind: 'unattributable'; error: AiImageError }

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,200}$/
const NOT_DONE = new Set(['batch_expired', 'batch_cancelled'])

/**
 * Longest legitimate result line of a record: its largest line's images at the largest size their request
 * allows (uncompressed RGBA in a PNG, the worst case), in base64, plus room for the JSON around them.
 */
export function maxResultLineBytes(record: BatchRecord): number {
  let most = 0
  for (const line of record.lines) {
    const request = record.keys[line.key]!.material.request
    most = Math.max(most, line.indices.length * base64Bytes(maxImageBytes(String(request.model), String(request.size ?? 'auto'))))
  }
  return Math.ceil(most * 1.05) + 1024 * 1024
}

function maxImageBytes(model: string, size: string): number {
  const asked = parseSize(size)
  // Batch models outside the capability table (chatgpt-image-latest, a dated snapshot) get the largest sizes of any GPT image model.
  const rule = (modelCapabilities(model) ?? modelCapabilities('gpt-image-2'))?.sizes
  const largest = asked
    ? asked.width * asked.height
    : rule?.kind === 'flexible'
      ? rule.maxLong * rule.maxShort
      : rule
        ? Math.max(...rule.values.map((s) => (parseSize(s)?.width ?? 0) * (parseSize(s)?.height ?? 0)))
        : IMAGE_LIMITS.maxPixels
  return Math.min(IMAGE_LIMITS.maxBytes, Math.ceil(largest * 4 * 1.01) + 64 * 1024)
}

function base64Bytes(bytes: number): number {
  return Math.ceil(bytes / 3) * 4
}

/** Reads the result lines of one batch, remembering which custom_ids were answered. */
export class ResultReader {
  private readonly byId = new Map<string, RecordLine>()
  private readonly answered = new Set<string>()

  constructor(private readonly record: BatchRecord) {
    for (const line of record.lines) this.byId.set(line.custom_id, line)
  }

  read(text: string): ParsedLine {
    const batch = this.record.id
    const unattributable = (problem: string): ParsedLine => ({
      kind: 'unattributable',
      error: new AiImageError('BAD_RESPONSE', `a result line of batch ${batch} ${problem}; it was ignored`, { retryable: false }),
    })
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return unattributable(`is not JSON (${text.length} bytes)`)
    }
    if (!isObject(value)) return unattributable('is not a JSON object')
    const customId = value.custom_id
    const line = typeof customId === 'string' ? this.byId.get(customId) : undefined
    if (!line) return unattributable(`answers custom_id ${showId(customId)}, which the batch did not ask for`)
    if (this.answered.has(line.custom_id)) return unattributable(`answers custom_id ${line.custom_id} a second time`)
    this.answered.add(line.custom_id)
    const ref: LineRef = { customId: line.custom_id, key: line.key, indices: [...line.indices], label: this.record.keys[line.key]!.label }
    try {
      return this.outcome(ref, value)
    } catch (error) {
      if (error instanceof AiImageError) return { ...ref, kind: 'error', error }
      throw error
    }
  }

  /** Lines no result line answered (yet). */
  unanswered(): LineRef[] {
    return this.record.lines
      .filter((line) => !this.answered.has(line.custom_id))
      .map((line) => ({ customId: line.custom_id, key: line.key, indices: [...line.indices], label: this.record.keys[line.key]!.label }))
  }

  private outcome(ref: LineRef, value: Record<string, unknown>): LineResult {
    const { response, error } = value
    if (isObject(response)) {
      const status = response.status_code
      const requestId = typeof response.request_id === 'string' && REQUEST_ID.test(response.request_id) ? response.request_id : undefined
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
        throw badResponse(ref.label, `the batch answer has no valid status_code`, requestId)
      }
      const headers = requestId ? { 'x-request-id': requestId } : {}
      // A body carrying `error` is that error, whatever the status says (never "no data").
      if (status >= 200 && status < 300 && isObject(response.body) && isObject(response.body.error)) {
        return { ...ref, kind: 'error', error: openaiErrorFromResponse(statusOfApiError(response.body.error), headers, errorBodyText(response.body), ref.label) }
      }
      if (status >= 200 && status < 300) return { ...ref, kind: 'images', ...this.images(ref, response.body, requestId) }
      return { ...ref, kind: 'error', error: openaiErrorFromResponse(status, headers, errorBodyText(response.body), ref.label) }
    }
    if (isObject(error)) {
      const code = typeof error.code === 'string' ? error.code : ''
      if (NOT_DONE.has(code)) return { ...ref, kind: 'not-done', reason: serverText(error.message) ?? code }
      return { ...ref, kind: 'error', error: openaiErrorFromResponse(500, {}, errorBodyText({ error }), ref.label) }
    }
    throw badResponse(ref.label, 'the batch answer has neither a response nor an error')
  }

  private images(ref: LineRef, body: unknown, requestId: string | undefined): { images: ProviderImage[]; created: number; usage?: Record<string, unknown>; requestId?: string } {
    if (!isObject(body) || !Array.isArray(body.data)) throw badResponse(ref.label, 'no `data` array with images', requestId)
    if (body.data.length !== ref.indices.length) {
      throw badResponse(ref.label, `asked for ${ref.indices.length} image(s), the batch answered ${body.data.length}`, requestId)
    }
    const images: ProviderImage[] = body.data.map((item: unknown) => {
      const entry = isObject(item) ? item : {}
      // GPT image models answer base64 only; a URL from an untrusted server is not fetched.
      const data = decodeOpenAIBase64(entry.b64_json, ref.label, requestId)
      const revised = serverText(entry.revised_prompt, 32_000)
      return { data, ...(revised ? { revisedPrompt: revised } : {}) }
    })
    const created = typeof body.created === 'number' && Number.isSafeInteger(body.created) && body.created > 0 ? body.created : Math.floor(Date.now() / 1000)
    return { images, created, ...(isObject(body.usage) ? { usage: numbersOnly(body.usage) } : {}), ...(requestId ? { requestId } : {}) }
  }
}

/** An error body for `errorFromResponse`, its message cut to a sensible length. */
function errorBodyText(body: unknown): string {
  if (!isObject(body)) return ''
  const error = isObject(body.error) ? { ...body.error } : undefined
  if (error && typeof error.message === 'string') error.message = serverText(error.message, 1000)
  return JSON.stringify(error ? { ...body, error } : body).slice(0, 64 * 1024)
}

/** Usage keeps its numbers (and nested detail objects of numbers) only: it is stored in the sidecar. */
function numbersOnly(usage: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(usage).slice(0, 50)) {
    if (k.length > 100) continue
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
    else if (isObject(v) && depth < 2) out[k] = numbersOnly(v, depth + 1)
  }
  return out
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function showId(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(serverText(value, 80)) : String(typeof value)
  return text
}
