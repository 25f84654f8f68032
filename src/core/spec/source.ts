/**
 * The three places a spec comes from, turned into one shape: a plain object of fields, a label for
 * messages (the file relative to the root, or the virtual id) and the folder relative paths start from.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { AiImageError, specInvalid } from '../errors.js'
import { EMIT_FIELDS, SPEC_FIELDS, type FieldDef } from './fields.js'
import type { ImageSpec } from '../../types.js'

export type SpecSource =
  | { kind: 'file'; file: string }
  | { kind: 'query'; query: string; dir: string }
  | { kind: 'named'; name: string }

export interface RawSpec {
  source: SpecSource
  /** How messages name this spec: `src/hero.imgprompt.json`, `virtual:ai-image?prompt=…`, `virtual:ai-image/hero`. */
  label: string
  /** Folder that relative `image` / `mask` paths start from. */
  dir: string
  fields: Record<string, unknown>
}

export const VIRTUAL_PREFIX = 'virtual:ai-image'

export function relativeLabel(root: string, file: string): string {
  const rel = path.relative(root, file)
  return (rel.startsWith('..') || path.isAbsolute(rel) ? file : rel).split(path.sep).join('/')
}

export async function readSpecFile(file: string, root: string): Promise<RawSpec> {
  const label = relativeLabel(root, file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new AiImageError('SPEC_INVALID', `cannot read the spec file (${(error as NodeJS.ErrnoException).code ?? error})`, {
      file: label,
      cause: error,
    })
  }
  return { source: { kind: 'file', file }, label, dir: path.dirname(file), fields: parseSpecJson(text, label) }
}

/** JSON.parse with an error that gives line and column, and no partial result. */
export function parseSpecJson(text: string, label: string): Record<string, unknown> {
  // A UTF-8 BOM (common from Windows editors) is not JSON whitespace.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  let value: unknown
  try {
    value = JSON.parse(source)
  } catch (error) {
    const message = (error as Error).message
    const position = jsonErrorPosition(message, source)
    const where = position === undefined ? '' : ` at line ${lineColumn(source, position)}`
    throw new AiImageError('SPEC_INVALID', `the file is not valid JSON${where}: ${message}. Fix the JSON syntax`, {
      file: label,
      data: position === undefined ? undefined : { position },
    })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw specInvalid(label, '', 'the file must hold a JSON object such as {"prompt": "…"}')
  }
  return value as Record<string, unknown>
}

function jsonErrorPosition(message: string, source: string): number | undefined {
  const match = /position (\d+)/.exec(message)
  if (match) return Number(match[1])
  // "Unexpected end of JSON input" has no position: the error is at the end.
  if (/end of (JSON|data)/i.test(message)) return source.length
  return undefined
}

function lineColumn(source: string, position: number): string {
  const before = source.slice(0, position)
  const line = before.split('\n').length
  const column = position - before.lastIndexOf('\n')
  return `${line}, column ${column}`
}

/**
 * `virtual:ai-image?prompt=a%20cat&size=1024x1024&emit.format=webp&image=a.png&image=b.png`: values are
 * coerced by the field table (numbers, booleans, repeated keys for lists, dotted keys for `emit`).
 */
export function parseQuerySpec(query: string, dir: string, id: string): RawSpec {
  const label = id
  const params = new URLSearchParams(query)
  const fields: Record<string, unknown> = {}
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name)
    const [head, sub] = name.split('.', 2) as [string, string | undefined]
    if (sub !== undefined) {
      const parentDef = SPEC_FIELDS[head]
      if (!parentDef || parentDef.type !== 'object') throw specInvalid(label, name, 'is not a known field')
      const parent = (fields[head] ??= {}) as Record<string, unknown>
      parent[sub] = coerceQueryValue(EMIT_FIELDS[sub], values)
    } else {
      fields[name] = coerceQueryValue(SPEC_FIELDS[name], values)
    }
  }
  return { source: { kind: 'query', query, dir }, label, dir, fields }
}

function coerceQueryValue(def: FieldDef | undefined, values: string[]): unknown {
  const last = values[values.length - 1] ?? ''
  if (!def) return last // unknown: left for the validator to name
  switch (def.type) {
    case 'integer':
      return /^-?\d+$/.test(last) ? Number(last) : last
    case 'boolean':
      return last === 'true' ? true : last === 'false' ? false : last
    case 'path-or-paths':
      return values.length > 1 ? values : last
    case 'integer-list':
      return values
        .flatMap((v) => v.split(','))
        .filter(Boolean)
        .map((v) => (/^\d+$/.test(v) ? Number(v) : v))
    default:
      return last
  }
}

export function namedSpec(name: string, images: Readonly<Record<string, ImageSpec>>, root: string): RawSpec {
  const label = `${VIRTUAL_PREFIX}/${name}`
  if (!Object.prototype.hasOwnProperty.call(images, name)) {
    const known = Object.keys(images)
    throw new AiImageError(
      'SPEC_INVALID',
      `no image named "${name}" in the plugin option \`images\`${known.length ? ` (known: ${known.join(', ')})` : ' (the option is empty)'}`,
      { file: label, field: 'images' },
    )
  }
  const spec = images[name]
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw specInvalid(label, '', `images.${name} must be an object such as { prompt: '…' }`)
  }
  return { source: { kind: 'named', name }, label, dir: root, fields: { ...(spec as Record<string, unknown>) } }
}
