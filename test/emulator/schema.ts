/**
 * Validates what the plugin sends against the official OpenAI Images schemas
 * (`../shared/reference/openai-images.schema.json`, copied to test/emulator/openai-images.schema.json).
 * The file mixes OpenAPI 3.0's `nullable` into JSON Schema 2020-12; it is rewritten in memory as the
 * reference README prescribes, never compiled leniently.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'

type Json = Record<string, unknown>

/** `nullable: true` → `type: [T, "null"]` (and `null` in `enum`), or an extra `{type: "null"}` branch. */
export function rewriteNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteNullable)
  if (node === null || typeof node !== 'object') return node
  const out: Json = {}
  for (const [k, v] of Object.entries(node as Json)) out[k] = rewriteNullable(v)
  if (out.nullable === true) {
    delete out.nullable
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null']
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null]
    } else if (Array.isArray(out.anyOf)) {
      out.anyOf = [...out.anyOf, { type: 'null' }]
    } else if (Array.isArray(out.oneOf)) {
      out.oneOf = [...out.oneOf, { type: 'null' }]
    }
  } else if (out.nullable === false) {
    delete out.nullable
  }
  return out
}

const schemaFile = fileURLToPath(new URL('./openai-images.schema.json', import.meta.url))

function compileAll(): Record<string, ValidateFunction> {
  const raw = JSON.parse(readFileSync(schemaFile, 'utf8')) as Json
  const schema = rewriteNullable(raw) as Json
  // strictRequired (part of `strict`) flags `ImageRefParam`'s `not: { required: [image_url, file_id] }` ("exactly
  // one of"), whose properties are declared beside it: valid JSON Schema that ajv's lint cannot follow. Every
  // other strict check stays on.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true })
  ajv.addFormat('binary', true)
  ajv.addFormat('unixtime', true)
  ajv.addFormat('uri', true)
  ajv.addKeyword('example')
  ajv.addKeyword('discriminator')
  // Annotation keywords of OpenAI's spec (`x-oaiTypeLabel`, `x-stainless-const`, …) and of the file.
  for (const keyword of collectXKeywords(schema)) ajv.addKeyword(keyword)
  ajv.addSchema({ ...schema, $id: 'openai-images' })
  const get = (name: string) => ajv.getSchema(`openai-images#/$defs/${name}`)!
  return {
    generations: get('CreateImageRequest'),
    edits: get('CreateImageEditRequest'),
    // The JSON body of /images/edits (image references instead of uploads): what Batch API edit lines carry.
    editsJson: get('EditImageBodyJsonParam'),
    variations: get('CreateImageVariationRequest'),
    response: get('ImagesResponse'),
    error: get('ErrorResponse'),
  }
}

function collectXKeywords(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => collectXKeywords(n, found))
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Json)) {
      if (k.startsWith('x-')) found.add(k)
      collectXKeywords(v, found)
    }
  }
  return found
}

let compiled: Record<string, ValidateFunction> | undefined

export type SchemaName = 'generations' | 'edits' | 'editsJson' | 'variations' | 'response' | 'error'

/** Validation errors as text, or undefined when the value is valid. */
export function schemaErrors(name: SchemaName, value: unknown): string | undefined {
  compiled ??= compileAll()
  const validate = compiled[name]!
  if (validate(value)) return undefined
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message}`).join('; ')
}
