/**
 * Raw spec → validated, normalized spec. Every rule reads the field table (`fields.ts`: types, defaults,
 * which fields are keyed) and the capability table (`models.ts`: what each model takes, its defaults); every
 * failure names the file, the field, the bad value and what is allowed. Normalization fills in every
 * default, so an explicit default and an omitted one produce the same request (and so the same cache key).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { specInvalid, showValue } from '../errors.js'
import { isInside } from '../read-inside-root.js'
import { isSpecPath } from '../spec-path.js'
import type { EmitFormat, PlaceholderKind, SpecDefaults } from '../../types.js'
import { EMIT_FIELDS, KEYED_REQUEST_FIELDS, SPEC_FIELDS, checkFieldType, closestField, defaultValue, emitField, specField, type FieldDef } from './fields.js'
import {
  GENERIC_LIMITS,
  MODELS,
  OPTIONAL_PARAMS,
  acceptedParams,
  describeSizes,
  modelCapabilities,
  sizeAllowed,
  type Endpoint,
  type ModelCapabilities,
  type OptionalParam,
} from './models.js'
import type { RawSpec, SpecSource } from './source.js'

/** The API request fields of a spec, defaults filled in. Exactly what goes into the cache key. */
export type KeyedRequest = Record<string, string | number>

export interface NormalizedEmit {
  format?: EmitFormat
  quality?: number
  widths: number[]
  placeholder: PlaceholderKind
  background: string
}

export interface ValidatedSpec {
  source: SpecSource
  label: string
  model: string
  /** False for a model the capability table does not know (passed through with generic checks). */
  knownModel: boolean
  endpoint: Endpoint
  request: KeyedRequest
  /** Sent but not keyed. */
  transport: { user?: string; stream: boolean; partialImages: number }
  /** Absolute paths of the input images (edits, variations); `*.imgprompt.json` paths are chains. */
  inputs: string[]
  mask?: string
  seed: string | null
  pick: number
  alt: string
  emit: NormalizedEmit
  /** Format the API answers with (`png` for DALL-E), for the extension and the magic-byte check. */
  responseFormat: 'png' | 'jpeg' | 'webp'
  /** How many images one request may return for this model. */
  perCallN: number
}

export interface ValidateContext {
  root: string
  defaults: SpecDefaults
  /** Called once per spec with an unknown model. */
  warn(message: string): void
}

/** Fields a spec file might plausibly hold that we reject with a specific explanation. */
const EXPLAINED_FIELDS: Readonly<Record<string, string>> = {
  response_format: 'The plugin always asks for b64_json (URLs expire); remove the field',
  images: 'The field is `image` (a path or an array of paths)',
}

