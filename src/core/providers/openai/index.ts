/**
 * OpenAI Images API (and any OpenAI-compatible server): `config.ts` (options, environment variables), `provider.ts`,
 * the wire format (`wire-*.ts`) and the HTTP client (`http.ts`), which Azure shares.
 */
import type { ProviderDefinition } from '../types.js'
import { openaiSettings, type OpenAIProviderConfig } from './config.js'

export type { OpenAIProviderConfig } from './config.js'

export const openaiProvider: ProviderDefinition<OpenAIProviderConfig> = {
  ...openaiSettings,
  async create(config, transport) {
    const [{ createOpenAIProvider }, { createOpenAIHttpClient }] = await Promise.all([import('./provider.js'), import('./http.js')])
    return createOpenAIProvider(config, createOpenAIHttpClient(transport))
  },
}
