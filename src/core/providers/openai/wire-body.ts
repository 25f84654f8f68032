/**
 * Request bodies as the Images API wants them: JSON for generations, multipart/form-data for edits and
 * variations (numbers as strings, each file part with its real image content type, since
 * `application/octet-stream` is rejected). Shared by the OpenAI and Azure providers.
 */
import type { FormData } from 'undici'
import { modelCapabilities, modelFamily, type Endpoint } from '../../spec/models.js'
import type { ProviderInput, ProviderRequest } from '../types.js'
import { loadUndici } from './http.js'

export interface OpenAIBodyOptions {
  /** Parameters this provider must not send (Azure: `moderation`). */
  omit?: ReadonlySet<string>
  /** Parameters this provider never sends as `auto` (Azure: its documented values do not all include it). */
  omitAuto?: ReadonlySet<string>
  /** Replace `model` (Azure v1: the deployment name). */
  model?: string
}

type WireDefaults = Readonly<Record<string, string | number>>

const GPT_GENERATION_DEFAULTS: WireDefaults = { n: 1, size: 'auto', quality: 'auto', background: 'auto', output_format: 'png', output_compression: 100, moderation: 'auto' }

/**
 * What the Images API fills in for a field it is not sent, per endpoint and model (OpenAI's schema,
 * `CreateImageRequest` / `CreateImageEditRequest` / `CreateImageVariationRequest`, where `auto` quality means
 * `standard` for DALL-E). A default the plugin keys that differs from these (multipart edits default to
 * `1024x1024`, the key to `auto`) is sent, so the answer is the keyed request's; the others are left out,
 * as the official SDKs leave out what their caller did not set.
 */
const WIRE_DEFAULTS: Readonly<Record<Endpoint, Readonly<Record<string, WireDefaults>>>> = {
  generations: {
    'gpt-image': GPT_GENERATION_DEFAULTS,
    'dall-e-3': { n: 1, size: '1024x1024', quality: 'standard', style: 'vivid' },
    'dall-e-2': { n: 1, size: '1024x1024', quality: 'standard' },
  },
  edits: {
    'gpt-image': { n: 1, size: '1024x1024', quality: 'auto', background: 'auto', output_format: 'png', output_compression: 100, input_fidelity: 'low' },
    'dall-e-2': { n: 1, size: '1024x1024', quality: 'standard' },
  },
  variations: { 'dall-e-2': { n: 1, size: '1024x1024' } },
}

function wireDefaults(endpoint: Endpoint, model: string): WireDefaults | undefined {
  const family = modelFamily(model)
  if (family === undefined) return undefined
  return WIRE_DEFAULTS[endpoint][modelCapabilities(model)!.family === 'gpt-image' ? 'gpt-image' : family]
}

/**
 * Whether a keyed parameter goes on the wire: the user set it, or it is a default the API would fill in
 * differently. `model` and `prompt` are always the user's (the plugin's default model is not the API's).
 * A model the table does not know gets only what the user set: its one filled-in default, `n: 1`, is the
 * Images API's own for every endpoint.
 */
function onWire(request: ProviderRequest, name: string, value: string | number): boolean {
  if (request.userSet === undefined || request.userSet.includes(name)) return true
  const defaults = wireDefaults(request.endpoint, String(request.params.model))
  if (defaults === undefined) return name === 'n' && value !== 1
  return !Object.prototype.hasOwnProperty.call(defaults, name) || defaults[name] !== value
}

/** Fields sent beside the keyed parameters. */
function transportFields(request: ProviderRequest): Record<string, string | number | boolean> {
  const fields: Record<string, string | number | boolean> = {}
  if (request.user !== undefined) fields.user = request.user
  if (request.stream) {
    fields.stream = true
    // 0 is the API's own default: left out, as an SDK leaves out what its caller did not set.
    if (request.stream.partialImages > 0) fields.partial_images = request.stream.partialImages
  }
  // DALL-E answers with an expiring URL unless told otherwise; GPT image models reject the field.
  if (modelCapabilities(String(request.params.model))?.family === 'dall-e') fields.response_format = 'b64_json'
  return fields
}

function bodyFields(request: ProviderRequest, options: OpenAIBodyOptions): Record<string, string | number | boolean> {
  const fields: Record<string, string | number | boolean> = {}
  for (const [name, value] of Object.entries(request.params)) {
    if (onWire(request, name, value) && !(value === 'auto' && options.omitAuto?.has(name))) fields[name] = value
  }
  Object.assign(fields, transportFields(request))
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
