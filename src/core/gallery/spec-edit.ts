/**
 * Writing a spec file for the gallery: set or remove top-level fields (`pick`, `seed`, `n`, `prompt`, …) of
 * a `*.imgprompt.json`, keeping every other byte as it was: key order, indentation, line endings, a BOM,
 * the formatting of fields the edit does not touch. The file is the one source of truth, so the app updates
 * through HMR like after any edit in an editor.
 *
 * Text positions come from jsonc-parser's parse tree, and its `applyEdits` applies them; the edits
 * themselves are computed here rather than by its `modify`, whose formatting pass re-indents every line an
 * edit touches (an inline `"emit": { … }` before an inserted or removed field is spread over several lines).
 * A new field goes where the field table puts it among the fields present (`seed` after `n`), at the
 * indentation of its neighbours.
 *
 * Nothing is written unless all of this holds: the file is a spec file of this project (inside the root,
 * matched by `include`/`exclude`, outside the cache and the folders discovery skips, a regular file and not
 * a link, its real folder inside the real root); it is the build's valid JSON with no field given twice;
 * the edited spec passes the build's own validation; and the file did not change while the edit was made.
 * The write is atomic (a temp file in the same folder, then a rename), so a reader (Vite's watcher, a
 * build) sees the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto'
import { lstat, realpath, rename, rm, writeFile, chmod } from 'node:fs/promises'
import path from 'node:path'
import { applyEdits, parseTree, type Edit, type Node } from 'jsonc-parser'
import picomatch from 'picomatch'
import { AiImageError } from '../errors.js'
import type { SpecFileRules, ValidatedSpec } from './project-view.js'

/** Field values to set; `null` removes the field. */
export type FieldEdits = Readonly<Record<string, JsonValue | null>>

export type JsonValue = string | number | boolean | JsonValue[] | { [key: string]: JsonValue }

export interface FieldChange {
  field: string
  /** Undefined: the field was absent (or is removed, for `after`). */
  before: JsonValue | undefined
  after: JsonValue | undefined
}

/** An edit made and checked, not yet written: what the dev server shows (with its estimate) before it writes. */
export interface PlannedEdit {
  file: string
  label: string
  changes: FieldChange[]
  /** The spec as it will be once written, validated by the build's rules. */
  spec: ValidatedSpec
  fields: Record<string, unknown>
  /** The file's bytes before and after. */
  before: Buffer
  after: Buffer
}

export interface WrittenEdit extends PlannedEdit {
  /** False when the edit changed nothing (the file was left alone). */
  written: boolean
}

const BOM = '\uFEFF'

/** Make and check an edit of `file` (absolute); writes nothing. Throws AiImageError (SPEC_INVALID) when refused. */
export async function planSpecEdit(rules: SpecFileRules, file: string, edits: FieldEdits): Promise<PlannedEdit> {
  const label = await assertProjectSpecFile(rules, file)
  const read = await rules.readInsideRoot(file)
  if (!read.ok) throw refused(label, `cannot be read (${read.reason})`)
  const before = read.data
  let text: string
  try {
    // `ignoreBOM`: keep a BOM in the text, so it is written back.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(before)
  } catch {
    throw refused(label, 'is not UTF-8 text')
  }
  const bom = text.startsWith(BOM) ? BOM : ''
  const body = text.slice(bom.length)
  // The build's own reading first: its message (line and column) is the one the user knows.
  const current = rules.parse(body, label)
  const tree = parseTree(body, [], { disallowComments: true, allowTrailingComma: false })
  if (!tree || tree.type !== 'object') throw refused(label, 'does not hold a JSON object')
  propertiesOf(tree, label)
  const fieldOrder = rules.fieldOrder

  const changes: FieldChange[] = []
  let next = body
  for (const field of orderFields(Object.keys(edits), fieldOrder)) {
    const value = edits[field]
    checkEditValue(label, field, value)
    const had = Object.prototype.hasOwnProperty.call(current, field)
    const old = had ? (current[field] as JsonValue) : undefined
    if (value === null ? !had : had && sameJson(old, value)) continue
    // Each edit is computed on the text the previous ones made (their offsets moved).
    const nextTree = parseTree(next, [], { disallowComments: true })!
    next = applyEdits(next, [editFor(next, nextTree, propertiesOf(nextTree, label), field, value ?? undefined, fieldOrder)])
    changes.push({ field, before: old, after: value ?? undefined })
  }

  const fields = rules.parse(next, label)
  checkOnlyEdited(label, current, fields, edits)
  // The build's validation, with the project's `defaults` and the file's own folder for inputs.
  const spec = rules.validate(file, fields)
  return { file, label, changes, spec, fields, before, after: Buffer.from(bom + next, 'utf8') }
}

