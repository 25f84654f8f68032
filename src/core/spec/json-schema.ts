/**
 * The JSON Schema of a spec file (published as `unplugin-ai-image/schema.json`), derived from the same
 * field table as the validator, so editors complete exactly the fields the plugin accepts, with the
 * defaults it fills in, and from the same capability table, so an editor flags what the build would refuse:
 * per model (the default model when `model` is absent), `if`/`then` rules for its sizes, qualities, prompt
 * length, the parameters it takes on each endpoint and the endpoints it serves; and the rules between
 * fields (`pick` below `n`, `partial_images` with `stream`, `mask` with an edit, transparency and JPEG).
 *
 * What a schema cannot see stays with the validator: whether an input file exists or lies inside the root,
 * gpt-image-2's flexible sizes beyond their shape (multiples of 16, the longest side, the ratio), and the
 * plugin option `defaults` (a project that sets `defaults.model` gets the default model's rules in its editor).
 */
import { SPEC_FIELDS, type FieldDef } from './fields.js'
import { SPEC_SUFFIX, SPEC_SUFFIX_SOURCE } from '../spec-path.js'
import { DEFAULT_MODEL, KNOWN_MODELS, MODELS, OPTIONAL_PARAMS, acceptedParams, describeSizes, type Endpoint, type ModelCapabilities } from './models.js'

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
    allOf: [...fieldRules(), ...Object.entries(MODELS).map(([model, caps]) => modelRules(model, caps))],
  }
}

/** Whether a spec is a request to `endpoint`, by the fields that decide it (as the validator decides it). */
const ENDPOINT_OF: Readonly<Record<Endpoint, Schema>> = {
  generations: { not: { required: ['image'] } },
  edits: { required: ['image', 'prompt'] },
  variations: { required: ['image'], not: { required: ['prompt'] } },
}

/** Rules between fields that hold for every model (those the validator checks before looking at the model). */
function fieldRules(): Schema[] {
  return [
    // A prompt of blanks only is no prompt.
    { properties: { prompt: { type: 'string', pattern: '\\S' } } },
    // `mask` belongs to an edit, and is a PNG, not another spec.
    { if: { required: ['mask'] }, then: ENDPOINT_OF.edits },
    { properties: { mask: { type: 'string', not: { type: 'string', pattern: `${SPEC_SUFFIX_SOURCE}$` } } } },
    // Previews need streaming.
    { if: { required: ['partial_images'], properties: { partial_images: { type: 'integer', minimum: 1 } } }, then: { required: ['stream'], properties: { stream: { const: true } } } },
    // `pick` names one of the `n` candidates (n defaults to 1).
    { if: { not: { required: ['n'] } }, then: { properties: { pick: { type: 'integer', maximum: 0 } } } },
    ...Array.from({ length: SPEC_FIELDS.n.maximum }, (_, i) => i + 1).map((n) => ({
      if: { required: ['n'], properties: { n: { const: n } } },
      then: { properties: { pick: { type: 'integer', maximum: n - 1 } } },
    })),
  ]
}

/** The rules of one model of the capability table, applied when `model` names it (or is absent, for the default model). */
function modelRules(model: string, caps: ModelCapabilities): Schema {
  const named = { required: ['model'], properties: { model: { const: model } } }
  const rules: Schema[] = [
    { properties: { prompt: { type: 'string', maxLength: caps.promptMax }, n: { type: 'integer', maximum: caps.maxN } } },
    ...(caps.sizes.kind === 'list' ? [{ properties: { size: { enum: [...caps.sizes.values] } } }] : []),
  ]
  for (const endpoint of ['generations', 'edits', 'variations'] as const) {
    if (!caps.endpoints.includes(endpoint)) {
      rules.push({ not: ENDPOINT_OF[endpoint] })
      continue
    }
    const accepted = acceptedParams(caps, endpoint)
    const refused = OPTIONAL_PARAMS.filter((param) => !accepted.has(param))
    const then: Schema[] = [{ properties: Object.fromEntries(refused.map((param) => [param, false])) }]
    if (accepted.has('quality')) then.push({ properties: { quality: { enum: [...caps.qualities] } } })
    if (accepted.has('output_format')) {
      // Transparency needs png or webp; png (the default format) takes no other compression than the default.
      then.push({ if: { required: ['background'], properties: { background: { const: 'transparent' } } }, then: { properties: { output_format: { enum: ['png', 'webp'] } } } })
      then.push({
        if: { anyOf: [{ not: { required: ['output_format'] } }, { properties: { output_format: { const: 'png' } } }] },
        then: { properties: { output_compression: { const: SPEC_FIELDS.output_compression.default.value } } },
      })
    }
    rules.push({ if: ENDPOINT_OF[endpoint], then: { allOf: then } })
  }
  const when = model === DEFAULT_MODEL ? { anyOf: [named, { not: { required: ['model'] } }] } : named
  return { if: when, then: { allOf: rules } }
}

