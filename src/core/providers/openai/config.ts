/**
 * The OpenAI provider's options and environment variables (`openai: { apiKey, baseURL, organization,
 * project }`; OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID), resolved into its config.
 * Light on purpose: the options of every build read it; the provider itself (`index.ts`) loads on the first miss.
 */
import { nonEmpty, optional } from '../../option-values.js'
import type { ProviderSettings } from '../types.js'

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

export interface OpenAIProviderConfig {
  kind: 'openai'
  apiKey: string | undefined
  /** Includes `/v1`, as in the official SDK, so any OpenAI-compatible server works. */
  baseURL: string
  organization?: string
  project?: string
}

const keyOf: ProviderSettings<OpenAIProviderConfig>['secrets'] = (user, env) => [nonEmpty(user.openai?.apiKey) ?? nonEmpty(env.OPENAI_API_KEY)]

export const openaiSettings: ProviderSettings<OpenAIProviderConfig> = {
  kind: 'openai',
  detects: (user, env) => keyOf(user, env)[0] !== undefined,
  resolve(user, env) {
    const openai = user.openai ?? {}
    return {
      kind: 'openai',
      apiKey: keyOf(user, env)[0],
      baseURL: (nonEmpty(openai.baseURL) ?? nonEmpty(env.OPENAI_BASE_URL) ?? OPENAI_BASE_URL).replace(/\/+$/, ''),
      ...optional('organization', nonEmpty(openai.organization) ?? nonEmpty(env.OPENAI_ORG_ID)),
      ...optional('project', nonEmpty(openai.project) ?? nonEmpty(env.OPENAI_PROJECT_ID)),
    }
  },
  secrets: keyOf,
}
