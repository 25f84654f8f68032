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

/** Request fields of the plugin's choosing, never the user's: sent whenever the wire needs them. */
const ALWAYS_SET = ['model', 'prompt'] as const

export interface NormalizedEmit {
  format?: EmitFormat
  quality?: number
  widths: number[]
  placeholder: PlaceholderKind
  background: string
  /** Provenance marks of re-encoded files (`emit.metadata`); undefined = 'keep'. */
  metadata?: 'keep' | 'strip'
}

export interface ValidatedSpec {
  source: SpecSource
  label: string
  model: string
  /** False for a model the capability table does not know (passed through with generic checks). */
  knownModel: boolean
  endpoint: Endpoint
  request: KeyedRequest
  /**
   * The fields of `request` the user set (in the spec, or through `defaults` where the model takes them),
   * plus `model` and `prompt`: what goes on the wire. The rest of `request` are defaults filled in for the key
   * (an explicit default and an omitted one hash the same), which the API applies by itself.
   */
  userSet: readonly string[]
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

  // A default that the spec's model does not take (a size it does not offer, a parameter it does not know)
  // does not apply to that spec; the spec's own fields are checked strictly.
  const rules: FieldRules = {
    fail,
    given: (name) => fields[name] !== undefined,
    value: (name) => fields[name],
    fromDefaults: (name) => fromDefaults.has(name),
    drop: (name) => void delete fields[name],
  }
  if (caps) {
    normalizeForModel(caps, model, endpoint, prompt, request, rules)
  } else {
    if (prompt !== undefined && prompt.length > GENERIC_LIMITS.promptMax) {
      throw fail('prompt', `is ${prompt.length} characters long`, `Keep it at most ${GENERIC_LIMITS.promptMax}`)
    }
    for (const name of KEYED_REQUEST_FIELDS) {
      if (!(name in request) && fields[name] !== undefined) request[name] = fields[name] as string | number
    }
  }

  // Read after the model's rules: a default the model does not take is gone by now.
  const stream = (fields.stream as boolean | undefined) ?? defaultValue(SPEC_FIELDS.stream)
  let partialImages = (fields.partial_images as number | undefined) ?? defaultValue(SPEC_FIELDS.partial_images)
  if (partialImages > 0 && !stream) {
    if (!fromDefaults.has('partial_images')) {
      throw fail('partial_images', `${partialImages} needs streaming`, 'Add "stream": true, or remove "partial_images"')
    }
    partialImages = defaultValue(SPEC_FIELDS.partial_images)
  }

  const userSet = [...ALWAYS_SET, ...KEYED_REQUEST_FIELDS.filter((name) => fields[name] !== undefined && name in request)]
  if (n !== defaultValue(SPEC_FIELDS.n) || fields.n !== undefined) userSet.push('n')

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
    userSet: [...new Set(userSet)].filter((name) => name in request),
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

/** How the model rules see the spec's fields: set in the spec, or by `defaults` (which may be dropped). */
interface FieldRules {
  fail: Fail
  given(name: string): boolean
  value(name: string): unknown
  fromDefaults(name: string): boolean
  /** Forget a field that came from `defaults`: the model's own default applies. */
  drop(name: string): void
}

/**
 * A field the model refuses: a default of the project is dropped (it applies only where the model takes it);
 * the spec's own field fails. Returns whether the field was dropped.
 */
function refuse(rules: FieldRules, field: string, problem: string, fix?: string): true {
  if (!rules.fromDefaults(field)) throw rules.fail(field, problem, fix)
  rules.drop(field)
  return true
}

/** The field's value asks for nothing (`stream: false`): accepted whatever the model. */
function isNeutral(name: string, value: unknown): boolean {
  const def: FieldDef | undefined = specField(name)
  return def?.neutral !== undefined && value === def.neutral
}

/** Apply the capability table: reject what the model does not take, fill in what it defaults. */
function normalizeForModel(
  caps: ModelCapabilities,
  model: string,
  endpoint: Endpoint,
  prompt: string | undefined,
  request: KeyedRequest,
  rules: FieldRules,
): void {
  const { fail } = rules
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
    if (!rules.given(param) || accepted.has(param)) continue
    if (isNeutral(param, rules.value(param))) rules.drop(param)
    else refuse(rules, param, `is not accepted by ${model} on /images/${endpoint}`, `Remove "${param}"`)
  }

  const allowedSize = (size: string) => sizeAllowed(caps.sizes, size)
  if (rules.given('size') && !allowedSize(rules.value('size') as string)) {
    refuse(rules, 'size', `${showValue(rules.value('size'))} is not allowed for ${model}`, `Allowed: ${describeSizes(caps.sizes)}`)
  }
  request.size = (rules.value('size') as string | undefined) ?? caps.defaults.size

  if (accepted.has('quality')) {
    if (rules.given('quality') && !caps.qualities.includes(rules.value('quality') as string)) {
      refuse(rules, 'quality', `${showValue(rules.value('quality'))} is not allowed for ${model}`, `Allowed: ${caps.qualities.join(', ')}`)
    }
    request.quality = (rules.value('quality') as string | undefined) ?? caps.defaults.quality!
  }
  if (accepted.has('style')) request.style = (rules.value('style') as string | undefined) ?? caps.defaults.style ?? SPEC_FIELDS.style.default.fallback
  if (accepted.has('moderation')) request.moderation = (rules.value('moderation') as string | undefined) ?? defaultValue(SPEC_FIELDS.moderation)
  if (accepted.has('input_fidelity')) request.input_fidelity = (rules.value('input_fidelity') as string | undefined) ?? defaultValue(SPEC_FIELDS.input_fidelity)

  if (accepted.has('output_format')) {
    const formatOf = () => (rules.value('output_format') as string | undefined) ?? defaultValue(SPEC_FIELDS.output_format)
    const backgroundOf = () => (rules.value('background') as string | undefined) ?? defaultValue(SPEC_FIELDS.background)
    if (backgroundOf() === 'transparent' && formatOf() === 'jpeg') {
      // Whichever of the two came from `defaults` gives way to the spec's own field.
      const dropped = rules.fromDefaults('background') ? 'background' : rules.fromDefaults('output_format') ? 'output_format' : undefined
      if (dropped) rules.drop(dropped)
      else throw fail('background', '"transparent" needs output_format png or webp', 'Set "output_format": "png" or "webp"')
    }
    const format = formatOf()
    request.output_format = format
    request.background = backgroundOf()
    const defaultCompression = defaultValue(SPEC_FIELDS.output_compression)
    // The default is all png takes; any other value would silently do nothing on png.
    if (format === 'png' && rules.given('output_compression') && rules.value('output_compression') !== defaultCompression) {
      refuse(rules, 'output_compression', `${String(rules.value('output_compression'))} has no effect on png`, 'Use output_format jpeg or webp, or remove it')
    }
    if (format !== 'png') request.output_compression = (rules.value('output_compression') as number | undefined) ?? defaultCompression
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
    metadata: (fields.metadata as 'keep' | 'strip' | undefined) ?? defaultValue(EMIT_FIELDS.metadata),
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
