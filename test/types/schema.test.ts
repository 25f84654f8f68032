/**
 * The published JSON Schema and the validator judge specs alike. One corpus, judged by both:
 *
 * - from the field table (valid and invalid values for every field and every rule of its type), with a model
 *   the capability table does not know, so only the shape rules apply: a field or rule added later is covered;
 * - from the capability table (per model, and without `model` for the default one): every size and quality
 *   of the model and those of the others, every parameter it takes or refuses on each endpoint, the endpoints
 *   it serves, its prompt length; and the rules between fields (`pick` and `n`, `partial_images` and `stream`,
 *   `mask` and edits, transparency and JPEG, compression and PNG). The README's own example
 *   (`size: "1792x1024"`, `quality: "hd"` with gpt-image-1.5) is in it.
 *
 * What a schema cannot see (files on disk, gpt-image-2's size arithmetic) is left out: the validator alone judges it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Ajv } from 'ajv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAiImageError } from '../../src/core/errors.js'
import { EMIT_FIELDS, SPEC_FIELDS, type FieldDef } from '../../src/core/spec/fields.js'
import { specJsonSchema } from '../../src/core/spec/json-schema.js'
import { DEFAULT_MODEL, MODELS, OPTIONAL_PARAMS, acceptedParams, type Endpoint } from '../../src/core/spec/models.js'
import { validateSpec } from '../../src/core/spec/validate.js'

/** Passed through with generic checks only. */
const MODEL = 'compatible-image-model'
/** Fields whose valid values only make sense with a companion field. */
const COMPANIONS: Record<string, Record<string, unknown>> = {
  mask: { image: 'a.png' },
  partial_images: { stream: true },
  pick: { n: 10 },
}
/** Valid values the type alone cannot suggest: a path must name a file (existence is no shape rule). */
const VALID_OVERRIDES: Record<string, unknown[]> = { mask: ['b.png'] }

interface Case {
  field: string
  fields: Record<string, unknown>
  valid: boolean
}

function validValues(def: FieldDef): unknown[] {
  switch (def.type) {
    case 'string':
      if (def.enum) return [...def.enum]
      if (def.pattern) return ['auto', '1024x1536']
      return ['ok']
    case 'integer':
      return [def.minimum ?? 1, def.maximum ?? 7]
    case 'boolean':
      return [true, false]
    case 'string-or-number':
      return ['again', 7, 0.5]
    case 'path-or-paths':
      return ['a.png', ['a.png', 'b.png']]
    case 'integer-list':
      return [[def.minimum], [def.minimum, def.maximum]]
    case 'object':
      return [{}, ...Object.entries(def.fields).flatMap(([name, nested]) => validValues(nested).map((v) => ({ [name]: v })))]
  }
}

function invalidValues(def: FieldDef): unknown[] {
  const always = [null]
  switch (def.type) {
    case 'string':
      return [
        ...always,
        42,
        ['x'],
        ...(def.enum ? ['not-a-choice'] : []),
        ...(def.minLength ? [''] : []),
        ...(def.pattern ? ['1024 x 1024', 'big'] : []),
      ]
    case 'integer':
      return [
        ...always,
        1.5,
        '3',
        ...(def.minimum === undefined ? [] : [def.minimum - 1]),
        ...(def.maximum === undefined ? [] : [def.maximum + 1]),
      ]
    case 'boolean':
      return [...always, 'yes', 1]
    case 'string-or-number':
      return [...always, '', true, {}]
    case 'path-or-paths':
      return [...always, '', [], [''], [42], 42, Array.from({ length: def.maxItems + 1 }, () => 'a.png')]
    case 'integer-list':
      return [...always, [], 'x', [1.5], [def.minimum - 1], [def.maximum + 1], Array.from({ length: def.maxItems + 1 }, () => def.minimum)]
    case 'object':
      return [
        ...always,
        'x',
        [],
        { notAField: 1 },
        ...Object.entries(def.fields).flatMap(([name, nested]) => invalidValues(nested).map((v) => ({ [name]: v }))),
      ]
  }
}

