/**
 * What the engine asks of a provider: one HTTP request (one attempt) that turns a normalized request into
 * image bytes. Retries, pacing and caching are the engine's job; providers know nothing of bundlers.
 */
import type { Env } from '../option-values.js'
import type { Endpoint } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { AiImageOptions } from '../../types.js'

export type { Env } from '../option-values.js'

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
  /** Images API body fields (model, prompt, n for this call, size, …), defaults filled in (as keyed). */
  params: Readonly<Record<string, string | number>>
  /**
   * The names of `params` the user set (`model` and `prompt` included): only these go on the wire, plus a
   * default the API would otherwise fill in differently (so the answer is the keyed request's). Absent: all.
   */
  userSet?: readonly string[]
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
  /**
   * The answer's body has been read whole: the request is no longer on the wire, so the scheduler gives its
   * slot to the next request while this answer is parsed, decoded and checked.
   */
  onAnswerRead?: () => void
}

export interface ImageProvider {
  readonly kind: 'openai' | 'azure' | 'placeholder'
  /** Recorded in the sidecar; never a secret. */
  describe(model: string): { kind: string; deployment?: string }
  /** Provider-specific restrictions, checked before any spending (SPEC_INVALID). */
  checkSpec(spec: ValidatedSpec): void
  /** Provider-specific rules for the input images of an edit (their real types), checked before any spending. */
  checkInputs?(spec: ValidatedSpec, inputs: ReadonlyArray<{ field: string; name: string; mime: string }>): void
  generate(request: ProviderRequest, context: AttemptContext): Promise<ProviderResult>
  close(): Promise<void>
}

/** What a provider's HTTP client is sized by. */
export interface ProviderTransport {
  /** Milliseconds per request. */
  timeout: number
  /** Requests in flight at once (the connection pool holds twice as many). */
  concurrency: number
  /** Says something once to the user (the build's logger): a setting the provider does not follow, and why. */
  notice?: (message: string) => void
}

/** How a provider's options and environment variables resolve into its config (its `config.ts`). */
export interface ProviderSettings<C extends { kind: string }> {
  readonly kind: C['kind']
  /** Whether options or environment configure this provider (the automatic choice takes the first that does). */
  detects(user: AiImageOptions, env: Env): boolean
  /** Its config; an incomplete one is a SPEC_INVALID error naming the option and the variable to set. */
  resolve(user: AiImageOptions, env: Env, how: { explicit: boolean }): C
  /** Secret values of its options and environment (keys): the redactor knows them whichever provider is chosen. */
  secrets(user: AiImageOptions, env: Env): Array<string | undefined>
  /** Said once when it is chosen for lack of another (the placeholder). */
  fallbackNotice?: string
}

/**
 * One provider, as the registry lists it (its `index.ts`): its settings, and the provider itself, whose
 * modules (wire format, HTTP client, SDKs) `create` loads on first use.
 */
export interface ProviderDefinition<C extends { kind: string }> extends ProviderSettings<C> {
  create(config: C, transport: ProviderTransport): Promise<ImageProvider>
}
