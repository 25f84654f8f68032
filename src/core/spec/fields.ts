/**
 * Every field a spec may hold, with its type and documentation. The validator, the coercion of
 * `virtual:ai-image?…` query strings and the published `schema.json` are all derived from this table,
 * so they cannot drift apart. Per-model rules live in `models.ts`.
 */
import { SPEC_SUFFIX } from '../spec-path.js'

export type FieldType =
  | { type: 'string'; enum?: readonly string[]; minLength?: number; pattern?: RegExp; patternText?: string }
  | { type: 'integer'; minimum?: number; maximum?: number }
  | { type: 'boolean' }
  | { type: 'string-or-number' }
  | { type: 'path-or-paths'; maxItems: number }
  | { type: 'integer-list'; minimum: number; maximum: number; maxItems: number }
  | { type: 'object'; fields: Readonly<Record<string, FieldDef>> }

export type FieldDef = FieldType & {
  description: string
  /** Sent to the Images API under this name. */
  api?: boolean
  /** May appear in the plugin option `defaults`. */
  defaultable?: boolean
}

const SIZE_PATTERN = /^(auto|\d{1,5}x\d{1,5})$/

export const EMIT_FIELDS: Readonly<Record<string, FieldDef>> = {
  format: {
    type: 'string',
    enum: ['png', 'jpeg', 'webp', 'avif'],
    description: 'Output format of the emitted asset. Default: the format the API returned.',
  },
  quality: { type: 'integer', minimum: 1, maximum: 100, description: 'Encoder quality 1-100.' },
  widths: {
    type: 'integer-list',
    minimum: 1,
    maximum: 8192,
    maxItems: 16,
    description: 'Resized variants (never upscaled), exported as `srcset`.',
  },
  placeholder: {
    type: 'string',
    enum: ['none', 'blur', 'thumbhash'],
    description: "A tiny inline preview, exported as `placeholder`. Default 'none'.",
  },
  background: {
    type: 'string',
    minLength: 1,
    description: "Colour a transparent image is flattened onto when emitted as JPEG. Default '#ffffff'.",
  },
}

export const SPEC_FIELDS: Readonly<Record<string, FieldDef>> = {
  $schema: { type: 'string', description: 'JSON Schema reference for editors; ignored.' },
  prompt: {
    type: 'string',
    minLength: 1,
    api: true,
    description: 'What to draw. Required unless `image` is given for a dall-e-2 variation.',
  },
  model: {
    type: 'string',
    minLength: 1,
    api: true,
    defaultable: true,
    description: "Images API model. Default 'gpt-image-1.5'. Unknown models pass with a warning.",
  },
  size: {
    type: 'string',
    pattern: SIZE_PATTERN,
    patternText: 'WIDTHxHEIGHT or auto',
    api: true,
    defaultable: true,
    description: "WIDTHxHEIGHT or 'auto'; the allowed values depend on the model.",
  },
  quality: {
    type: 'string',
    enum: ['low', 'medium', 'high', 'auto', 'standard', 'hd'],
    api: true,
    defaultable: true,
    description: 'low/medium/high/auto for GPT image models, standard/hd for dall-e-3.',
  },
  n: { type: 'integer', minimum: 1, maximum: 10, api: true, defaultable: true, description: 'Number of candidates.' },
  background: {
    type: 'string',
    enum: ['transparent', 'opaque', 'auto'],
    api: true,
    defaultable: true,
    description: 'GPT image models only; transparent needs png or webp.',
  },
  output_format: {
    type: 'string',
    enum: ['png', 'jpeg', 'webp'],
    api: true,
    defaultable: true,
    description: 'GPT image models only. Default png.',
  },
  output_compression: {
    type: 'integer',
    minimum: 0,
    maximum: 100,
    api: true,
    defaultable: true,
    description: 'jpeg and webp only. Default 100.',
  },
  moderation: {
    type: 'string',
    enum: ['auto', 'low'],
    api: true,
    defaultable: true,
    description: 'GPT image models on OpenAI only. Default auto.',
  },
  style: {
    type: 'string',
    enum: ['vivid', 'natural'],
    api: true,
    defaultable: true,
    description: 'dall-e-3 only. Default vivid.',
  },
  input_fidelity: {
    type: 'string',
    enum: ['low', 'high'],
    api: true,
    defaultable: true,
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
    description: 'Stream partial previews (GPT image models). Not part of the cache key.',
  },
  partial_images: {
    type: 'integer',
    minimum: 0,
    maximum: 3,
    api: true,
    defaultable: true,
    description: 'Partial previews 0-3 when streaming; each costs 100 output tokens.',
  },
  image: {
    type: 'path-or-paths',
    maxItems: 16,
    description: `Input image path(s) relative to the spec file; a *${SPEC_SUFFIX} path uses that spec's picked output.`,
  },
  mask: { type: 'string', minLength: 1, description: 'PNG with alpha (alpha 0 = area to edit), same size as the first image.' },
  seed: { type: 'string-or-number', defaultable: true, description: 'Not sent; changes the cache key.' },
  pick: { type: 'integer', minimum: 0, maximum: 9, description: 'Candidate used by the default export. Default 0.' },
  alt: { type: 'string', description: 'Alt text. Default: the prompt.' },
  emit: { type: 'object', fields: EMIT_FIELDS, defaultable: true, description: 'How the asset is emitted. Not part of the key.' },
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