function corpus(): Case[] {
  const cases: Case[] = []
  for (const [field, def] of Object.entries(SPEC_FIELDS)) {
    const base = { prompt: 'a lighthouse', model: MODEL, ...COMPANIONS[field] }
    for (const value of VALID_OVERRIDES[field] ?? validValues(def)) cases.push({ field, fields: { ...base, [field]: value }, valid: true })
    for (const value of invalidValues(def)) cases.push({ field, fields: { ...base, [field]: value }, valid: false })
  }
  cases.push(
    { field: 'prompt', fields: { model: MODEL }, valid: false },
    { field: 'image', fields: { model: MODEL, image: 'a.png' }, valid: true },
    { field: 'promt', fields: { promt: 'typo', model: MODEL }, valid: false },
    { field: 'emit.fromat', fields: { prompt: 'x', model: MODEL, emit: { fromat: 'webp' } }, valid: false },
  )
  return cases
}

/** A valid value of each optional parameter, and the companions it needs. */
const PARAM_VALUES: Record<string, Record<string, unknown>> = {
  quality: {},
  background: { background: 'opaque' },
  output_format: { output_format: 'webp' },
  output_compression: { output_format: 'jpeg', output_compression: 80 },
  moderation: { moderation: 'low' },
  style: { style: 'natural' },
  input_fidelity: { input_fidelity: 'high' },
  stream: { stream: true },
  partial_images: { stream: true, partial_images: 2 },
}
const ENDPOINT_FIELDS: Record<Endpoint, Record<string, unknown>> = {
  generations: { prompt: 'a lighthouse' },
  edits: { prompt: 'a lighthouse', image: 'a.png' },
  variations: { image: 'a.png' },
}
const ALL_SIZES = [...new Set(Object.values(MODELS).flatMap((caps) => (caps.sizes.kind === 'list' ? caps.sizes.values : [])))]
const ALL_QUALITIES = [...new Set(Object.values(MODELS).flatMap((caps) => caps.qualities))]

/** Per model of the capability table (`model` absent: the default model), judged by both. */
function modelCorpus(): Case[] {
  const cases: Case[] = []
  const add = (field: string, fields: Record<string, unknown>, valid: boolean) => cases.push({ field, fields, valid })
  for (const [model, caps] of Object.entries(MODELS)) {
    const named = model === DEFAULT_MODEL ? [{ model }, {}] : [{ model }]
    for (const which of named) {
      const base: Record<string, unknown> = { ...ENDPOINT_FIELDS[caps.endpoints[0]!], ...which }
      for (const endpoint of ['generations', 'edits', 'variations'] as const) {
        const fields = { ...ENDPOINT_FIELDS[endpoint], ...which }
        if (!caps.endpoints.includes(endpoint)) {
          add(endpoint === 'generations' ? 'model' : 'image', fields, false)
          continue
        }
        add('model', fields, true)
        const accepted = acceptedParams(caps, endpoint)
        for (const param of OPTIONAL_PARAMS) {
          const value = param === 'quality' ? { quality: caps.qualities[0] } : PARAM_VALUES[param]!
          // A refusal names the first refused field the validator meets (a companion such as `stream` comes first).
          const named = accepted.has(param) ? param : OPTIONAL_PARAMS.find((p) => p in value && !accepted.has(p))!
          add(named, { ...fields, ...value }, accepted.has(param))
        }
        if (accepted.has('output_format')) {
          add('background', { ...fields, background: 'transparent', output_format: 'jpeg' }, false)
          add('background', { ...fields, background: 'transparent', output_format: 'webp' }, true)
          add('output_compression', { ...fields, output_compression: 50 }, false)
          add('output_compression', { ...fields, output_format: 'png', output_compression: 100 }, true)
        }
      }
      if (caps.sizes.kind === 'list') {
        for (const size of ALL_SIZES) add('size', { ...base, size }, caps.sizes.values.includes(size))
      } else {
        for (const size of ['auto', '1024x1024', '3840x2160', '1792x1024']) add('size', { ...base, size }, true)
      }
      if (acceptedParams(caps, caps.endpoints[0]!).has('quality')) {
        for (const quality of ALL_QUALITIES) add('quality', { ...base, quality }, caps.qualities.includes(quality))
      }
      if (base.prompt !== undefined) {
        add('prompt', { ...base, prompt: 'x'.repeat(caps.promptMax) }, true)
        add('prompt', { ...base, prompt: 'x'.repeat(caps.promptMax + 1) }, false)
      }
    }
  }
  return cases
}

