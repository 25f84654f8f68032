/**
 * What the engine asks of a provider: one HTTP request (one attempt) that turns a normalized request into
 * image bytes. Retries, pacing and caching are the engine's job; providers know nothing of bundlers.
 */
import type { Endpoint } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'

export interface ProviderInput {
  /** File name sent in the multipart part (no folders). */
  name: string
  data: Buffer
  mime: string
}

export interface ProviderRequest {
  /** Spec label, for error messages. */
  label: string
  /** Cache key of the spec (the placeholder provider colours by it). */
  key: string
  endpoint: Endpoint
  /** Images API body fields (model, prompt, n for this call, size, …), defaults filled in. */
  params: Readonly<Record<string, string | number>>
  inputs: readonly ProviderInput[]
  mask?: ProviderInput
  user?: string
  /** Ask for a streamed answer with this many partial previews. */
  stream?: { partialImages: number }
}

export interface ProviderImage {
  data: Buffer
  revisedPrompt?: string
}

export interface ProviderResult {
  /** Unix seconds. */
  created: number
  images: ProviderImage[]
  usage?: Record<string, unknown>
  requestId?: string
}

/** A streamed preview frame; never cached. */
export interface PartialFrame {
  /** Candidate index within this request. */
  index: number
  /** 0-based number of this preview. */
  partialIndex: number
  data: Buffer
}

export interface AttemptContext {
  signal: AbortSignal
  onPartial?: (frame: PartialFrame) => void
}

export interface ImageProvider {
  readonly kind: 'openai' | 'azure' | 'placeholder'
  /** Recorded in the sidecar; never a secret. */
  describe(model: string): { kind: string; deployment?: string }
  /** Provider-specific restrictions, checked before any spending (SPEC_INVALID). */
  checkSpec(spec: ValidatedSpec): void
  generate(request: ProviderRequest, context: AttemptContext): Promise<ProviderResult>
  close(): Promise<void>
}
