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
  /** The resource's base URL (`https://<resource>.openai.azure.com`), without `/openai` or `/openai/v1`. */
  endpoint: string
  /** The endpoint was given as the v1 API's base URL (`…/openai/v1`): the v1 routes are used. */
  v1Endpoint?: boolean
  apiKey?: string
  deployment?: string
  deployments: Readonly<Record<string, string>>
  apiVersion?: string
  /**
   * Where `apiVersion` came from: the plugin option (used for every image call) or OPENAI_API_VERSION, which the
   * official SDK uses for every Azure call and is often a chat version (used only where it serves images).
   */
  apiVersionFrom?: 'option' | 'env'
  credential?: TokenCredentialLike
}

/**
 * Every form in which Azure's documentation writes a resource's endpoint, down to its base URL:
 * `https://RES.openai.azure.com`, `…/openai`, the v1 API's base URL `…/openai/v1/` (which selects the v1
 * routes), `https://RES.cognitiveservices.azure.com/…` alike, with or without a trailing slash. A URL of one
 * deployment, a query or credentials in the URL are refused with the fix.
 */
export function normalizeAzureEndpoint(raw: string): { endpoint: string; v1Endpoint: boolean } {
  const field = 'azure.endpoint'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw optionError(field, `${JSON.stringify(raw)} is not a URL; use the resource's endpoint, e.g. https://my-resource.openai.azure.com (or set AZURE_OPENAI_ENDPOINT)`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw optionError(field, `must be an https:// URL, got ${url.protocol}`)
  if (url.username || url.password) throw optionError(field, 'must not hold a user name or password; use azure.apiKey or a credential')
  if (url.search || url.hash) throw optionError(field, 'must not carry a query or fragment; set the api-version with azure.apiVersion')
  let path = url.pathname.replace(/\/+$/, '')
  if (/\/openai\/deployments(\/|$)/i.test(path)) {
    throw optionError(field, `names a deployment (${url.pathname}); set the endpoint to the resource's URL (${url.origin}) and the deployment with azure.deployment or azure.deployments`)
  }
  let v1Endpoint = false
  if (/\/openai\/v1$/i.test(path)) {
    v1Endpoint = true
    path = path.slice(0, -'/openai/v1'.length)
  } else if (/\/openai$/i.test(path)) {
    path = path.slice(0, -'/openai'.length)
  }
  return { endpoint: `${url.origin}${path}`, v1Endpoint }
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
    const base = normalizeAzureEndpoint(endpoint)
    const ownVersion = nonEmpty(azure.apiVersion)
    const envVersion = nonEmpty(env.OPENAI_API_VERSION)
    return {
      kind: 'azure',
      endpoint: base.endpoint,
      ...(base.v1Endpoint ? { v1Endpoint: true } : {}),
      deployments: { ...(azure.deployments ?? {}) },
      ...optional('apiKey', nonEmpty(azure.apiKey) ?? nonEmpty(env.AZURE_OPENAI_API_KEY)),
      ...optional('deployment', nonEmpty(azure.deployment) ?? nonEmpty(env.AZURE_OPENAI_DEPLOYMENT)),
      ...(ownVersion ? { apiVersion: ownVersion, apiVersionFrom: 'option' as const } : envVersion ? { apiVersion: envVersion, apiVersionFrom: 'env' as const } : {}),
      ...optional('credential', azure.credential),
    }
  },
  secrets: (user, env) => [nonEmpty(user.azure?.apiKey) ?? nonEmpty(env.AZURE_OPENAI_API_KEY)],
}