export function validateSpec(raw: RawSpec, context: ValidateContext): ValidatedSpec {
  const { label } = raw
  checkKnownFields(label, raw.fields, SPEC_FIELDS, '')
  if (isObject(raw.fields.emit)) checkKnownFields(label, raw.fields.emit, EMIT_FIELDS, 'emit.')

  const fromDefaults = new Set(Object.keys(context.defaults).filter((k) => !(k in raw.fields)))
  const fields: Record<string, unknown> = { ...context.defaults, ...raw.fields }
  if (isObject(context.defaults.emit) || isObject(raw.fields.emit)) {
    fields.emit = { ...(context.defaults.emit ?? {}), ...(isObject(raw.fields.emit) ? raw.fields.emit : {}) }
  }
  const fail = (field: string, problem: string, fix?: string) => {
    const origin = fromDefaults.has(field.split('.')[0]!) ? ' (from the plugin option `defaults`)' : ''
    return specInvalid(label, field, `${problem}${origin}`, fix)
  }

  for (const [name, value] of Object.entries(fields)) {
    const problem = checkFieldType(specField(name)!, value)
    if (problem) throw fail(name, `${showValue(value)} ${problem}`)
  }
  const emitFields = (fields.emit ?? {}) as Record<string, unknown>
  for (const [name, value] of Object.entries(emitFields)) {
    const problem = checkFieldType(emitField(name)!, value)
    if (problem) throw fail(`emit.${name}`, `${showValue(value)} ${problem}`)
  }

  const model = (fields.model as string | undefined) ?? defaultValue(SPEC_FIELDS.model)
  const caps = modelCapabilities(model)
  if (!caps) {
    context.warn(
      `${label}: model "${model}" is not in the capability table; it is passed through with generic checks only`,
    )
  }

  const prompt = typeof fields.prompt === 'string' ? fields.prompt.replace(/\r\n?/g, '\n') : undefined
  const imagePaths = fields.image === undefined ? [] : ([] as string[]).concat(fields.image as string | string[])
  const endpoint: Endpoint = imagePaths.length === 0 ? 'generations' : prompt === undefined ? 'variations' : 'edits'

  if (prompt === undefined && endpoint === 'generations') {
    throw fail('prompt', 'is missing', 'Add "prompt": "…" (or "image" without a prompt for a dall-e-2 variation)')
  }
  if (prompt !== undefined && prompt.trim() === '') throw fail('prompt', 'must not be blank')
  if (fields.mask !== undefined && endpoint !== 'edits') {
    throw fail('mask', 'is only used by edits', 'Add "image" and "prompt", or remove "mask"')
  }

  const n = (fields.n as number | undefined) ?? defaultValue(SPEC_FIELDS.n)
  const pick = (fields.pick as number | undefined) ?? defaultValue(SPEC_FIELDS.pick)
  if (pick >= n) throw fail('pick', `${pick} is out of range for n = ${n}`, `Use 0 to ${n - 1}`)

  const request: KeyedRequest = { model, n }
  if (prompt !== undefined) request.prompt = prompt

  if (caps) {
    normalizeForModel(caps, model, endpoint, fields, prompt, request, fail)
  } else {
    if (prompt !== undefined && prompt.length > GENERIC_LIMITS.promptMax) {
      throw fail('prompt', `is ${prompt.length} characters long`, `Keep it at most ${GENERIC_LIMITS.promptMax}`)
    }
    for (const name of KEYED_REQUEST_FIELDS) {
      if (!(name in request) && fields[name] !== undefined) request[name] = fields[name] as string | number
    }
  }

  const stream = (fields.stream as boolean | undefined) ?? defaultValue(SPEC_FIELDS.stream)
  const partialImages = (fields.partial_images as number | undefined) ?? defaultValue(SPEC_FIELDS.partial_images)
  if (partialImages > 0 && !stream) {
    throw fail('partial_images', `${partialImages} needs streaming`, 'Add "stream": true, or remove "partial_images"')
  }

  const inputs = imagePaths.map((p, i) => resolveInput(raw, context.root, p, imagePaths.length > 1 ? `image[${i}]` : 'image', fail))
  const mask = fields.mask === undefined ? undefined : resolveInput(raw, context.root, fields.mask as string, 'mask', fail)
  if (mask && isSpecPath(mask)) {
    throw fail('mask', `${showValue(fields.mask)} is a spec file`, 'A mask must be a PNG file with an alpha channel')
  }

  const emit = normalizeEmit(emitFields)
  const responseFormat = (request.output_format as 'png' | 'jpeg' | 'webp' | undefined) ?? defaultValue(SPEC_FIELDS.output_format)
  const user = fields.user as string | undefined

  return {
    source: raw.source,
    label,
    model,
    knownModel: caps !== undefined,
    endpoint,
    request,
    transport: { ...(user === undefined ? {} : { user }), stream, partialImages },
    inputs,
    ...(mask === undefined ? {} : { mask }),
    seed: fields.seed === undefined ? null : String(fields.seed),
    pick,
    alt: (fields.alt as string | undefined) ?? prompt ?? '',
    emit,
    responseFormat,
    perCallN: caps?.perCallN ?? GENERIC_LIMITS.maxN,
  }
}

type Fail = (field: string, problem: string, fix?: string) => Error

