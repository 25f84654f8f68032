/**
 * OpenAI Images API: `POST {baseURL}/images/{generations|edits|variations}` with a Bearer key.
 * `baseURL` includes `/v1`, as in the official SDK, so any OpenAI-compatible server works.
 */
import { AiImageError } from '../../errors.js'
import type { ImageProvider } from '../types.js'
import type { OpenAIProviderConfig } from './config.js'
import type { HttpClient } from './http.js'
import { openaiRequestBody } from './wire-body.js'
import { OPENAI_AUTH_ADVICE } from './wire-errors.js'
import { sendOpenAIImagesRequest } from './wire-response.js'

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
      return sendOpenAIImagesRequest(http, request, context, {
        url: `${config.baseURL}/images/${request.endpoint}`,
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          ...(config.organization ? { 'openai-organization': config.organization } : {}),
          ...(config.project ? { 'openai-project': config.project } : {}),
        },
        body: await openaiRequestBody(request),
        advice: { auth: OPENAI_AUTH_ADVICE },
      })
    },
    close: () => http.close(),
  }
}
