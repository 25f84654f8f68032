/**
 * The Batch and File objects of the OpenAI API, read strictly: the server is untrusted (any OpenAI-compatible
 * base URL), and its ids end up in file names of the cache folder and in URLs. Anything off is BAD_RESPONSE.
 */
import { AiImageError } from '../errors.js'
import { isBatchEndpoint, type BatchEndpoint } from './models.js'

export const BATCH_STATUSES = ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expiring', 'expired', 'cancelling', 'cancelled'] as const
export type BatchStatus = (typeof BATCH_STATUSES)[number]

/** A batch in one of these states will not change any more: what it finished is in its output file. */
export const FINAL_STATUSES: ReadonlySet<BatchStatus> = new Set(['completed', 'failed', 'expired', 'cancelled'])

/** Ids as OpenAI makes them; nothing else may reach a file name or a URL path. */
export const BATCH_ID = /^batch_[A-Za-z0-9_-]{1,128}$/
export const FILE_ID = /^file-[A-Za-z0-9_-]{1,128}$/

export interface BatchProblem {
  code: string
  message: string
  param?: string
  /** 1-based line of the input file. */
  line?: number
}

export interface BatchInfo {
  id: string
  status: BatchStatus
  endpoint: BatchEndpoint
  inputFileId: string
  outputFileId: string | null
  errorFileId: string | null
  /** Unix seconds. */
  createdAt: number
  expiresAt?: number
  counts: { total: number; completed: number; failed: number }
  /** Validation errors of a failed batch. */
  errors: BatchProblem[]
  metadata: Record<string, string>
}

export interface FileInfo {
  id: string
  bytes: number
  purpose: string
  filename: string
}

type Json = Record<string, unknown>

export function wireError(what: string, problem: string): AiImageError {
  return new AiImageError('BAD_RESPONSE', `the Batch API answered an unusable ${what}: ${problem}`, { retryable: true })
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

/** Short text from the server, for messages: at most `max` characters, no control characters. */
export function serverText(value: unknown, max = 300): string | undefined {
  if (typeof value !== 'string') return undefined
  const clean = value.replace(/[\u0000-\u001f\u007f]+/g, ' ')
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

export function readBatch(value: unknown): BatchInfo {
  const fail = (problem: string) => wireError('batch', problem)
  if (!isObject(value)) throw fail('not a JSON object')
  if (typeof value.id !== 'string' || !BATCH_ID.test(value.id)) throw fail(`its id ${JSON.stringify(String(value.id)).slice(0, 80)} is not a batch id`)
  if (!(BATCH_STATUSES as readonly unknown[]).includes(value.status)) throw fail(`unknown status ${serverText(String(value.status), 40)}`)
  if (!isBatchEndpoint(value.endpoint)) throw fail(`endpoint ${serverText(String(value.endpoint), 80)} is not an images endpoint`)
  if (typeof value.input_file_id !== 'string' || !FILE_ID.test(value.input_file_id)) throw fail('input_file_id is not a file id')
  const optionalFile = (name: 'output_file_id' | 'error_file_id') => {
    const id = value[name]
    if (id === null || id === undefined) return null
    if (typeof id !== 'string' || !FILE_ID.test(id)) throw fail(`${name} is not a file id`)
    return id
  }
  const createdAt = count(value.created_at)
  if (createdAt === undefined) throw fail('created_at is not a timestamp')
  const expiresAt = count(value.expires_at)
  const counts = isObject(value.request_counts) ? value.request_counts : {}
  const metadata: Record<string, string> = {}
  if (isObject(value.metadata)) {
    for (const [k, v] of Object.entries(value.metadata).slice(0, 16)) if (typeof v === 'string') metadata[k.slice(0, 64)] = v.slice(0, 512)
  }
  return {
    id: value.id,
    status: value.status as BatchStatus,
    endpoint: value.endpoint,
    inputFileId: value.input_file_id,
    outputFileId: optionalFile('output_file_id'),
    errorFileId: optionalFile('error_file_id'),
    createdAt,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    counts: { total: count(counts.total) ?? 0, completed: count(counts.completed) ?? 0, failed: count(counts.failed) ?? 0 },
    errors: readProblems(value.errors),
    metadata,
  }
}

/** `errors: { data: [{ code, message, param, line }] }`; at most 1000 kept. */
function readProblems(value: unknown): BatchProblem[] {
  const data = isObject(value) && Array.isArray(value.data) ? value.data : []
  const problems: BatchProblem[] = []
  for (const item of data.slice(0, 1000)) {
    if (!isObject(item)) continue
    const line = count(item.line)
    const param = serverText(item.param, 100)
    problems.push({
      code: serverText(item.code, 100) ?? 'unknown',
      message: serverText(item.message) ?? 'no message',
      ...(param ? { param } : {}),
      ...(line !== undefined && line > 0 ? { line } : {}),
    })
  }
  return problems
}

export function readFileObject(value: unknown): FileInfo {
  const fail = (problem: string) => wireError('file object', problem)
  if (!isObject(value)) throw fail('not a JSON object')
  if (typeof value.id !== 'string' || !FILE_ID.test(value.id)) throw fail('its id is not a file id')
  return {
    id: value.id,
    bytes: count(value.bytes) ?? 0,
    purpose: serverText(value.purpose, 40) ?? '',
    filename: serverText(value.filename, 200) ?? '',
  }
}

export interface BatchPage {
  batches: BatchInfo[]
  hasMore: boolean
  /** Cursor for the next page (`after`). */
  lastId: string | undefined
}

/**
 * A page of `GET /v1/batches`. Batches of other endpoints (chat, embeddings: the same account may batch
 * those too) are left out, not refused.
 */
export function readBatchPage(value: unknown): BatchPage {
  if (!isObject(value) || !Array.isArray(value.data)) throw wireError('batch list', 'no `data` array')
  const batches: BatchInfo[] = []
  let lastId: string | undefined
  for (const item of value.data) {
    if (isObject(item) && typeof item.id === 'string' && BATCH_ID.test(item.id)) lastId = item.id
    if (isObject(item) && !isBatchEndpoint(item.endpoint)) continue
    batches.push(readBatch(item))
  }
  if (typeof value.last_id === 'string' && BATCH_ID.test(value.last_id)) lastId = value.last_id
  return { batches, hasMore: value.has_more === true && lastId !== undefined, lastId }
}
