/**
 * The offline placeholder provider: `config.ts` and `provider.ts` (sharp renders the prompt's words).
 */
import type { ProviderDefinition } from '../types.js'
import { placeholderSettings, type PlaceholderProviderConfig } from './config.js'

export type { PlaceholderProviderConfig } from './config.js'

export const placeholderProvider: ProviderDefinition<PlaceholderProviderConfig> = {
  ...placeholderSettings,
  async create() {
    const { createPlaceholderProvider } = await import('./provider.js')
    return createPlaceholderProvider()
  },
}
