/**
 * Provider construction from resolved options. The HTTP client is shared, so connections are pooled
 * across every request of a build.
 */
import type { ProviderConfig } from '../options.js'
import { createAzureProvider } from './azure.js'
import { createHttpClient } from './http.js'
import { createOpenAIProvider } from './openai.js'
import { createPlaceholderProvider } from './placeholder.js'
import type { ImageProvider } from './types.js'

export const USER_AGENT = 'unplugin-ai-image'

export function createProvider(config: ProviderConfig, transport: { timeout: number; concurrency: number }): ImageProvider {
  if (config.kind === 'placeholder') return createPlaceholderProvider()
  const http = createHttpClient({
    timeout: transport.timeout,
    connections: Math.max(2, transport.concurrency * 2),
    userAgent: USER_AGENT,
  })
  return config.kind === 'openai' ? createOpenAIProvider(config, http) : createAzureProvider(config, http)
}

export type { ImageProvider } from './types.js'
