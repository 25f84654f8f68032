/**
 * Reading an Images API answer (OpenAI and Azure share the shape): `ImagesResponse` JSON, with
 * tolerance for the missing fields the schema allows. A body that cannot be read is BAD_RESPONSE and
 * retryable: the engine never caches it.
 */
import { badResponse, decodeBase64 } from './decode.js'
import type { HttpClient, ImagesAnswer } from './http.js'
import { readImageStream } from './stream.js'
import type { AttemptContext, ProviderImage, ProviderRequest, ProviderResult } from './types.js'

interface ImagesResponseJson {
  created?: number
  data?: Array<{ b64_json?: string; url?: string; revised_prompt?: string }>
  usage?: Record<string, unknown>
}

export async function readImagesAnswer(
  answer: ImagesAnswer,
  request: ProviderRequest,
  context: AttemptContext,
  http: HttpClient,
): Promise<ProviderResult> {
  const { label } = request
  if (answer.contentType.includes('text/event-stream')) {
    return readImageStream(answer, request, context)
  }
  const text = await answer.text()
  let json: ImagesResponseJson
  try {
    json = JSON.parse(text) as ImagesResponseJson
  } catch {
    throw badResponse(label, `the body is not JSON (${text.length} bytes)`, answer.requestId)
  }
  if (!json || typeof json !== 'object' || !Array.isArray(json.data) || json.data.length === 0) {
    throw badResponse(label, 'no `data` array with images', answer.requestId)
  }
  const images: ProviderImage[] = []
  for (const item of json.data) {
    const data =
      typeof item?.b64_json === 'string'
        ? decodeBase64(item.b64_json, label, answer.requestId)
        : typeof item?.url === 'string'
          ? await http.getBytes(item.url, context.signal, label)
          : (() => {
              throw badResponse(label, 'an image has neither b64_json nor url', answer.requestId)
            })()
    images.push({ data, ...(typeof item.revised_prompt === 'string' ? { revisedPrompt: item.revised_prompt } : {}) })
  }
  return {
    created: typeof json.created === 'number' ? json.created : Math.floor(Date.now() / 1000),
    images,
    ...(json.usage && typeof json.usage === 'object' ? { usage: json.usage } : {}),
    ...(answer.requestId ? { requestId: answer.requestId } : {}),
  }
}