/** Rules between fields, for a known model and for one the table does not know. */
function fieldRuleCorpus(): Case[] {
  const cases: Case[] = []
  for (const model of [DEFAULT_MODEL, MODEL]) {
    const base = { prompt: 'a lighthouse', model }
    cases.push(
      { field: 'prompt', fields: { ...base, prompt: '   ' }, valid: false },
      { field: 'pick', fields: { ...base, n: 2, pick: 1 }, valid: true },
      { field: 'pick', fields: { ...base, n: 2, pick: 2 }, valid: false },
      { field: 'pick', fields: { ...base, pick: 1 }, valid: false },
      { field: 'pick', fields: { ...base, n: 1, pick: 1 }, valid: false },
      { field: 'partial_images', fields: { ...base, partial_images: 2 }, valid: false },
      { field: 'partial_images', fields: { ...base, partial_images: 0 }, valid: true },
      { field: 'mask', fields: { ...base, mask: 'b.png' }, valid: false },
      { field: 'mask', fields: { ...base, image: 'a.png', mask: 'b.png' }, valid: true },
      { field: 'mask', fields: { ...base, image: 'a.png', mask: 'm.imgprompt.json' }, valid: false },
    )
  }
  // The README's example of an error, and its editor's view: the default model is gpt-image-1.5.
  cases.push(
    { field: 'size', fields: { prompt: 'a lighthouse', size: '1792x1024' }, valid: false },
    { field: 'quality', fields: { prompt: 'a lighthouse', quality: 'hd' }, valid: false },
    { field: 'size', fields: { prompt: 'a lighthouse', model: 'gpt-image-1.5', size: '1792x1024' }, valid: false },
    { field: 'quality', fields: { prompt: 'a lighthouse', model: 'gpt-image-1.5', quality: 'hd' }, valid: false },
    { field: 'size', fields: { prompt: 'a lighthouse', model: 'dall-e-3', size: '1792x1024', quality: 'hd' }, valid: true },
  )
  return cases
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ai-image-schema-'))
  await writeFile(path.join(dir, 'a.png'), 'not read: paths are only checked to exist')
  await writeFile(path.join(dir, 'b.png'), '')
  await writeFile(path.join(dir, 'm.imgprompt.json'), '{}')
})
afterAll(() => rm(dir, { recursive: true, force: true }))

/** The validator's verdict: undefined when valid, else the field it names. */
function validatorVerdict(fields: Record<string, unknown>): string | undefined {
  const file = path.join(dir, 'case.imgprompt.json')
  try {
    validateSpec({ source: { kind: 'file', file }, label: 'case.imgprompt.json', dir, fields }, { root: dir, defaults: {}, warn: () => {} })
    return undefined
  } catch (error) {
    if (!isAiImageError(error) || error.code !== 'SPEC_INVALID') throw error
    return error.field ?? ''
  }
}

describe('schema.json and the validator', () => {
  const ajv = new Ajv({ allErrors: true })
  const validate = ajv.compile(specJsonSchema())
  const cases = [...corpus(), ...modelCorpus(), ...fieldRuleCorpus()]

  it('cover every field of the table', () => {
    const properties = Object.keys((specJsonSchema() as { properties: object }).properties)
    expect(properties).toEqual(Object.keys(SPEC_FIELDS))
    const emit = (specJsonSchema() as { properties: { emit: { properties: object } } }).properties.emit.properties
    expect(Object.keys(emit)).toEqual(Object.keys(EMIT_FIELDS))
    expect(cases.length).toBeGreaterThan(150)
  })

  it.each(cases.map((c) => [c.valid ? 'accept' : 'reject', c.field, JSON.stringify(c.fields), c] as const))(
    'both %s %s in %s',
    (_verdict, field, _json, c) => {
      const schemaValid = validate(c.fields)
      const rejectedField = validatorVerdict(c.fields)
      expect({ schema: schemaValid, validator: rejectedField === undefined }, JSON.stringify(validate.errors)).toEqual({ schema: c.valid, validator: c.valid })
      // A rejection names the field the case is about (`image[0]`, `emit.widths`, …).
      if (!c.valid) expect(rejectedField!.split(/[.[]/)[0]).toBe(field.split('.')[0])
    },
  )
})
