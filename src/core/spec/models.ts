/**
 * The capability table: what each Images API model accepts (see API-FACTS.md). Validation and
 * normalization read only this table, so supporting a new model is one entry here.
 */

export type Endpoint = 'generations' | 'edits' | 'variations'
export type ModelFamily = 'gpt-image' | 'dall-e'

/**
 * Fixed list of `WxH` strings, or the flexible rule of gpt-image-2: both sides multiples of `multiple`, the long
 * side at most `maxLong`, a ratio of at most `maxRatio`:1, and `minPixels` to `maxPixels` pixels in all.
 * `maxShort` is the short side of the largest answer to `auto` (3840x2160), which bounds what is read back.
 */
export type SizeRule =
  | { kind: 'list'; values: readonly string[] }
  | {
      kind: 'flexible'
      multiple: number
      maxLong: number
      maxShort: number
      minPixels: number
      maxPixels: number
      maxRatio: number
      auto: boolean
    }

/** API parameters that only some models take. `prompt`, `model`, `n`, `size`, `user` are taken by all. */
export type OptionalParam =
  | 'quality'
  | 'background'
  | 'output_format'
  | 'output_compression'
  | 'moderation'
  | 'style'
  | 'input_fidelity'
  | 'stream'
  | 'partial_images'

/** Every optional parameter, in the order the validator judges them. */
export const OPTIONAL_PARAMS: readonly OptionalParam[] = [
  'quality',
  'background',
  'output_format',
  'output_compression',
  'moderation',
  'style',
  'input_fidelity',
  'stream',
  'partial_images',
]

export interface ModelCapabilities {
  family: ModelFamily
  endpoints: readonly Endpoint[]
  sizes: SizeRule
  qualities: readonly string[]
  /** Most candidates one spec may ask for. */
  maxN: number
  /** Most images one request returns; a spec asking for more is split into several requests. */
  perCallN: number
  promptMax: number
  params: readonly OptionalParam[]
  /** `input_fidelity` is an edits-only parameter even for the models that take it. */
  inputFidelity: boolean
  /** Defaults filled into the normalized request (and so into the cache key). */
  defaults: { size: string; quality?: string; style?: string }
  /** Edit inputs: allowed mime types and most files. */
  editInputs?: { mimes: readonly string[]; max: number; squarePngOnly?: boolean; maxBytes: number }
}

const GPT_FIXED_SIZES = ['1024x1024', '1536x1024', '1024x1536', 'auto'] as const
const GPT_QUALITIES = ['low', 'medium', 'high', 'auto'] as const
const GPT_PARAMS: readonly OptionalParam[] = [
  'quality',
  'background',
  'output_format',
  'output_compression',
  'moderation',
  'stream',
  'partial_images',
]
const GPT_EDIT_INPUTS = { mimes: ['image/png', 'image/jpeg', 'image/webp'], max: 16, maxBytes: 50 * 1024 * 1024 } as const

function gptModel(overrides: Partial<ModelCapabilities>): ModelCapabilities {
  return {
    family: 'gpt-image',
    endpoints: ['generations', 'edits'],
    sizes: { kind: 'list', values: GPT_FIXED_SIZES },
    qualities: GPT_QUALITIES,
    maxN: 10,
    perCallN: 10,
    promptMax: 32000,
    params: GPT_PARAMS,
    inputFidelity: true,
    defaults: { size: 'auto', quality: 'auto' },
    editInputs: GPT_EDIT_INPUTS,
    ...overrides,
  }
}

export const MODELS: Readonly<Record<string, ModelCapabilities>> = {
  'gpt-image-2': gptModel({
    // OpenAI's schema (CreateImageRequest.size): multiples of 16, ratio 1:3 to 3:1, at most 3840x2160, "the
    // model's current pixel and edge limits"; the image guide's limits: long edge <= 3840 px, 655,360 to
    // 8,294,400 pixels in all (so 16x16 or 256x256 is refused before anything is paid for).
    sizes: { kind: 'flexible', multiple: 16, maxLong: 3840, maxShort: 2160, minPixels: 655_360, maxPixels: 8_294_400, maxRatio: 3, auto: true },
    inputFidelity: false,
  }),
  'gpt-image-1.5': gptModel({}),
  'gpt-image-1': gptModel({}),
  'gpt-image-1-mini': gptModel({ inputFidelity: false }),
  'dall-e-3': {
    family: 'dall-e',
    endpoints: ['generations'],
    sizes: { kind: 'list', values: ['1024x1024', '1792x1024', '1024x1792'] },
    qualities: ['standard', 'hd'],
    maxN: 10,
    perCallN: 1,
    promptMax: 4000,
    params: ['quality', 'style'],
    inputFidelity: false,
    defaults: { size: '1024x1024', quality: 'standard', style: 'vivid' },
  },
  'dall-e-2': {
    family: 'dall-e',
    endpoints: ['generations', 'edits', 'variations'],
    sizes: { kind: 'list', values: ['256x256', '512x512', '1024x1024'] },
    qualities: ['standard'],
    maxN: 10,
    perCallN: 10,
    promptMax: 1000,
    params: ['quality'],
    inputFidelity: false,
    defaults: { size: '1024x1024', quality: 'standard' },
    editInputs: { mimes: ['image/png'], max: 1, squarePngOnly: true, maxBytes: 4 * 1024 * 1024 },
  },
}

