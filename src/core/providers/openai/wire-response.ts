/**
 * Reading an Images API answer (OpenAI and Azure share the shape): `ImagesResponse` JSON, with
 * tolerance for the missing fields the schema allows. A body that cannot be read is BAD_RESPONSE and
 * retryable: the engine never caches it.
 */
import { redactDeep } from '../../secrets.js'
import { badResponse, isRecord } from '../decode.js'
import { ERROR_BODY_BYTES, limitsFor, type AnswerLimits } from '../limits.js'
import type { AttemptContext, ProviderImage, ProviderRequest, ProviderResult } from '../types.js'
import type { FormData } from 'undici'
import type { HttpClient, ImagesAnswer } from './http.js'
import { contentTypeHeader } from './wire-body.js'
import { decodeOpenAIBase64 } from './wire-decode.js'
import { MAX_REVISED_PROMPT, openaiErrorFromResponse, scrub, statusOfApiError, type ErrorAdvice } from './wire-errors.js'
import { readOpenAIImageStream } from './wire-stream.js'

interface ImagesResponseJson {
  created?: number
  data?: Array<{ b64_json?: string; url?: string; revised_prompt?: string }>
  usage?: Record<string, unknown>
  error?: unknown
}

/**
 * One Images API request in OpenAI's wire format (which Azure shares): sent with the headers of the answer it
 * accepts, bounded by the largest legitimate answer to it, and its answer read (JSON or a stream).
 */
export async function sendOpenAIImagesRequest(
  http: HttpClient,
  request: ProviderRequest,
  context: AttemptContext,
  call: { url: string; headers: Record<string, string>; body: string | FormData; advice?: ErrorAdvice },
): Promise<ProviderResult> {
  const limits = limitsFor(request)
  const answer = await http.post({
    url: call.url,
    headers: { ...call.headers, accept: request.stream ? 'text/event-stream' : 'application/json', ...contentTypeHeader(call.body) },
    body: call.body,
    signal: context.signal,
    label: request.label,
    limits,
    ...(context.onAnswerRead ? { onBodyRead: context.onAnswerRead } : {}),
    ...(call.advice ? { advice: call.advice } : {}),
  })
  return readOpenAIImagesAnswer(answer, request, context, http, limits)
}

export async function readOpenAIImagesAnswer(
  answer: ImagesAnswer,
  request: ProviderRequest,
  context: AttemptContext,
  http: HttpClient,
  limits: AnswerLimits,
): Promise<ProviderResult> {
  const { label } = request
  if (answer.contentType.includes('text/event-stream')) {
    return readOpenAIImageStream(answer, request, context, limits)
  }
  const text = await answer.text()
  let json: ImagesResponseJson
  try {
    json = JSON.parse(text) as ImagesResponseJson
  } catch {
    throw badResponse(label, `the body is not JSON (${text.length} bytes)`, answer.requestId)
  }
  // An answer that carries `error` is that error, whatever its status: never "no data" (retried, and paid again).
  if (json && typeof json === 'object' && isRecord(json.error)) {
    throw openaiErrorFromResponse(statusOfApiError(json.error), answer.headers, text.slice(0, ERROR_BODY_BYTES), label)
  }
  if (!json || typeof json !== 'object' || !Array.isArray(json.data) || json.data.length === 0) {
    throw badResponse(label, 'no `data` array with images', answer.requestId)
  }
  // More images than asked is not an answer to this request; refused before anything is decoded or fetched.
  const asked = Number(request.params.n ?? 1)
  if (json.data.length > asked) throw badResponse(label, `the answer has ${json.data.length} images, but ${asked} were asked for`, answer.requestId)
  const images: ProviderImage[] = []
  for (const item of json.data) {
    const data =
      typeof item?.b64_json === 'string'
        ? decodeOpenAIBase64(item.b64_json, label, answer.requestId)
        : typeof item?.url === 'string'
          ? await http.getBytes(item.url, context.signal, label, limits.imageBytes)
          : (() => {
              throw badResponse(label, 'an image has neither b64_json nor url', answer.requestId)
            })()
    // Server text that is stored (the sidecar) is scrubbed of secrets as it comes in.
    images.push({ data, ...(typeof item.revised_prompt === 'string' ? { revisedPrompt: scrub(item.revised_prompt, MAX_REVISED_PROMPT) } : {}) })
  }
  return {
    created: validCreated(json.created),
    images,
    ...(isRecord(json.usage) ? { usage: redactDeep(json.usage) } : {}),
    ...(answer.requestId ? { requestId: answer.requestId } : {}),
  }
}

/** Unix seconds as the server said, when it is a plausible number; now otherwise. */
export function validCreated(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : Math.floor(Date.now() / 1000)
}
