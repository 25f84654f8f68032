/**
 * Pending batches, recorded in the committed cache folder so that any machine with the key can collect them
 * (a scheduled CI job, a colleague) and no build pays again for a key that a batch is already making:
 *
 *   <cacheDir>/batches/<batch id>.json
 *
 * `{ version, id, endpoint, models, submitted, input_file_id, uploaded_file_ids, lines, keys }`: `lines` in
 * input-file order (`errors[].line` of a failed batch points into it), each `{ custom_id, key, indices }`;
 * `keys` maps each key to its spec label and its key material (`cache/key.ts`), so the entry can be written
 * from the record alone, and so a record can be checked: every key must be the hash of its material.
 *
 * The folder is committed, so a record is untrusted input: every value is type- and range-checked on read,
 * the file must be a regular file (no symlink followed), and a record that fails any check is ignored with a
 * warning that names the file. Records are written atomically and removed once everything they list is
 * collected (or will be resubmitted).
 */
import { lstat, mkdir, readFile, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { computeKey, type KeyMaterial } from '../cache/key.js'
import { atomicWrite } from '../cache/store.js'
import { AiImageError } from '../errors.js'
import { customIdMatches, CUSTOM_ID_PATTERN } from './lines.js'
import { isBatchEndpoint, type BatchEndpoint } from './models.js'
import { BATCH_ID, FILE_ID } from './objects.js'

export const BATCH_RECORD_VERSION = 1
export const BATCHES_DIR = 'batches'

/** No legitimate record comes near this (50,000 lines with long prompts stay under it). */
const MAX_RECORD_BYTES = 256 * 1024 * 1024
const MAX_LINES = 50_000
const KEY = /^[0-9a-f]{64}$/

export interface RecordLine {
  custom_id: string
  key: string
  /** Candidate indices this line makes. */
  indices: number[]
}

export interface RecordedKey {
  /** The spec (relative to the project root) that asked for it, for messages. */
  label: string
  material: KeyMaterial
}

export interface BatchRecord {
  version: number
  id: string
  endpoint: BatchEndpoint
  models: string[]
  /** Unix seconds. */
  submitted: number
  input_file_id: string
  /** Input images uploaded for this batch (too large to go inline), deleted once it is collected. */
  uploaded_file_ids: string[]
  lines: RecordLine[]
  keys: Record<string, RecordedKey>
}

export interface PendingKey {
  key: string
  batchId: string
  label: string
  /** Unix seconds. */
  submitted: number
  ageSeconds: number
  /** The record file. */
  file: string
}

export function batchesDir(cacheDir: string): string {
  return path.join(cacheDir, BATCHES_DIR)
}

export function recordPath(cacheDir: string, batchId: string): string {
  if (!BATCH_ID.test(batchId)) throw new Error(`not a batch id: ${batchId}`)
  return path.join(batchesDir(cacheDir), `${batchId}.json`)
}

/**
 * Create `<cacheDir>/batches/` if need be and make sure it is a real folder: a symlink there (the folder is
 * committed, anyone can put one) would make record writes and removals land outside the cache folder.
 */
export async function prepareBatchesDir(cacheDir: string): Promise<string> {
  const dir = batchesDir(cacheDir)
  await mkdir(dir, { recursive: true }).catch(() => {})
  const info = await lstat(dir).catch(() => undefined)
  if (!info?.isDirectory()) {
    throw new AiImageError('SPEC_INVALID', `${dir} is not a folder (a symlink?): pending batches are recorded only in a real folder of the cache. Remove it`, {
      field: 'cacheDir',
    })
  }
  return dir
}

export async function writeRecord(cacheDir: string, record: BatchRecord): Promise<void> {
  const problem = checkRecord(record, record.id)
  if (typeof problem === 'string') throw new Error(`refusing to write an invalid batch record: ${problem}`)
  await prepareBatchesDir(cacheDir)
  await atomicWrite(recordPath(cacheDir, record.id), `${JSON.stringify(record, null, 2)}\n`)
}

export async function removeRecord(cacheDir: string, batchId: string): Promise<void> {
  await prepareBatchesDir(cacheDir)
  await rm(recordPath(cacheDir, batchId), { force: true })
}

type Warn = (message: string) => void

/** Every valid record of the cache folder; an invalid one is skipped with a warning naming its file. */
export async function readRecords(cacheDir: string, warn: Warn): Promise<Array<{ record: BatchRecord; file: string }>> {
  const dir = batchesDir(cacheDir)
  const info = await lstat(dir).catch(() => undefined)
  if (!info) return []
  const shown = (name: string) => path.join(path.basename(cacheDir), BATCHES_DIR, name).split(path.sep).join('/')
  if (!info.isDirectory()) {
    warn(`${shown('')} is not a folder (a symlink?); its pending batches are ignored`)
    return []
  }
  const records: Array<{ record: BatchRecord; file: string }> = []
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.json')) continue
    const file = path.join(dir, name)
    const read = await readRecordFile(file, name.slice(0, -'.json'.length))
    if (typeof read === 'string') warn(`${shown(name)}: ${read}; this pending batch is ignored (delete the file if it is not yours)`)
    else records.push({ record: read, file })
  }
  return records
}

