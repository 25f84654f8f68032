/**
 * Azure OpenAI Images API.
 *
 * - Deployment URL: `{endpoint}/openai/deployments/{deployment}/images/{op}?api-version=V`
 * - v1 URL (apiVersion `v1` or `preview`, or an endpoint given as `…/openai/v1`): `{endpoint}/openai/v1/images/{op}`
 *   with `model` = deployment.
 * - api-version: `azure.apiVersion` when set; else OPENAI_API_VERSION where it is a version that serves the
 *   model's images (the official SDK sends that variable on every Azure call, and it is often a chat
 *   version); else the images version of the model (`AZURE_API_VERSIONS`).
 * - Auth: `api-key` header, or `Authorization: Bearer` from a TokenCredential (never both).
 * - Azure takes no webp, no `moderation`, no variations, no dall-e-2, PNG and JPEG inputs only;
 *   gpt-image-1-mini cannot edit there.
 * - Bodies, answers, streams and errors are OpenAI's wire format (`../openai/wire-*.ts`).
 */
import { AiImageError, specInvalid } from '../../errors.js'
import { addSecret } from '../../secrets.js'
import { modelCapabilities, modelFamily } from '../../spec/models.js'
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
/** One token request may take this long, whoever waits for it. */
const TOKEN_TIMEOUT_MS = 60_000

/**
 * The input types Azure takes for edits: PNG or JPEG, under 50 MB (API-FACTS.md "Azure OpenAI", from Azure's
 * image generation how-to guide), where OpenAI also takes WebP.
 */
const AZURE_INPUT_MIMES: readonly string[] = ['image/png', 'image/jpeg']

/**
 * Body fields Azure's documented values for GPT image models do not always include `auto` for: the how-to
 * guide ("How to use Azure OpenAI image generation models", learn.microsoft.com, azure/ai-foundry/openai/how-to/dall-e)
 * lists the qualities low, medium, high (default high; medium for gpt-image-1-mini) and the sizes 1024x1024,
 * 1024x1536, 1536x1024, without `auto`. Azure picks for itself when the field is left out (its REST spec's
 * examples, inference 2025-04-01-preview, send neither), so `auto` is never sent.
 */
const AZURE_NO_AUTO = new Set(['quality', 'size', 'background'])

export function deploymentFor(config: AzureProviderConfig, model: string): string {
  return config.deployments[model] ?? config.deployment ?? model
}

export function isV1(config: AzureProviderConfig): boolean {
  return config.v1Endpoint === true || config.apiVersion === 'v1' || config.apiVersion === 'preview'
}

/**
 * Whether an api-version serves the images operations of a model on the deployment URL (Azure REST specs:
 * image generation with dall-e-3 since 2023-12-01-preview and GA 2024-02-01; GPT image models since
 * 2025-04-01-preview). A version that is no date (or a model the table does not know) is taken at its word.
 */
export function versionServesImages(version: string, model: string): boolean {
  const dated = /^(\d{4}-\d{2}-\d{2})(-preview)?$/.exec(version)
  const family = modelFamily(model)
  if (!dated || family === undefined) return true
  const [, date, preview] = dated as unknown as [string, string, string | undefined]
  if (modelCapabilities(model)!.family === 'gpt-image') return date >= '2025-04-01'
  if (family === 'dall-e-3') return preview ? date >= '2023-12-01' : date >= '2024-02-01'
  return false
}

function defaultVersion(model: string): string {
  return modelFamily(model) === 'dall-e-3' ? AZURE_API_VERSIONS.dalle3 : AZURE_API_VERSIONS.gptImage
}

/** The api-version of an image call for `model` (see the module comment), and a notice when OPENAI_API_VERSION is set aside. */
export function apiVersionFor(config: AzureProviderConfig, model: string): { version: string; notice?: string } {
  const { apiVersion } = config
  if (apiVersion === undefined || config.apiVersionFrom === 'option') return { version: apiVersion ?? defaultVersion(model) }
  if (versionServesImages(apiVersion, model)) return { version: apiVersion }
  const version = defaultVersion(model)
  return {
    version,
    notice:
      `OPENAI_API_VERSION=${apiVersion} does not serve ${model} images on Azure OpenAI (it is likely the version of your chat calls); ` +
      `image calls use api-version ${version}. Set the plugin option azure.apiVersion to choose the images version`,
  }
}

