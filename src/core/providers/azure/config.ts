/**
 * The Azure OpenAI provider's options and environment variables (`azure: { endpoint, deployment,
 * deployments, apiVersion, apiKey, credential }`; AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
 * AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION), resolved into its config. Light on purpose: the options of
 * every build read it; the provider itself (and @azure/identity) loads on the first miss (`index.ts`).
 */
import { nonEmpty, optionError, optional } from '../../option-values.js'
import type { TokenCredentialLike } from '../../../types.js'
import type { ProviderSettings } from '../types.js'

export interface AzureProviderConfig {
  kind: 'azure'
  endpoint: string
  apiKey?: string
  deployment?: string
  deployments: Readonly<Record<string, string>>
  apiVersion?: string
  credential?: TokenCredentialLike
}

const endpointOf = (user: Parameters<AzureSettings['detects']>[0], env: Parameters<AzureSettings['detects']>[1]) =>
  nonEmpty(user.azure?.endpoint) ?? nonEmpty(env.AZURE_OPENAI_ENDPOINT)

type AzureSettings = ProviderSettings<AzureProviderConfig>

export const azureSettings: AzureSettings = {
  kind: 'azure',
  detects: (user, env) => endpointOf(user, env) !== undefined,
  resolve(user, env) {
    const azure = user.azure ?? {}
    const endpoint = endpointOf(user, env)
    if (!endpoint) throw optionError('azure.endpoint', 'is required for the azure provider (or set AZURE_OPENAI_ENDPOINT)')
    return {
      kind: 'azure',
      endpoint: endpoint.replace(/\/+$/, ''),
      deployments: { ...(azure.deployments ?? {}) },
      ...optional('apiKey', nonEmpty(azure.apiKey) ?? nonEmpty(env.AZURE_OPENAI_API_KEY)),
      ...optional('deployment', nonEmpty(azure.deployment) ?? nonEmpty(env.AZURE_OPENAI_DEPLOYMENT)),
      ...optional('apiVersion', nonEmpty(azure.apiVersion) ?? nonEmpty(env.OPENAI_API_VERSION)),
      ...optional('credential', azure.credential),
    }
  },
  secrets: (user, env) => [nonEmpty(user.azure?.apiKey) ?? nonEmpty(env.AZURE_OPENAI_API_KEY)],
}
