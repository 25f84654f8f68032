/**
 * Every provider, listed once. The order is the automatic choice's: the first whose options or environment
 * say it is configured wins (Azure when AZURE_OPENAI_ENDPOINT is set, else OpenAI when OPENAI_API_KEY is
 * set, else the placeholder, with its notice). A new provider is a folder (`config.ts`: its options and
 * environment variables; `index.ts`: its definition; its wire format and its errors) plus one line here.
 */
import { optionError } from '../option-values.js'
import type { AiImageOptions } from '../../types.js'
import { azureProvider, type AzureProviderConfig } from './azure/index.js'
import { openaiProvider, type OpenAIProviderConfig } from './openai/index.js'
import { placeholderProvider, type PlaceholderProviderConfig } from './placeholder/index.js'
import type { Env, ImageProvider, ProviderDefinition, ProviderTransport } from './types.js'

export type { AzureProviderConfig, OpenAIProviderConfig, PlaceholderProviderConfig }

export type ProviderConfig = OpenAIProviderConfig | AzureProviderConfig | PlaceholderProviderConfig

const PROVIDERS = [azureProvider, openaiProvider, placeholderProvider] as const satisfies ReadonlyArray<ProviderDefinition<ProviderConfig>>

export const PROVIDER_KINDS: readonly string[] = PROVIDERS.map((p) => p.kind)

type Definition = ProviderDefinition<ProviderConfig>

function definitionOf(kind: string): Definition | undefined {
  return PROVIDERS.find((p) => p.kind === kind) as Definition | undefined
}

/** The provider the options name, or the first one the options and environment configure; its notices. */
export function resolveProvider(user: AiImageOptions, env: Env): { config: ProviderConfig; notices: string[] } {
  const named = user.provider
  if (named !== undefined) {
    const definition = definitionOf(named)
    if (!definition) {
      const kinds = PROVIDER_KINDS.map((k) => `'${k}'`)
      throw optionError('provider', `"${String(named)}" is not a provider; use ${kinds.slice(0, -1).join(', ')} or ${kinds.at(-1)}`)
    }
    return { config: definition.resolve(user, env, { explicit: true }), notices: [] }
  }
  const chosen = (PROVIDERS as readonly Definition[]).find((p) => p.detects(user, env))!
  return { config: chosen.resolve(user, env, { explicit: false }), notices: chosen.fallbackNotice ? [chosen.fallbackNotice] : [] }
}

/** The secret values of every provider's options and environment, whichever is chosen (the redactor learns them all). */
export function providerSecrets(user: AiImageOptions, env: Env): Array<string | undefined> {
  return PROVIDERS.flatMap((p) => p.secrets(user, env))
}

/** The provider of a resolved config; its modules (HTTP client, wire format, SDKs) load here, on first use. */
export function createProvider(config: ProviderConfig, transport: ProviderTransport): Promise<ImageProvider> {
  return definitionOf(config.kind)!.create(config, transport)
}
