/**
 * Request bodies as the Images API wants them: JSON for generations, multipart/form-data for edits and
 * variations (numbers as strings, each file part with its real image content type, since
 * `application/octet-stream` is rejected). Shared by the OpenAI and Azure providers.
 */
import type { FormData } from 'undici'
import { modelCapabilities } from '../../spec/models.js'
import type { ProviderInput, ProviderRequest } from '../types.js'
import { loadUndici } from './http.js'

export interface OpenAIBodyOptions {
  /** Parameters this provider must not send (Azure: `moderation` when it is the default). */
  omit?: ReadonlySet<string>
  /** Replace `model` (Azure v1: the deployment name). */
  model?: string
}

/** Fields sent beside the keyed parameters. */
function transportFields(request: ProviderRequest): Record<string, string | number | boolean> {
  const fields: Record<string, string | number | boolean> = {}
  if (request.user !== undefined) fields.user = request.user
  if (request.stream) {
    fields.stream = true
    fields.partial_images = request.stream.partialImages
  }
  // DALL-E answers with an expiring URL unless told otherwise; GPT image models reject the field.
  if (modelCapabilities(String(request.params.model))?.family === 'dall-e') fields.response_format = 'b64_json'
  return fields
}

function bodyFields(request: ProviderRequest, options: OpenAIBodyOptions): Record<string, string | number | boolean> {
  const fields: Record<string, string | number | boolean> = { ...request.params, ...transportFields(request) }
  if (options.model !== undefined) fields.model = options.model
  for (const name of options.omit ?? []) delete fields[name]
  return fields
}

export function openaiJsonBody(request: ProviderRequest, options: OpenAIBodyOptions = {}): string {
  return JSON.stringify(bodyFields(request, options))
}

export async function openaiMultipartBody(request: ProviderRequest, options: OpenAIBodyOptions = {}): Promise<FormData> {
  const { FormData } = await loadUndici()
  const form = new FormData()
  for (const [name, value] of Object.entries(bodyFields(request, options))) form.append(name, String(value))
  // One file goes as `image`; several as repeated `image[]` parts (GPT image models take up to 16).
  const imageField = request.inputs.length > 1 ? 'image[]' : 'image'
  for (const input of request.inputs) appendFile(form, imageField, input)
  if (request.mask) appendFile(form, 'mask', request.mask)
  return form
}

function appendFile(form: FormData, field: string, input: ProviderInput): void {
  form.append(field, new Blob([new Uint8Array(input.data)], { type: input.mime }), input.name)
}

export async function openaiRequestBody(request: ProviderRequest, options: OpenAIBodyOptions = {}): Promise<string | FormData> {
  return request.endpoint === 'generations' ? openaiJsonBody(request, options) : openaiMultipartBody(request, options)
}

/** Content-Type header for a JSON body; multipart bodies set their own boundary. */
export function contentTypeHeader(body: string | FormData): Record<string, string> {
  return typeof body === 'string' ? { 'content-type': 'application/json' } : {}
}