export function azureUrl(config: AzureProviderConfig, model: string, endpoint: string, notice?: (message: string) => void): string {
  if (isV1(config)) {
    const query = config.apiVersion === 'preview' ? '?api-version=preview' : ''
    return `${config.endpoint}/openai/v1/images/${endpoint}${query}`
  }
  const { version, notice: said } = apiVersionFor(config, model)
  if (said) notice?.(said)
  const deployment = encodeURIComponent(deploymentFor(config, model))
  return `${config.endpoint}/openai/deployments/${deployment}/images/${endpoint}?api-version=${encodeURIComponent(version)}`
}

/**
 * Bearer tokens from a TokenCredential, cached until shortly before they expire; one refresh at a time,
 * shared by every request that waits for it. The refresh belongs to no request: one caller's abort (its
 * timeout, a cancelled build) stops that caller's wait, never the refresh the others wait for.
 */
export function createTokenSource(credential: () => Promise<TokenCredentialLike>) {
  let cached: { token: string; expiresOnTimestamp: number } | undefined
  let pending: Promise<string> | undefined
  const refresh = async (label: string): Promise<string> => {
    try {
      const token = await (await credential()).getToken(AZURE_SCOPE, { abortSignal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) })
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
  }
  return async (signal: AbortSignal, label: string): Promise<string> => {
    if (cached && cached.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS > Date.now()) return cached.token
    signal.throwIfAborted()
    const shared = (pending ??= refresh(label))
    return untilAborted(shared, signal)
  }
}

/** `promise`, or the abort of `signal` (the promise goes on for whoever else waits for it). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

export function createAzureProvider(config: AzureProviderConfig, http: HttpClient, notice?: (message: string) => void): ImageProvider {
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
      if (modelFamily(spec.model) === 'dall-e-2') {
        throw specInvalid(spec.label, 'model', `"${spec.model}" is not offered by Azure OpenAI`, 'Use gpt-image-1.5 (or another model your Azure resource deploys), or the openai provider')
      }
      if (spec.request.output_format === 'webp') throw specInvalid(spec.label, 'output_format', `"webp" ${onAzure}`, 'Use png or jpeg, and emit.format "webp" to convert at build time')
      if (spec.request.moderation !== undefined && spec.request.moderation !== 'auto') throw specInvalid(spec.label, 'moderation', `"${spec.request.moderation}" ${onAzure}`, 'Remove "moderation"')
      if (spec.endpoint === 'edits' && modelFamily(spec.model) === 'gpt-image-1-mini') throw specInvalid(spec.label, 'model', `edits with gpt-image-1-mini ${onAzure}`, 'Use gpt-image-1 or gpt-image-1.5')
    },
    checkInputs(spec, inputs) {
      for (const input of inputs) {
        if (!AZURE_INPUT_MIMES.includes(input.mime)) {
          throw specInvalid(
            spec.label,
            input.field,
            `${input.name} is ${input.mime.split('/')[1]}; Azure OpenAI takes PNG and JPEG inputs only`,
            'Convert the file to PNG or JPEG',
          )
        }
      }
    },
    async generate(request, context) {
      const model = String(request.params.model)
      const auth: Record<string, string> = config.apiKey
        ? { 'api-key': config.apiKey }
        : { authorization: `Bearer ${await token!(context.signal, request.label)}` }
      // Azure has no `moderation` parameter; its default ('auto') is what Azure does anyway.
      const body = await openaiRequestBody(request, {
        omit: new Set(['moderation']),
        omitAuto: AZURE_NO_AUTO,
        ...(isV1(config) ? { model: deploymentFor(config, model) } : {}),
      })
      return sendOpenAIImagesRequest(http, request, context, { url: azureUrl(config, model, request.endpoint, notice), headers: auth, body, advice: { auth: authAdvice } })
    },
    close: () => http.close(),
  }
}