/** The record of one batch, or undefined (with a warning) when it is missing or invalid. */
export async function readRecord(cacheDir: string, batchId: string, warn: Warn): Promise<BatchRecord | undefined> {
  const file = recordPath(cacheDir, batchId)
  const read = await readRecordFile(file, batchId)
  if (typeof read === 'string') {
    if (!read.startsWith('missing')) warn(`${path.basename(file)}: ${read}; this pending batch is ignored`)
    return undefined
  }
  return read
}

async function readRecordFile(file: string, expectedId: string): Promise<BatchRecord | string> {
  const info = await lstat(file).catch(() => undefined)
  if (!info) return 'missing'
  if (!info.isFile()) return 'not a regular file (symlinks are not followed)'
  if (info.size > MAX_RECORD_BYTES) return `${info.size} bytes, more than any batch record`
  let value: unknown
  try {
    value = JSON.parse(await readFile(file, 'utf8'))
  } catch {
    return 'not valid JSON'
  }
  return checkRecord(value, expectedId)
}

/**
 * Keys pending in batches, with their batch and age: what builds, `check` and the dev server must not
 * generate (never pay twice). A key listed by several records appears once per record.
 */
export async function listPending(cacheDir: string, options: { warn: Warn; now?: number }): Promise<PendingKey[]> {
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const pending: PendingKey[] = []
  for (const { record, file } of await readRecords(cacheDir, options.warn)) {
    for (const [key, entry] of Object.entries(record.keys)) {
      pending.push({ key, batchId: record.id, label: entry.label, submitted: record.submitted, ageSeconds: Math.max(0, now - record.submitted), file })
    }
  }
  return pending
}

