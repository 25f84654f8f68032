/**
 * Every field a spec may hold, defined once: its name, type, default, whether it is sent to the Images API
 * and whether it is part of the cache key, and its documentation. The validator (types, defaults, which
 * request fields are keyed), the coercion of `virtual:ai-image?…` query strings, the published
 * `schema.json` and the emit recipe all read this table; `types.ts` (hand-written for its JSDoc) is checked
 * against it by a type-level test and a test of its `@default` tags. Per-model rules and per-model defaults
 * live in `models.ts`.
 */
import { SPEC_SUFFIX } from '../spec-path.js'
import { DEFAULT_MODEL } from './models.js'

export type FieldType =
  | { type: 'string'; enum?: readonly string[]; minLength?: number; pattern?: RegExp; patternText?: string }
  | { type: 'integer'; minimum?: number; maximum?: number }
  | { type: 'boolean' }
  | { type: 'string-or-number' }
  | { type: 'path-or-paths'; maxItems: number }
  | { type: 'integer-list'; minimum: number; maximum: number; maxItems: number }
  | { type: 'object'; fields: Readonly<Record<string, FieldDef>> }

/**
 * What an omitted field means: a `value` the validator fills in (so an explicit default and an omitted one
 * make the same request, and the same key), the default of the spec's model in the capability table
 * (`per-model`, with a `fallback` for models without one), or a value computed from the rest of the spec
 * (`derived`, described in words).
 */
export type FieldDefault =
  | { kind: 'value'; value: string | number | boolean | readonly number[] }
  | { kind: 'per-model'; fallback?: string }
  | { kind: 'derived'; text: string }

export type FieldDef = FieldType & {
  description: string
  /** Sent to the Images API under this name (as a body field). */
  api?: boolean
  /** Part of the cache key: as a field of the keyed request, or as key material (input hashes, seed). */
  keyed?: boolean
  /** May appear in the plugin option `defaults`. */
  defaultable?: boolean
  default?: FieldDefault
  /**
   * The value that asks for nothing (`stream: false`): accepted on every model, even one that does not take
   * the field, and never sent.
   */
  neutral?: string | number | boolean
}

const SIZE_PATTERN = /^(auto|\d{1,5}x\d{1,5})$/

export const EMIT_FIELDS = {
  format: {
    type: 'string',
    enum: ['png', 'jpeg', 'webp', 'avif'],
    default: { kind: 'derived', text: 'the format the API returned' },
    description: 'Output format of the emitted asset. Default: the format the API returned.',
  },
  quality: { type: 'integer', minimum: 1, maximum: 100, description: 'Encoder quality 1-100.' },
  widths: {
    type: 'integer-list',
    minimum: 1,
    maximum: 8192,
    maxItems: 16,
    default: { kind: 'value', value: [] },
    description: 'Resized variants (never upscaled), exported as `srcset`.',
  },
  placeholder: {
    type: 'string',
    enum: ['none', 'blur', 'thumbhash'],
    default: { kind: 'value', value: 'none' },
    description: "A tiny inline preview, exported as `placeholder`. Default 'none'.",
  },
  background: {
    type: 'string',
    minLength: 1,
    default: { kind: 'value', value: '#ffffff' },
    description: "Colour a transparent image is flattened onto when emitted as JPEG. Default '#ffffff'.",
  },
  metadata: {
    type: 'string',
    enum: ['keep', 'strip'],
    default: { kind: 'value', value: 'keep' },
    description:
      "'keep': every re-encoded or resized file carries XMP marking it AI-generated (IPTC digital source type trainedAlgorithmicMedia), " +
      "and a PNG carrying the provider's C2PA content credentials is emitted byte for byte. 'strip' opts out. Default 'keep'.",
  },
} as const satisfies Readonly<Record<string, FieldDef>>

