/**
 * OpenAI Images API: `POST {baseURL}/images/{generations|edits|variations}` with a Bearer key.
 * `baseURL` includes `/v1`, as in the official SDK, so any OpenAI-compatible server works.
 */
import { AiImageError } from '../../errors.js'
import { limitsFor } from '../limits.js'
import type { ImageProvider } from '../types.js'
import type { OpenAIProviderConfig } from './config.js'
import type { HttpClient } from './http.js'
import { contentTypeHeader, openaiRequestBody } from './wire-body.js'
import { readOpenAIImagesAnswer } from './wire-response.js'

export function createOpenAIProvider(config: OpenAIProviderConfig, http: HttpClient): ImageProvider {
  return {
    kind: 'openai',
    describe: () => ({ kind: 'openai' }),
    checkSpec: () => {},
    async generate(request, context) {
      if (!config.apiKey) {
        throw new AiImageError('AUTH', 'no OpenAI API key: set OPENAI_API_KEY or the plugin option openai.apiKey', {
          file: request.label,
        })
      }
      const body = await openaiRequestBody(request)
      const limits = limitsFor(request)
      const answer = await http.post({
        url: `${config.baseURL}/images/${request.endpoint}`,
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          accept: request.stream ? 'text/event-stream' : 'application/json',
          ...contentTypeHeader(body),
          ...(config.organization ? { 'openai-organization': config.organization } : {}),
          ...(config.project ? { 'openai-project': config.project } : {}),
        },
        body,
        signal: context.signal,
        label: request.label,
        limits,
        ...(context.onAnswerRead ? { onBodyRead: context.onAnswerRead } : {}),
      })
      return readOpenAIImagesAnswer(answer, request, context, http, limits)
    },
    close: () => http.close(),
  }
}