/** The record, checked field by field, or what is wrong with it. */
export function checkRecord(value: unknown, expectedId: string): BatchRecord | string {
  if (!isObject(value)) return 'not a JSON object'
  if (value.version !== BATCH_RECORD_VERSION) return `version ${show(value.version)} is not ${BATCH_RECORD_VERSION}`
  if (typeof value.id !== 'string' || !BATCH_ID.test(value.id)) return `id ${show(value.id)} is not a batch id`
  if (value.id !== expectedId) return `id ${value.id} does not match the file name`
  if (!isBatchEndpoint(value.endpoint)) return `endpoint ${show(value.endpoint)} is not an images endpoint`
  if (!Array.isArray(value.models) || value.models.length === 0 || !value.models.every((m) => typeof m === 'string' && m.length > 0 && m.length <= 100)) {
    return '`models` is not a list of model names'
  }
  const submitted = value.submitted
  // From the Batch API's first image support (2025) to a day ahead of this clock.
  if (typeof submitted !== 'number' || !Number.isInteger(submitted) || submitted < 1_735_689_600 || submitted > Date.now() / 1000 + 86_400) {
    return `submitted ${show(submitted)} is not a plausible unix time`
  }
  if (typeof value.input_file_id !== 'string' || !FILE_ID.test(value.input_file_id)) return 'input_file_id is not a file id'
  if (!Array.isArray(value.uploaded_file_ids) || value.uploaded_file_ids.length > 16 * MAX_LINES || !value.uploaded_file_ids.every((id) => typeof id === 'string' && FILE_ID.test(id))) {
    return 'uploaded_file_ids is not a list of file ids'
  }
  if (!isObject(value.keys)) return '`keys` is not an object'
  const keys: Record<string, RecordedKey> = {}
  const endpoint = value.endpoint === '/v1/images/edits' ? 'edits' : 'generations'
  for (const [key, entry] of Object.entries(value.keys)) {
    const checked = checkKeyEntry(key, entry, endpoint)
    if (typeof checked === 'string') return `keys.${key.slice(0, 12)}: ${checked}`
    keys[key] = checked
  }
  if (!Array.isArray(value.lines) || value.lines.length === 0 || value.lines.length > MAX_LINES) return `\`lines\` is not a list of 1 to ${MAX_LINES} lines`
  const seen = new Set<string>()
  const lines: RecordLine[] = []
  for (const [i, line] of value.lines.entries()) {
    if (!isObject(line)) return `lines[${i}] is not an object`
    const { custom_id: customId, key, indices } = line
    if (typeof customId !== 'string' || !CUSTOM_ID_PATTERN.test(customId)) return `lines[${i}].custom_id is not a custom id of this plugin`
    if (seen.has(customId)) return `lines[${i}].custom_id is listed twice`
    seen.add(customId)
    if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(keys, key)) return `lines[${i}].key is not one of \`keys\``
    if (!Array.isArray(indices) || !indices.every((n) => typeof n === 'number')) return `lines[${i}].indices is not a list of numbers`
    const n = Number(keys[key]!.material.request.n)
    if (indices.length === 0 || new Set(indices).size !== indices.length || indices.some((n2) => !Number.isInteger(n2) || n2 < 0 || n2 >= n)) {
      return `lines[${i}].indices must be distinct candidates 0 to ${n - 1}`
    }
    if (!customIdMatches(customId, key, indices as number[])) return `lines[${i}].custom_id does not belong to its key and indices`
    lines.push({ custom_id: customId, key, indices: [...(indices as number[])] })
  }
  for (const key of Object.keys(keys)) if (!lines.some((l) => l.key === key)) return `keys.${key.slice(0, 12)} has no line`
  return {
    version: BATCH_RECORD_VERSION,
    id: value.id,
    endpoint: value.endpoint,
    models: [...(value.models as string[])],
    submitted,
    input_file_id: value.input_file_id,
    uploaded_file_ids: [...(value.uploaded_file_ids as string[])],
    lines,
    keys,
  }
}

function checkKeyEntry(key: string, entry: unknown, endpoint: 'generations' | 'edits'): RecordedKey | string {
  if (!KEY.test(key)) return 'not a cache key'
  if (!isObject(entry)) return 'not an object'
  if (typeof entry.label !== 'string' || entry.label.length === 0 || entry.label.length > 1000 || /[\u0000-\u001f]/.test(entry.label)) return 'label is not a spec name'
  const material = entry.material
  if (!isObject(material)) return 'material is not an object'
  if (material.endpoint !== endpoint) return `material.endpoint ${show(material.endpoint)} is not this batch's ${endpoint}`
  const request = material.request
  if (!isObject(request) || !Object.values(request).every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) {
    return 'material.request is not a request'
  }
  if (typeof request.model !== 'string') return 'material.request.model is missing'
  const n = request.n
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10) return 'material.request.n is not 1 to 10'
  const sha = (v: unknown) => typeof v === 'string' && KEY.test(v)
  if (!Array.isArray(material.inputs) || material.inputs.length > 16 || !material.inputs.every(sha)) return 'material.inputs is not a list of SHA-256'
  if (material.mask !== null && !sha(material.mask)) return 'material.mask is not a SHA-256'
  if (material.seed !== null && typeof material.seed !== 'string') return 'material.seed is not a string'
  if (Object.keys(material).some((k) => !['endpoint', 'request', 'inputs', 'mask', 'seed'].includes(k))) return 'material has unknown fields'
  const checked: KeyMaterial = {
    endpoint,
    request: { ...(request as Record<string, string | number>) },
    inputs: [...(material.inputs as string[])],
    mask: material.mask as string | null,
    seed: material.seed as string | null,
  }
  // The material must hash to the key, or an edited record could have a batch's images stored under any key.
  if (computeKey(checked) !== key) return 'material does not hash to its key'
  return { label: entry.label, material: checked }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}…` : text
}
