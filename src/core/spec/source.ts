/**
 * The three places a spec comes from, turned into one shape: a plain object of fields, a label for
 * messages (the file relative to the root, or the virtual id) and the folder relative paths start from.
 */
import path from 'node:path'
import { AiImageError, showValue, specInvalid } from '../errors.js'
import { describeRefusal, readFileInsideRoot, type FileRefusal } from '../read-inside-root.js'
import { EMIT_FIELDS, SPEC_FIELDS, type FieldDef } from './fields.js'
import type { ImageSpec } from '../../types.js'

/** Where a spec comes from, as the front ends name it: a spec file, a `virtual:ai-image?…` query, a named spec. */
export type SpecRef =
  | { kind: 'file'; file: string }
  | { kind: 'query'; query: string; dir: string; id: string }
  | { kind: 'named'; name: string }

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

/** Largest spec file read: a spec is a few hundred bytes; the longest prompt any model takes is 32,000 characters. */
export const SPEC_FILE_MAX_BYTES = 1024 * 1024

/** A file as messages and globs name it: relative to the root with `/` separators, or absolute when outside it. */
export function relativeLabel(root: string, file: string): string {
  // The common case without `path.relative` (which resolves both paths): every import of a build asks.
  const prefix = root.endsWith(path.sep) ? root : `${root}${path.sep}`
  if (file.startsWith(prefix) && !UNNORMALIZED.test(file)) return path.sep === '/' ? file.slice(prefix.length) : file.slice(prefix.length).split(path.sep).join('/')
  const rel = path.relative(root, file)
  return (rel.startsWith('..') || path.isAbsolute(rel) ? file : rel).split(path.sep).join('/')
}

/** How messages name the spec of `ref`: a file relative to the root, or the virtual id (`error` may know it better). */
export function refLabel(root: string, ref: SpecRef, error?: unknown): string {
  if (error instanceof AiImageError && error.file) return error.file
  switch (ref.kind) {
    case 'file':
      return relativeLabel(root, ref.file)
    case 'query':
      return ref.id
    case 'named':
      return `${VIRTUAL_PREFIX}/${ref.name}`
  }
}

/** `.` or `..` segments, or doubled separators: a path `path.relative` would normalize first. */
const UNNORMALIZED = /[/\\]\.{1,2}(?:[/\\]|$)|[/\\]{2}|[/\\]$/

/**
 * A spec file is untrusted text (a pull request can make it a symlink to anything): it is read only when its
 * real path is inside the root, it is a regular file of at most `SPEC_FILE_MAX_BYTES`, and it is UTF-8.
 */
export async function readSpecFile(file: string, root: string): Promise<RawSpec> {
  const label = relativeLabel(root, file)
  const read = await readFileInsideRoot(file, root, SPEC_FILE_MAX_BYTES)
  if (!read.ok) throw specFileRefused(label, read)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(read.data)
  } catch {
    throw specInvalid(label, '', 'the spec file is not UTF-8 text', 'Save it as UTF-8 (JSON files are UTF-8)')
  }
  return { source: { kind: 'file', file }, label, dir: path.dirname(file), fields: parseSpecJson(text, label) }
}