export const SPEC_FIELDS = {
  $schema: { type: 'string', description: 'JSON Schema reference for editors; ignored.' },
  prompt: {
    type: 'string',
    minLength: 1,
    api: true,
    keyed: true,
    description: 'What to draw. Required unless `image` is given for a dall-e-2 variation.',
  },
  model: {
    type: 'string',
    minLength: 1,
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: DEFAULT_MODEL },
    description: `Images API model. Default '${DEFAULT_MODEL}'. Unknown models pass with a warning.`,
  },
  size: {
    type: 'string',
    pattern: SIZE_PATTERN,
    patternText: 'WIDTHxHEIGHT or auto',
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'per-model' },
    description: "WIDTHxHEIGHT or 'auto'; the allowed values depend on the model.",
  },
  quality: {
    type: 'string',
    enum: ['low', 'medium', 'high', 'auto', 'standard', 'hd'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'per-model' },
    description: 'low/medium/high/auto for GPT image models, standard/hd for dall-e-3.',
  },
  n: {
    type: 'integer',
    minimum: 1,
    maximum: 10,
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 1 },
    description: 'Number of candidates.',
  },
  background: {
    type: 'string',
    enum: ['transparent', 'opaque', 'auto'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 'auto' },
    description: 'GPT image models only; transparent needs png or webp.',
  },
  output_format: {
    type: 'string',
    enum: ['png', 'jpeg', 'webp'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 'png' },
    description: 'GPT image models only. Default png.',
  },
  output_compression: {
    type: 'integer',
    minimum: 0,
    maximum: 100,
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 100 },
    description: 'jpeg and webp only. Default 100.',
  },
  moderation: {
    type: 'string',
    enum: ['auto', 'low'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 'auto' },
    description: 'GPT image models on OpenAI only. Default auto.',
  },
  style: {
    type: 'string',
    enum: ['vivid', 'natural'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'per-model', fallback: 'vivid' },
    description: 'dall-e-3 only. Default vivid.',
  },
  input_fidelity: {
    type: 'string',
    enum: ['low', 'high'],
    api: true,
    keyed: true,
    defaultable: true,
    default: { kind: 'value', value: 'low' },
    description: 'Edits with gpt-image-1 and gpt-image-1.5 only. Default low.',
  },
  user: {
    type: 'string',
    api: true,
    defaultable: true,
    description: 'End-user id for abuse monitoring. Not part of the cache key.',
  },
  stream: {
    type: 'boolean',
    api: true,
    defaultable: true,
    default: { kind: 'value', value: false },
    neutral: false,
    description: 'Stream partial previews (GPT image models). Not part of the cache key.',
  },
  partial_images: {
    type: 'integer',
    minimum: 0,
    maximum: 3,
    api: true,
    defaultable: true,
    default: { kind: 'value', value: 0 },
    neutral: 0,
    description: 'Partial previews 0-3 when streaming; each costs 100 output tokens.',
  },
  image: {
    type: 'path-or-paths',
    maxItems: 16,
    keyed: true,
    description: `Input image path(s) relative to the spec file; a *${SPEC_SUFFIX} path uses that spec's picked output.`,
  },
  mask: { type: 'string', minLength: 1, keyed: true, description: 'PNG with alpha (alpha 0 = area to edit), same size as the first image.' },
  seed: { type: 'string-or-number', keyed: true, defaultable: true, description: 'Not sent; changes the cache key.' },
  pick: { type: 'integer', minimum: 0, maximum: 9, default: { kind: 'value', value: 0 }, description: 'Candidate used by the default export. Default 0.' },
  alt: { type: 'string', default: { kind: 'derived', text: 'the prompt' }, description: 'Alt text. Default: the prompt.' },
  emit: { type: 'object', fields: EMIT_FIELDS, defaultable: true, description: 'How the asset is emitted. Not part of the key.' },
} as const satisfies Readonly<Record<string, FieldDef>>

export type SpecFieldName = keyof typeof SPEC_FIELDS
export type EmitFieldName = keyof typeof EMIT_FIELDS
/** The fields the plugin option `defaults` may set. */
export type DefaultableFieldName = { [N in SpecFieldName]: (typeof SPEC_FIELDS)[N] extends { defaultable: true } ? N : never }[SpecFieldName]

/** The definition of a spec field by name (an own entry of the table only), or undefined. */
export function specField(name: string): FieldDef | undefined {
  return ownField(SPEC_FIELDS, name)
}

/** The definition of an `emit` field by name, or undefined. */
export function emitField(name: string): FieldDef | undefined {
  return ownField(EMIT_FIELDS, name)
}

export function ownField(table: Readonly<Record<string, FieldDef>>, name: string): FieldDef | undefined {
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined
}

/** API fields of the keyed request: sent to the Images API and part of the cache key. */
export const KEYED_REQUEST_FIELDS: readonly SpecFieldName[] = (Object.keys(SPEC_FIELDS) as SpecFieldName[]).filter((name) => {
  const def: FieldDef = SPEC_FIELDS[name]
  return def.api === true && def.keyed === true
})

/** The value a field takes when a spec omits it (fields whose default is a plain value only). */
export function defaultValue<T extends string | number | boolean | readonly number[]>(def: { default: { kind: 'value'; value: T } }): T {
  return def.default.value
}

/** Closest known name, for "did you mean" hints on unknown fields. */
export function closestField(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      bestDistance = d
      best = candidate
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

/**
 * Check a value against its field type. Returns what is wrong and what is allowed, or undefined.
 * Only the shape is checked here; model rules come after.
 */
export function checkFieldType(def: FieldDef, value: unknown): string | undefined {
  switch (def.type) {
    case 'string': {
      if (typeof value !== 'string') return `must be a string, got ${typeName(value)}`
      if (def.minLength && value.length < def.minLength) return 'must not be empty'
      if (def.enum && !def.enum.includes(value)) return `must be one of: ${def.enum.join(', ')}`
      if (def.pattern && !def.pattern.test(value)) return `must be ${def.patternText}`
      return undefined
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be an integer, got ${typeName(value)}`
      if (def.minimum !== undefined && value < def.minimum) return `must be at least ${def.minimum}`
      if (def.maximum !== undefined && value > def.maximum) return `must be at most ${def.maximum}`
      return undefined
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${typeName(value)}`
    case 'string-or-number':
      return (typeof value === 'string' && value.length > 0) || (typeof value === 'number' && Number.isFinite(value))
        ? undefined
        : `must be a non-empty string or a number, got ${typeName(value)}`
    case 'path-or-paths': {
      const list = typeof value === 'string' ? [value] : value
      if (!Array.isArray(list) || list.length === 0) return 'must be a path or a non-empty array of paths'
      if (list.length > def.maxItems) return `at most ${def.maxItems} paths`
      if (!list.every((item) => typeof item === 'string' && item.length > 0)) return 'every path must be a non-empty string'
      return undefined
    }
    case 'integer-list': {
      if (!Array.isArray(value) || value.length === 0) return 'must be a non-empty array of integers'
      if (value.length > def.maxItems) return `at most ${def.maxItems} entries`
      for (const item of value) {
        if (typeof item !== 'number' || !Number.isInteger(item) || item < def.minimum || item > def.maximum) {
          return `every entry must be an integer from ${def.minimum} to ${def.maximum}, got ${JSON.stringify(item)}`
        }
      }
      return undefined
    }
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value)
        ? undefined
        : `must be an object, got ${typeName(value)}`
  }
}

export function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`
}
