/**
 * Streamed answers (`stream: true`, GPT image models): server-sent events parsed by eventsource-parser.
 * Partial images are previews handed to `onPartial` and never returned as results. Only `completed`
 * events make images; a stream that ends before all of them arrived is a dropped connection (retryable).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { AiImageError } from '../errors.js'
import { errorFromResponse } from './errors.js'
import type { ImagesAnswer } from './http.js'
import { badResponse, decodeBase64 } from './decode.js'
import type { AttemptContext, ProviderImage, ProviderRequest, ProviderResult } from './types.js'

interface StreamPayload {
  type?: string
  b64_json?: string
  partial_image_index?: number
  created_at?: number
  usage?: Record<string, unknown>
  revised_prompt?: string
  error?: { type?: string; code?: string | null; message?: string }
}

export async function readImageStream(answer: ImagesAnswer, request: ProviderRequest, context: AttemptContext): Promise<ProviderResult> {
  const { label } = request
  const expected = Number(request.params.n ?? 1)
  const images: ProviderImage[] = []
  let usage: Record<string, unknown> | undefined
  let created: number | undefined
  let failure: unknown

  const handle = (message: EventSourceMessage) => {
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
      const error = payload.error ?? { message: 'the stream reported an error' }
      const status = error.type === 'invalid_request_error' ? 400 : error.type === 'image_generation_user_error' ? 400 : 500
      failure = errorFromResponse(status, answer.headers, JSON.stringify({ error }), label)
      return
    }
    try {
      if (type.endsWith('.partial_image')) {
        // A preview is a courtesy: an unreadable one is skipped, not worth failing (and paying for) the stream.
        const data = readPreview(payload.b64_json, label)
        if (data) context.onPartial?.({ index: images.length, partialIndex: payload.partial_image_index ?? 0, data })
      } else if (type.endsWith('.completed')) {
        images.push({
          data: decodeBase64(payload.b64_json, label, answer.requestId),
          ...(payload.revised_prompt ? { revisedPrompt: payload.revised_prompt } : {}),
        })
        usage = addUsage(usage, payload.usage)
        created ??= payload.created_at
      }
    } catch (error) {
      failure = error
    }
  }

  const parser = createParser({ onEvent: handle })
  const decoder = new TextDecoder()
  for await (const chunk of answer.body) {
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

function readPreview(b64: unknown, label: string): Buffer | undefined {
  try {
    return decodeBase64(b64, label)
  } catch {
    return undefined
  }
}

/** Sum token counts field by field (nested details included); used across events and across calls. */
export function addUsage(
  total: Record<string, unknown> | undefined,
  next: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!next) return total
  if (!total) return structuredClone(next)
  const out: Record<string, unknown> = { ...total }
  for (const [k, v] of Object.entries(next)) {
    const prev = out[k]
    if (typeof v === 'number') out[k] = (typeof prev === 'number' ? prev : 0) + v
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = addUsage(prev && typeof prev === 'object' ? (prev as Record<string, unknown>) : undefined, v as Record<string, unknown>)
    } else if (prev === undefined) out[k] = v
  }
  return out
}
