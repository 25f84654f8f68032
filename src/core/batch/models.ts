/**
 * What the OpenAI Batch API takes for images, checked before anything is uploaded: which provider, which
 * models, which endpoints, and what a JSON edit body can carry.
 */
import { specInvalid } from '../errors.js'
import type { ProviderConfig } from '../providers/registry.js'
import type { Endpoint } from '../spec/models.js'

export type BatchEndpoint = '/v1/images/generations' | '/v1/images/edits'

export const BATCH_ENDPOINTS: Readonly<Partial<Record<Endpoint, BatchEndpoint>>> = {
  generations: '/v1/images/generations',
  edits: '/v1/images/edits',
}

export function isBatchEndpoint(value: unknown): value is BatchEndpoint {
  return value === '/v1/images/generations' || value === '/v1/images/edits'
}

/**
 * Models whose image requests the Batch API takes (generations and edits, at 50% of the synchronous price).
 *
 * - gpt-image-1.5, chatgpt-image-latest, gpt-image-1, gpt-image-1-mini: OpenAI's announcement of image
 *   support in the Batch API (API-FACTS.md "Batch API"; @OpenAIDevs, "Batch API now supports GPT Image
 *   models: gpt-image-1.5, chatgpt-image-latest, gpt-image-1, gpt-image-1-mini").
 * - gpt-image-2 and its snapshot gpt-image-2-2026-04-21: OpenAI's model page
 *   (https://developers.openai.com/api/docs/models/gpt-image-2, "Endpoints": `v1/batch` Supported,
 *   default snapshot `gpt-image-2-2026-04-21`). The official schema's model enums list the same snapshot.
 *
 * gpt-image-1 was shut down on OpenAI on 2026-10-23 (API-FACTS.md); it stays listed because the Batch API
 * list named it and the API itself then refuses the line (SPEC_INVALID for that spec), which is the truth
 * of the day rather than a guess frozen here.
 */
export const BATCH_IMAGE_MODELS: ReadonlySet<string> = new Set([
  'gpt-image-2',
  'gpt-image-2-2026-04-21',
  'gpt-image-1.5',
  'chatgpt-image-latest',
  'gpt-image-1',
  'gpt-image-1-mini',
])

/**
 * Sizes of a JSON edit body: `EditImageBodyJsonParam.size` in the official schema is a closed enum (unlike
 * the multipart form and generations, which take gpt-image-2's free `WIDTHxHEIGHT`).
 */
export const JSON_EDIT_SIZES: ReadonlySet<string> = new Set(['auto', '1024x1024', '1536x1024', '1024x1536'])

/** What the batch checks need of a request (a `ProviderRequest` or a validated spec both carry it). */
export interface BatchableRequest {
  label: string
  endpoint: Endpoint
  params: Readonly<Record<string, string | number>>
}

/**
 * SPEC_INVALID unless the Batch API takes this request from this provider. Called for every request before
 * anything is uploaded, so a batch is all or nothing.
 */
export function checkBatchable(provider: ProviderConfig, request: BatchableRequest): void {
  const { label } = request
  if (provider.kind === 'azure') {
    // Azure OpenAI's (global) Batch API documents chat completions, responses and embeddings, and no image
    // operations (learn.microsoft.com/azure/ai-foundry/openai/how-to/batch).
    throw specInvalid(label, '', 'the Batch API for images is OpenAI-only: Azure OpenAI documents no batch image generation', 'Generate without --batch, or use the openai provider')
  }
  if (provider.kind !== 'openai') {
    throw specInvalid(label, '', `the ${provider.kind} provider has no Batch API`, 'Set OPENAI_API_KEY (provider openai) to submit a batch')
  }
  const endpoint = BATCH_ENDPOINTS[request.endpoint]
  if (!endpoint) {
    throw specInvalid(label, 'image', `${request.endpoint} are not taken by the Batch API (only generations and edits)`, 'Generate this spec without --batch')
  }
  const model = String(request.params.model)
  if (!BATCH_IMAGE_MODELS.has(model)) {
    throw specInvalid(label, 'model', `"${model}" is not taken by the Batch API for images`, `Use one of ${[...BATCH_IMAGE_MODELS].join(', ')}, or generate this spec without --batch`)
  }
  const size = request.params.size
  if (request.endpoint === 'edits' && size !== undefined && !JSON_EDIT_SIZES.has(String(size))) {
    throw specInvalid(label, 'size', `"${String(size)}" cannot be sent in a batched edit: its JSON body takes only ${[...JSON_EDIT_SIZES].join(', ')}`, 'Use one of those sizes, or generate this spec without --batch')
  }
}