/** The model used when neither the spec nor `defaults` names one. Changing it changes cache keys. */
export const DEFAULT_MODEL = 'gpt-image-1.5'

/** Limits applied to models the table does not know (an OpenAI-compatible server, a newer deployment). */
export const GENERIC_LIMITS = { maxN: 10, promptMax: 32000 } as const

/**
 * Names the Images API takes for a model of the table. `chatgpt-image-latest` is, per OpenAI's model page, the
 * alias of the image snapshot ChatGPT uses; OpenAI's schema lists it with the GPT image models beside
 * gpt-image-1.5, its default (CreateImageEditRequest), and OpenAI's price list (2026) gives it gpt-image-1.5's
 * per-image prices. It takes gpt-image-1.5's capabilities and prices; an alias moves, so
 * `prices['chatgpt-image-latest']` overrides them.
 */
export const MODEL_ALIASES: Readonly<Record<string, string>> = { 'chatgpt-image-latest': 'gpt-image-1.5' }

/** A dated snapshot of a model: `gpt-image-2-2026-04-21`, `gpt-image-1-2025-04-15`. */
const SNAPSHOT = /^(.+)-\d{4}-\d{2}-\d{2}$/

/**
 * The entry of the capability table a model name belongs to: the name itself, the model an alias stands
 * for, or the model a dated snapshot is of (its family: the same capabilities and prices). Undefined for
 * a model the table does not know. The name itself is what is sent and keyed.
 */
export function modelFamily(model: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(MODELS, model)) return model
  if (Object.prototype.hasOwnProperty.call(MODEL_ALIASES, model)) return MODEL_ALIASES[model]
  const snapshot = SNAPSHOT.exec(model)
  return snapshot && Object.prototype.hasOwnProperty.call(MODELS, snapshot[1]!) ? snapshot[1] : undefined
}

export function modelCapabilities(model: string): ModelCapabilities | undefined {
  const family = modelFamily(model)
  return family === undefined ? undefined : MODELS[family]
}

export const KNOWN_MODELS = Object.keys(MODELS)

/**
 * The optional parameters a model takes on an endpoint (CreateImageEditRequest has no moderation or style;
 * variations take none; `input_fidelity` is for edits of the models that have it). The validator and the
 * JSON Schema both read it.
 */
export function acceptedParams(caps: ModelCapabilities, endpoint: Endpoint): Set<OptionalParam> {
  const accepted = new Set<OptionalParam>(
    endpoint === 'variations' ? [] : caps.params.filter((p) => endpoint === 'generations' || (p !== 'moderation' && p !== 'style')),
  )
  if (endpoint === 'edits' && caps.inputFidelity) accepted.add('input_fidelity')
  return accepted
}

/** Human-readable list of the sizes a rule allows, for error messages and the JSON schema. */
export function describeSizes(rule: SizeRule): string {
  if (rule.kind === 'list') return rule.values.join(', ')
  return (
    `WIDTHxHEIGHT with both sides multiples of ${rule.multiple}, the long side at most ${rule.maxLong}, ` +
    `a ratio of at most ${rule.maxRatio}:1 and ${rule.minPixels.toLocaleString('en-US')} to ${rule.maxPixels.toLocaleString('en-US')} pixels ` +
    `(e.g. 1024x1024, 1536x1024, 2048x1152, 3840x2160)` +
    (rule.auto ? ', or auto' : '')
  )
}

/** Parse `WxH`; undefined when the string is not of that form. */
export function parseSize(size: string): { width: number; height: number } | undefined {
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(size)
  if (!match) return undefined
  return { width: Number(match[1]), height: Number(match[2]) }
}

export function sizeAllowed(rule: SizeRule, size: string): boolean {
  if (rule.kind === 'list') return rule.values.includes(size)
  if (size === 'auto') return rule.auto
  const parsed = parseSize(size)
  if (!parsed) return false
  const { width, height } = parsed
  const long = Math.max(width, height)
  const short = Math.min(width, height)
  const pixels = width * height
  return (
    width > 0 &&
    height > 0 &&
    width % rule.multiple === 0 &&
    height % rule.multiple === 0 &&
    long <= rule.maxLong &&
    long <= short * rule.maxRatio &&
    pixels >= rule.minPixels &&
    pixels <= rule.maxPixels
  )
}