/** Apply the capability table: reject what the model does not take, fill in what it defaults. */
function normalizeForModel(
  caps: ModelCapabilities,
  model: string,
  endpoint: Endpoint,
  fields: Record<string, unknown>,
  prompt: string | undefined,
  request: KeyedRequest,
  fail: Fail,
): void {
  if (!caps.endpoints.includes(endpoint)) {
    const able = Object.keys(MODELS).filter((m) => MODELS[m]!.endpoints.includes(endpoint))
    const problem = {
      generations: `"${model}" cannot generate images`,
      edits: `makes this an edit, which ${model} cannot do`,
      variations: `without a "prompt" makes this a variation, which ${model} cannot do`,
    }[endpoint]
    throw fail(endpoint === 'generations' ? 'model' : 'image', problem, `Use a model that can: ${able.join(', ')}`)
  }
  if (prompt !== undefined && prompt.length > caps.promptMax) {
    throw fail('prompt', `is ${prompt.length} characters long; ${model} takes at most ${caps.promptMax}`, 'Shorten it')
  }
  const n = request.n as number
  if (n > caps.maxN) throw fail('n', `${n} is more than ${model} allows`, `Use 1 to ${caps.maxN}`)

  const accepted = acceptedParams(caps, endpoint)
  for (const param of OPTIONAL_PARAMS) {
    if (fields[param] !== undefined && !accepted.has(param)) {
      throw fail(param, `is not accepted by ${model} on /images/${endpoint}`, `Remove "${param}"`)
    }
  }

  const size = (fields.size as string | undefined) ?? caps.defaults.size
  if (!sizeAllowed(caps.sizes, size)) {
    throw fail('size', `${showValue(size)} is not allowed for ${model}`, `Allowed: ${describeSizes(caps.sizes)}`)
  }
  request.size = size

  if (accepted.has('quality')) {
    const quality = (fields.quality as string | undefined) ?? caps.defaults.quality!
    if (!caps.qualities.includes(quality)) {
      throw fail('quality', `${showValue(quality)} is not allowed for ${model}`, `Allowed: ${caps.qualities.join(', ')}`)
    }
    request.quality = quality
  }
  if (accepted.has('style')) request.style = (fields.style as string | undefined) ?? caps.defaults.style ?? SPEC_FIELDS.style.default.fallback
  if (accepted.has('moderation')) request.moderation = (fields.moderation as string | undefined) ?? defaultValue(SPEC_FIELDS.moderation)
  if (accepted.has('input_fidelity')) request.input_fidelity = (fields.input_fidelity as string | undefined) ?? defaultValue(SPEC_FIELDS.input_fidelity)

  if (accepted.has('output_format')) {
    const format = (fields.output_format as string | undefined) ?? defaultValue(SPEC_FIELDS.output_format)
    const background = (fields.background as string | undefined) ?? defaultValue(SPEC_FIELDS.background)
    if (background === 'transparent' && format === 'jpeg') {
      throw fail('background', '"transparent" needs output_format png or webp', 'Set "output_format": "png" or "webp"')
    }
    request.output_format = format
    request.background = background
    const compression = fields.output_compression as number | undefined
    const defaultCompression = defaultValue(SPEC_FIELDS.output_compression)
    if (format === 'png') {
      // The default is all png takes; any other value would silently do nothing on png.
      if (compression !== undefined && compression !== defaultCompression) {
        throw fail('output_compression', `${compression} has no effect on png`, 'Use output_format jpeg or webp, or remove it')
      }
    } else {
      request.output_compression = compression ?? defaultCompression
    }
  }
}

function resolveInput(raw: RawSpec, root: string, value: string, field: string, fail: Fail): string {
  const absolute = path.resolve(raw.dir, value)
  const relative = path.relative(root, absolute)
  // Lexical, for an early message; the real path (symlinks resolved) is checked when the file is read.
  if (!isInside(root, absolute)) {
    throw fail(field, `${showValue(value)} is outside the project root`, 'Move the file into the project, or set the plugin option `root`')
  }
  if (!existsSync(absolute)) {
    throw fail(field, `${showValue(value)} does not exist (looked for ${relative.split(path.sep).join('/')})`, 'Paths are relative to the spec file')
  }
  return absolute
}

function normalizeEmit(fields: Record<string, unknown>): NormalizedEmit {
  const widths = [...new Set((fields.widths as number[] | undefined) ?? defaultValue(EMIT_FIELDS.widths))].sort((a, b) => a - b)
  return {
    ...(fields.format === undefined ? {} : { format: fields.format as EmitFormat }),
    ...(fields.quality === undefined ? {} : { quality: fields.quality as number }),
    widths,
    placeholder: (fields.placeholder as PlaceholderKind | undefined) ?? defaultValue(EMIT_FIELDS.placeholder),
    background: (fields.background as string | undefined) ?? defaultValue(EMIT_FIELDS.background),
  }
}

function checkKnownFields(label: string, fields: Record<string, unknown>, known: Readonly<Record<string, FieldDef>>, prefix: string) {
  for (const name of Object.keys(fields)) {
    if (Object.prototype.hasOwnProperty.call(known, name)) continue
    const explained = prefix === '' ? EXPLAINED_FIELDS[name] : undefined
    const guess = closestField(name, Object.keys(known))
    throw specInvalid(
      label,
      prefix + name,
      'is not a known field',
      explained ?? (guess ? `Did you mean "${prefix}${guess}"?` : `Known fields: ${Object.keys(known).join(', ')}`),
    )
  }
}

/** Check the plugin option `defaults` once, with messages that point at the option. */
export function validateDefaults(defaults: unknown): SpecDefaults {
  const label = 'plugin option `defaults`'
  if (defaults === undefined) return {}
  if (!isObject(defaults)) throw specInvalid(label, '', 'must be an object of spec fields')
  for (const [name, value] of Object.entries(defaults)) {
    const def = specField(name)
    if (!def?.defaultable) {
      const guess = closestField(name, Object.keys(SPEC_FIELDS).filter((k) => specField(k)!.defaultable))
      throw specInvalid(label, name, 'cannot be set for every spec', guess ? `Did you mean "${guess}"?` : undefined)
    }
    const problem = checkFieldType(def, value)
    if (problem) throw specInvalid(label, name, `${showValue(value)} ${problem}`)
    if (name === 'emit') checkKnownFields(label, value as Record<string, unknown>, EMIT_FIELDS, 'emit.')
  }
  return defaults as SpecDefaults
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