/** Write a planned edit, unless the file changed since it was read (then nothing is written). */
export async function writePlannedEdit(rules: SpecFileRules, planned: PlannedEdit): Promise<WrittenEdit> {
  if (planned.changes.length === 0) return { ...planned, written: false }
  await assertProjectSpecFile(rules, planned.file)
  const now = await rules.readInsideRoot(planned.file)
  if (!now.ok || !now.data.equals(planned.before)) {
    throw refused(planned.label, 'changed while the edit was being made', 'Reload the gallery and try again')
  }
  const mode = (await lstat(planned.file)).mode & 0o777
  await atomicWrite(planned.file, planned.after, mode).catch((error: unknown) => {
    throw refused(planned.label, `could not be written (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'Check the permissions of the file and its folder')
  })
  return { ...planned, written: true }
}

/** Plan and write in one step. */
export async function editSpecFile(rules: SpecFileRules, file: string, edits: FieldEdits): Promise<WrittenEdit> {
  return writePlannedEdit(rules, await planSpecEdit(rules, file, edits))
}

/**
 * The label of `file` when the gallery may write it: a spec file of this project. Throws SPEC_INVALID
 * naming why otherwise.
 */
export async function assertProjectSpecFile(rules: SpecFileRules, file: string): Promise<string> {
  const { root, cacheDir } = rules
  if (typeof file !== 'string' || !path.isAbsolute(file)) throw refused(String(file), 'is not an absolute path')
  const absolute = path.normalize(file)
  const relative = path.relative(root, absolute)
  const label = relative.split(path.sep).join('/')
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw refused(absolute, 'is outside the project root', 'The gallery writes only spec files of this project')
  }
  const inCache = path.relative(cacheDir, absolute)
  if (!inCache.startsWith('..') && !path.isAbsolute(inCache)) throw refused(label, 'is inside the cache folder')
  if (!rules.isSpecFile(absolute)) throw refused(label, 'is not a spec file of this project (the `include` / `exclude` options decide which files are)')
  if (picomatch(await rules.ignoredGlobs(), { dot: true })(label)) throw refused(label, 'is in a folder the project’s discovery skips (node_modules, .git, build output)')
  let stats
  try {
    stats = await lstat(absolute)
  } catch {
    throw refused(label, 'does not exist')
  }
  if (stats.isSymbolicLink()) throw refused(label, 'is a symbolic link', 'The gallery writes only regular files: edit the file the link points to')
  if (!stats.isFile()) throw refused(label, 'is not a regular file')
  if (stats.size > rules.maxBytes) throw refused(label, `is ${stats.size} bytes, more than a spec file may be`)
  const [realRoot, realFolder] = await Promise.all([realpath(root), realpath(path.dirname(absolute))])
  const folder = path.relative(realRoot, realFolder)
  if (folder === '..' || folder.startsWith(`..${path.sep}`) || path.isAbsolute(folder)) {
    throw refused(label, `lies in a folder that resolves to ${realFolder}, outside the project root`)
  }
  return label
}

function refused(label: string, problem: string, fix?: string): AiImageError {
  return new AiImageError('SPEC_INVALID', `the gallery did not write this file: it ${problem}${fix ? `. ${fix}` : ''}`, { file: label })
}

function propertiesOf(tree: Node, label: string): Node[] {
  const properties = tree.children ?? []
  const seen = new Set<string>()
  for (const property of properties) {
    const name = property.children?.[0]?.value as string
    if (seen.has(name)) throw refused(label, `gives the field "${name}" twice`, 'Remove one of them')
    seen.add(name)
  }
  return properties
}

function orderFields(fields: readonly string[], order: readonly string[]): string[] {
  const rank = (field: string) => (order.includes(field) ? order.indexOf(field) : order.length)
  return [...fields].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1))
}

function checkEditValue(label: string, field: string, value: unknown): void {
  if (!/^\$?[A-Za-z_][A-Za-z0-9_]*$/.test(field) || field === '__proto__' || field === 'constructor' || field === 'prototype') {
    throw refused(label, `was asked to set ${JSON.stringify(field)}, which is no spec field`)
  }
  if (value !== null && !isJsonValue(value, 0)) throw refused(label, `was asked to set "${field}" to a value that is not plain JSON`)
}

function isJsonValue(value: unknown, depth: number): boolean {
  if (depth > 8) return false
  if (typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1))
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.entries(value).every(([k, v]) => k !== '__proto__' && isJsonValue(v, depth + 1))
  }
  return false
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Every field but the edited ones is as it was, in the same order. */
function checkOnlyEdited(label: string, before: Record<string, unknown>, after: Record<string, unknown>, edits: FieldEdits): void {
  const kept = (fields: Record<string, unknown>) => Object.entries(fields).filter(([k]) => !Object.prototype.hasOwnProperty.call(edits, k))
  if (JSON.stringify(kept(before)) !== JSON.stringify(kept(after))) throw refused(label, 'would change fields it was not asked to change')
}

interface Layout {
  eol: string
  /** One level of indentation. */
  unit: string
  /** Indentation of a top-level field; undefined when the object is on one line. */
  fieldIndent: string | undefined
}

function layoutOf(text: string, tree: Node, properties: Node[]): Layout {
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const multiLine = text.slice(tree.offset, tree.offset + tree.length).includes('\n')
  const indent = properties.map((p) => indentBefore(text, p.offset)).find((i) => i !== undefined && i.length > 0)
  const fieldIndent = multiLine ? (indent ?? '  ') : undefined
  return { eol, unit: fieldIndent ?? '  ', fieldIndent }
}

/** The whitespace from the start of the line to `offset`, when only whitespace precedes it on its line. */
function indentBefore(text: string, offset: number): string | undefined {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1
  const before = text.slice(lineStart, offset)
  return /^[ \t]*$/.test(before) ? before : undefined
}

function serialize(value: JsonValue, layout: Layout): string {
  if (layout.fieldIndent === undefined || typeof value !== 'object') return JSON.stringify(value)
  return JSON.stringify(value, null, layout.unit).split('\n').join(layout.eol + layout.fieldIndent)
}

/** The one text edit that sets (or, with `value` undefined, removes) top-level `field`. */
function editFor(text: string, tree: Node, properties: Node[], field: string, value: JsonValue | undefined, order: readonly string[]): Edit {
  const layout = layoutOf(text, tree, properties)
  const index = properties.findIndex((p) => p.children?.[0]?.value === field)
  if (index !== -1) {
    const property = properties[index]!
    if (value !== undefined) {
      const node = property.children![1]!
      return { offset: node.offset, length: node.length, content: serialize(value, layout) }
    }
    if (properties.length === 1) return { offset: tree.offset, length: tree.length, content: '{}' }
    if (index < properties.length - 1) {
      const following = properties[index + 1]!
      return { offset: property.offset, length: following.offset - property.offset, content: '' }
    }
    const previous = properties[index - 1]!
    const from = previous.offset + previous.length
    return { offset: from, length: property.offset + property.length - from, content: '' }
  }
  if (value === undefined) return { offset: 0, length: 0, content: '' }

  const entry = `${JSON.stringify(field)}: ${serialize(value, layout)}`
  if (properties.length === 0) {
    const content = layout.fieldIndent === undefined ? `{ ${entry} }` : `{${layout.eol}${layout.fieldIndent}${entry}${layout.eol}}`
    return { offset: tree.offset, length: tree.length, content }
  }
  const at = insertionIndex(properties.map((p) => p.children?.[0]?.value as string), field, order)
  const separator = layout.fieldIndent === undefined ? ' ' : `${layout.eol}${layout.fieldIndent}`
  if (at < properties.length) {
    // Before the field that follows it: `"seed": 1,` and the line break the following field had.
    const following = properties[at]!
    return { offset: following.offset, length: 0, content: `${entry},${separator}` }
  }
  const last = properties[properties.length - 1]!
  return { offset: last.offset + last.length, length: 0, content: `,${separator}${entry}` }
}

/** After the last present field that the field table puts before `field`; fields the table does not know go last. */
function insertionIndex(present: readonly string[], field: string, order: readonly string[]): number {
  const rank = order.indexOf(field)
  if (rank === -1) return present.length
  let at = 0
  for (const [i, name] of present.entries()) {
    const r = order.indexOf(name)
    if (r !== -1 && r < rank) at = i + 1
  }
  return at
}

async function atomicWrite(target: string, data: Buffer, mode: number): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
  try {
    // `wx`: a fresh file, never one that a link of the same name would lead elsewhere.
    await writeFile(temp, data, { flag: 'wx', mode })
    await chmod(temp, mode)
    await rename(temp, target)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}
