/**
 * Azure OpenAI: `config.ts` (options, environment variables) and `provider.ts` (URLs, auth, Azure's
 * restrictions); the wire format and the HTTP client are OpenAI's (`../openai/`).
 */
import type { ProviderDefinition } from '../types.js'
import { azureSettings, type AzureProviderConfig } from './config.js'

export type { AzureProviderConfig } from './config.js'

export const azureProvider: ProviderDefinition<AzureProviderConfig> = {
  ...azureSettings,
  async create(config, transport) {
    const [{ createAzureProvider }, { createOpenAIHttpClient }] = await Promise.all([import('./provider.js'), import('../openai/http.js')])
    return createAzureProvider(config, createOpenAIHttpClient(transport), transport.notice)
  },
}