function specFileRefused(label: string, refusal: FileRefusal): AiImageError {
  switch (refusal.reason) {
    case 'missing':
      return new AiImageError('SPEC_INVALID', 'cannot read the spec file (ENOENT)', { file: label })
    case 'unreadable':
      return new AiImageError('SPEC_INVALID', `cannot read the spec file (${refusal.code}). Check its permissions`, { file: label })
    case 'too-large':
      return specInvalid(
        label,
        '',
        `the spec file is ${refusal.size} bytes; a spec file may be at most ${(SPEC_FILE_MAX_BYTES / 1024 / 1024).toFixed(1)} MiB`,
        'A spec holds a prompt and a few fields',
      )
    case 'outside-root':
      return specInvalid(
        label,
        '',
        describeRefusal('the spec file', refusal),
        'Copy the file into the project instead of linking to it (or set the plugin option `root` to a folder that holds both)',
      )
    case 'not-regular':
      return specInvalid(label, '', describeRefusal('the spec file', refusal), 'A spec file must be a JSON file')
    case 'changed':
      return specInvalid(label, '', describeRefusal('the spec file', refusal), 'Build again once the file is written')
  }
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

/** Names that would reach a prototype through a plain object; never fields, at any depth. */
const PROTOTYPE_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

/** Field types a query may repeat (`image=a.png&image=b.png`, `emit.widths=320&emit.widths=640`). */
const LIST_TYPES = new Set<FieldDef['type']>(['path-or-paths', 'integer-list'])

/**
 * `virtual:ai-image?prompt=a%20cat&size=1024x1024&emit.format=webp&image=a.png&image=b.png`: values are
 * coerced by the field table (numbers, booleans, repeated keys for lists, dotted keys for `emit`).
 *
 * The query is untrusted text from any source file, so it is parsed strictly: fields land on objects without
 * a prototype; a scalar given twice, a nested field given both whole and dotted, a name deeper than one dot
 * or a malformed percent-escape is SPEC_INVALID rather than a silent winner. Decoding is URLSearchParams'
 * (the bundler plugin normalizes ids with it too), which turns a malformed escape into U+FFFD: that
 * character is taken as the mark of one.
 */
export function parseQuerySpec(query: string, dir: string, id: string): RawSpec {
  const label = id
  const groups = new Map<string, string[]>()
  for (const [name, value] of new URLSearchParams(query)) {
    if (name.includes('\uFFFD')) throw malformedEscape(label, '', `the field name ${showValue(name)}`)
    if (value.includes('\uFFFD')) throw malformedEscape(label, name, `the value ${showValue(value)}`)
    const values = groups.get(name)
    if (values) values.push(value)
    else groups.set(name, [value])
  }

  const fields: Record<string, unknown> = Object.create(null)
  for (const [name, values] of groups) {
    if (name === '') throw specInvalid(label, '', 'has an empty field name (`=value` or `&=`)', 'Write name=value pairs')
    const parts = name.split('.')
    if (parts.some((part) => PROTOTYPE_NAMES.has(part) || part === '')) throw specInvalid(label, name, 'is not a known field')
    if (parts.length > 2) {
      throw specInvalid(label, name, 'nests deeper than one level', `Nested fields take one dot, such as emit.format=webp`)
    }
    const [head, sub] = parts as [string, string | undefined]
    let def: FieldDef | undefined
    let target = fields
    let key = head
    if (sub === undefined) {
      def = ownField(SPEC_FIELDS, head)
    } else {
      const parentDef = ownField(SPEC_FIELDS, head)
      if (!parentDef || parentDef.type !== 'object') throw specInvalid(label, name, 'is not a known field')
      if (groups.has(head)) {
        throw specInvalid(label, head, `is given both as ${head}=… and as ${name}=…`, `Use only the dotted form (${name}=…)`)
      }
      def = ownField(parentDef.fields, sub)
      target = (fields[head] ??= Object.create(null)) as Record<string, unknown>
      key = sub
    }
    if (values.length > 1 && !(def && LIST_TYPES.has(def.type))) {
      throw specInvalid(label, name, `is given more than once (${values.length} times)`, 'Give it once; only `image` and `emit.widths` may repeat')
    }
    target[key] = coerceQueryValue(def, values)
  }
  return { source: { kind: 'query', query, dir }, label, dir, fields }
}

function ownField(table: Readonly<Record<string, FieldDef>>, name: string): FieldDef | undefined {
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined
}

function malformedEscape(label: string, field: string, what: string) {
  return specInvalid(
    label,
    field,
    `${what} holds a malformed percent-escape (or the character U+FFFD that marks one)`,
    'Encode text with encodeURIComponent: each %XX must form valid UTF-8, and a literal % is %25',
  )
}

/** Strict coercion: a value that is not exactly a number or a boolean stays a string for the validator to name. */
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
