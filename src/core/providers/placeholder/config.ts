/**
 * The placeholder provider: chosen in the options (`provider: 'placeholder'`), or fallen back to when no
 * other provider is configured (with one notice). It renders offline and needs no option of its own.
 */
import type { ProviderSettings } from '../types.js'

export interface PlaceholderProviderConfig {
  kind: 'placeholder'
  /** Chosen in the options (renders even when frozen), or fallen back to for lack of a key. */
  explicit: boolean
}

export const placeholderSettings: ProviderSettings<PlaceholderProviderConfig> = {
  kind: 'placeholder',
  detects: () => true,
  fallbackNotice:
    'no OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT: cache misses are rendered by the offline placeholder provider and not cached. ' +
    "Set a key to generate real images, or set provider: 'placeholder' to silence this notice",
  resolve: (_user, _env, { explicit }) => ({ kind: 'placeholder', explicit }),
  secrets: () => [],
}
