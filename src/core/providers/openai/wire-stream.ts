/**
 * Streamed answers (`stream: true`, GPT image models): server-sent events parsed by eventsource-parser.
 * Partial images are previews handed to `onPartial` and never returned as results. Only `completed`
 * events make images; a stream that ends before all of them arrived is a dropped connection (retryable).
 *
 * Bounded (limits.ts): the whole stream by http.ts, and here each event, counted as the bytes received since
 * the last event ended, so a line that never ends fails at one image's size instead of filling memory. A
 * preview larger than the size asked is dropped unseen (the browser would decode it).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { AiImageError } from '../../errors.js'
import { readHeader } from '../../image-format.js'
import { redactDeep } from '../../secrets.js'
import { badResponse, isRecord } from '../decode.js'
import { formatBytes, withinBound, type AnswerLimits, type PixelBound } from '../limits.js'
import type { AttemptContext, ProviderImage, ProviderRequest, ProviderResult } from '../types.js'
import { addUsage } from '../usage.js'
import type { ImagesAnswer } from './http.js'
import { decodeOpenAIBase64 } from './wire-decode.js'
import { MAX_REVISED_PROMPT, openaiErrorFromResponse, scrub, statusOfApiError } from './wire-errors.js'

interface StreamPayload {
  type?: string
  b64_json?: string
  partial_image_index?: number
  created_at?: number
  usage?: Record<string, unknown>
  revised_prompt?: string
  error?: { type?: string; code?: string | null; message?: string }
}

export async function readOpenAIImageStream(answer: ImagesAnswer, request: ProviderRequest, context: AttemptContext, limits: AnswerLimits): Promise<ProviderResult> {
  const { label } = request
  const expected = Number(request.params.n ?? 1)
  const images: ProviderImage[] = []
  let usage: Record<string, unknown> | undefined
  let created: number | undefined
  let failure: unknown
  /** Bytes received since the last event ended: what the parser may be holding. */
  let pending = 0

  const handle = (message: EventSourceMessage) => {
    pending = 0
    if (failure || message.data === '[DONE]') return
    let payload: StreamPayload
    try {
      payload = JSON.parse(message.data) as StreamPayload
    } catch {
      failure = badResponse(label, `a stream event is not JSON (${message.data.length} bytes)`, answer.requestId)
      return
    }
    const type = payload.type ?? message.event ?? ''
    if (message.event === 'error' || payload.error || type === 'error') {
      const error = isRecord(payload.error) ? payload.error : { message: 'the stream reported an error' }
      failure = openaiErrorFromResponse(statusOfApiError(error), answer.headers, JSON.stringify({ error }), label)
      return
    }
    try {
      if (type.endsWith('.partial_image')) {
        // A preview is a courtesy: an unreadable one is skipped, not worth failing (and paying for) the stream.
        const data = readPreview(payload.b64_json, label, limits.pixels)
        if (data) context.onPartial?.({ index: images.length, partialIndex: payload.partial_image_index ?? 0, data })
      } else if (type.endsWith('.completed')) {
        images.push({
          data: decodeOpenAIBase64(payload.b64_json, label, answer.requestId),
          ...(typeof payload.revised_prompt === 'string' && payload.revised_prompt ? { revisedPrompt: scrub(payload.revised_prompt, MAX_REVISED_PROMPT) } : {}),
        })
        usage = addUsage(usage, isRecord(payload.usage) ? redactDeep(payload.usage) : undefined)
        if (typeof payload.created_at === 'number' && Number.isSafeInteger(payload.created_at) && payload.created_at > 0) created ??= payload.created_at
      }
    } catch (error) {
      failure = error
    }
  }

  const parser = createParser({ onEvent: handle })
  const decoder = new TextDecoder()
  for await (const chunk of answer.body) {
    pending += chunk.length
    if (pending > limits.eventBytes) {
      failure = badResponse(
        label,
        `a stream event (or a line without its end) is larger than one image of this request can be (${formatBytes(limits.eventBytes)}); the request was aborted`,
        answer.requestId,
      )
      break
    }
    parser.feed(decoder.decode(chunk, { stream: true }))
    if (failure) break
  }
  parser.feed(decoder.decode())
  parser.reset({ consume: true })
  if (failure) throw failure

  if (images.length < expected) {
    throw new AiImageError(
      'NETWORK',
      `the stream ended after ${images.length} of ${expected} completed image(s)${answer.requestId ? ` (request id ${answer.requestId})` : ''}`,
      { file: label, retryable: true, possiblyBilled: true },
    )
  }
  return {
    created: created ?? Math.floor(Date.now() / 1000),
    images: images.slice(0, expected),
    ...(usage ? { usage } : {}),
    ...(answer.requestId ? { requestId: answer.requestId } : {}),
  }
}

/** A preview's bytes, or undefined when it is unreadable or larger than the size asked (never decoded here). */
function readPreview(b64: unknown, label: string, bound: PixelBound): Buffer | undefined {
  let data: Buffer
  try {
    data = decodeOpenAIBase64(b64, label)
  } catch {
    return undefined
  }
  const header = readHeader(data)
  return header && withinBound(header.width, header.height, bound) ? data : undefined
}
