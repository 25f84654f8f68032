/**
 * Azure OpenAI Images API.
 *
 * - Deployment URL: `{endpoint}/openai/deployments/{deployment}/images/{op}?api-version=V`
 * - v1 URL (apiVersion `v1` or `preview`): `{endpoint}/openai/v1/images/{op}` with `model` = deployment.
 * - Auth: `api-key` header, or `Authorization: Bearer` from a TokenCredential (never both).
 * - Azure takes no webp, no `moderation`, no variations; gpt-image-1-mini cannot edit there.
 * - Bodies, answers, streams and errors are OpenAI's wire format (`../openai/wire-*.ts`).
 */
import { AiImageError, specInvalid } from '../../errors.js'
import { addSecret } from '../../secrets.js'
import type { ValidatedSpec } from '../../spec/validate.js'
import type { TokenCredentialLike } from '../../../types.js'
import type { HttpClient } from '../openai/http.js'
import { openaiRequestBody } from '../openai/wire-body.js'
import { sendOpenAIImagesRequest } from '../openai/wire-response.js'
import type { ImageProvider } from '../types.js'
import type { AzureProviderConfig } from './config.js'

export const AZURE_SCOPE = 'https://cognitiveservices.azure.com/.default'
/** Images api-versions: GPT image models need the preview; dall-e-3 is GA on the dated versions. */
export const AZURE_API_VERSIONS = { gptImage: '2025-04-01-preview', dalle3: '2024-10-21' } as const
/** Refresh a token this long before it expires, so no request leaves with one about to lapse. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000

export function deploymentFor(config: AzureProviderConfig, model: string): string {
  return config.deployments[model] ?? config.deployment ?? model
}

export function isV1(config: AzureProviderConfig): boolean {
  return config.apiVersion === 'v1' || config.apiVersion === 'preview'
}

export function azureUrl(config: AzureProviderConfig, model: string, endpoint: string): string {
  if (isV1(config)) {
    const query = config.apiVersion === 'preview' ? '?api-version=preview' : ''
    return `${config.endpoint}/openai/v1/images/${endpoint}${query}`
  }
  const version = config.apiVersion ?? (model.startsWith('dall-e') ? AZURE_API_VERSIONS.dalle3 : AZURE_API_VERSIONS.gptImage)
  const deployment = encodeURIComponent(deploymentFor(config, model))
  return `${config.endpoint}/openai/deployments/${deployment}/images/${endpoint}?api-version=${encodeURIComponent(version)}`
}

/** Bearer tokens from a TokenCredential, cached until shortly before they expire; one refresh at a time. */
export function createTokenSource(credential: () => Promise<TokenCredentialLike>) {
  let cached: { token: string; expiresOnTimestamp: number } | undefined
  let pending: Promise<string> | undefined
  return async (signal: AbortSignal, label: string): Promise<string> => {
    if (cached && cached.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS > Date.now()) return cached.token
    pending ??= (async () => {
      try {
        const token = await (await credential()).getToken(AZURE_SCOPE, { abortSignal: signal })
        if (!token?.token) throw new Error('the credential returned no token')
        // A bearer token is as good as a key while it lives: scrubbed wherever a server echoes it.
        addSecret(token.token)
        cached = token
        return token.token
      } catch (error) {
        throw new AiImageError(
          'AUTH',
          `no Entra ID token for ${AZURE_SCOPE}: ${(error as Error).message}. Set AZURE_OPENAI_API_KEY, pass azure.credential, or sign in (az login)`,
          { file: label, cause: error },
        )
      } finally {
        pending = undefined
      }
    })()
    return pending
  }
}

export function createAzureProvider(config: AzureProviderConfig, http: HttpClient): ImageProvider {
  const token = config.apiKey
    ? undefined
    : createTokenSource(async () => {
        if (config.credential) return config.credential
        // Loaded only when needed: most builds use a key, and cache hits need no credential at all.
        const { DefaultAzureCredential } = await import('@azure/identity')
        return new DefaultAzureCredential()
      })

  // A refused key and a refused Entra ID token have different fixes.
  const authAdvice = config.apiKey
    ? 'Check AZURE_OPENAI_API_KEY (or the plugin option azure.apiKey): it must be a key of the resource AZURE_OPENAI_ENDPOINT names'
    : 'The Entra ID token was refused: give the signed-in identity (or azure.credential) the "Cognitive Services OpenAI User" role on the resource, or set AZURE_OPENAI_API_KEY'
  return {
    kind: 'azure',
    describe: (model) => ({ kind: 'azure', deployment: deploymentFor(config, model) }),
    checkSpec(spec: ValidatedSpec) {
      const onAzure = 'is not supported by Azure OpenAI'
      if (spec.endpoint === 'variations') throw specInvalid(spec.label, 'image', `variations ${onAzure}`, 'Add a "prompt" to make an edit, or use the openai provider')
      if (spec.request.output_format === 'webp') throw specInvalid(spec.label, 'output_format', `"webp" ${onAzure}`, 'Use png or jpeg, and emit.format "webp" to convert at build time')
      if (spec.request.moderation !== undefined && spec.request.moderation !== 'auto') throw specInvalid(spec.label, 'moderation', `"${spec.request.moderation}" ${onAzure}`, 'Remove "moderation"')
      if (spec.endpoint === 'edits' && spec.model === 'gpt-image-1-mini') throw specInvalid(spec.label, 'model', `edits with gpt-image-1-mini ${onAzure}`, 'Use gpt-image-1 or gpt-image-1.5')
    },
    async generate(request, context) {
      const model = String(request.params.model)
      const auth: Record<string, string> = config.apiKey
        ? { 'api-key': config.apiKey }
        : { authorization: `Bearer ${await token!(context.signal, request.label)}` }
      // Azure has no `moderation` parameter; its default ('auto') is what Azure does anyway.
      const body = await openaiRequestBody(request, { omit: new Set(['moderation']), ...(isV1(config) ? { model: deploymentFor(config, model) } : {}) })
      return sendOpenAIImagesRequest(http, request, context, { url: azureUrl(config, model, request.endpoint), headers: auth, body, advice: { auth: authAdvice } })
    },
    close: () => http.close(),
  }
}
