/**
 * The JSON Schema of a spec file (published as `unplugin-ai-image/schema.json`), derived from the same
 * field table as the validator, so editors complete exactly the fields the plugin accepts, with the
 * defaults it fills in.
 */
import { SPEC_FIELDS, type FieldDef } from './fields.js'
import { SPEC_SUFFIX } from '../spec-path.js'
import { KNOWN_MODELS, MODELS, describeSizes } from './models.js'

type Schema = Record<string, unknown>

function fieldSchema(name: string, def: FieldDef): Schema {
  const base: Schema = { description: def.description, ...(def.default?.kind === 'value' ? { default: def.default.value } : {}) }
  switch (def.type) {
    case 'string':
      if (name === 'model') {
        return { ...base, anyOf: [{ enum: KNOWN_MODELS }, { type: 'string', minLength: 1 }] }
      }
      if (name === 'size') {
        const sizes = Object.entries(MODELS).map(([model, caps]) => `${model}: ${describeSizes(caps.sizes)}`)
        return { ...base, type: 'string', pattern: def.pattern!.source, description: `${def.description}\n${sizes.join('\n')}` }
      }
      return {
        ...base,
        type: 'string',
        ...(def.enum ? { enum: def.enum } : {}),
        ...(def.minLength ? { minLength: def.minLength } : {}),
        ...(def.pattern ? { pattern: def.pattern.source } : {}),
      }
    case 'integer':
      return {
        ...base,
        type: 'integer',
        ...(def.minimum === undefined ? {} : { minimum: def.minimum }),
        ...(def.maximum === undefined ? {} : { maximum: def.maximum }),
      }
    case 'boolean':
      return { ...base, type: 'boolean' }
    case 'string-or-number':
      return { ...base, anyOf: [{ type: 'string', minLength: 1 }, { type: 'number' }] }
    case 'path-or-paths':
      return {
        ...base,
        anyOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: def.maxItems },
        ],
      }
    case 'integer-list':
      return {
        ...base,
        type: 'array',
        minItems: 1,
        maxItems: def.maxItems,
        items: { type: 'integer', minimum: def.minimum, maximum: def.maximum },
      }
    case 'object':
      return {
        ...base,
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(Object.entries(def.fields).map(([k, v]) => [k, fieldSchema(k, v)])),
      }
  }
}

export function specJsonSchema(): Schema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://unpkg.com/unplugin-ai-image/dist/schema.json',
    title: `unplugin-ai-image spec (*${SPEC_SUFFIX})`,
    description: 'An image prompt that the build turns into an optimized, content-hashed image.',
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(SPEC_FIELDS).map(([name, def]) => [name, fieldSchema(name, def)])),
    anyOf: [{ required: ['prompt'] }, { required: ['image'] }],
  }
}
