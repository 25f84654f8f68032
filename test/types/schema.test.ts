/**
 * The published JSON Schema and the validator judge specs alike. The corpus is derived from the field
 * table itself (valid and invalid values for every field and every rule of its type), so a field or rule
 * added later is covered too. Specs name a model the capability table does not know: the validator then
 * applies only the shape rules the schema can express, not per-model rules.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Ajv } from 'ajv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAiImageError } from '../../src/core/errors.js'
import { EMIT_FIELDS, SPEC_FIELDS, type FieldDef } from '../../src/core/spec/fields.js'
import { specJsonSchema } from '../../src/core/spec/json-schema.js'
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

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ai-image-schema-'))
  await writeFile(path.join(dir, 'a.png'), 'not read: paths are only checked to exist')
  await writeFile(path.join(dir, 'b.png'), '')
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
  const cases = corpus()

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
