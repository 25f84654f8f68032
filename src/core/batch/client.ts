/**
 * The OpenAI Files and Batches API, as the batch layer needs it: upload (multipart, purpose `batch` for JSONL
 * input, `vision` for large edit inputs), create, retrieve, cancel and list batches, and read a file's content
 * line by line. Same wire conventions as the Images provider (`providers/openai.ts`): `{baseURL}` with `/v1`,
 * a Bearer key, the organization and project headers, undici with a stall timeout, no redirects followed,
 * failures mapped by `providers/errors.ts`. Every answer is bounded: JSON objects by `MAX_JSON_BYTES`, and a
 * file's content is streamed, one line at a time, each line bounded by the caller (output files hold many
 * base64 images: hundreds of MB that must never be buffered whole).
 */
import type { Agent, Dispatcher, FormData } from 'undici'
import { realClock, type Clock } from '../clock.js'
import { AiImageError } from '../errors.js'
import type { OpenAIProviderConfig } from '../providers/openai/config.js'
import { USER_AGENT, loadUndici, transportError } from '../providers/openai/http.js'
import { openaiErrorFromResponse, type Headers } from '../providers/openai/wire-errors.js'
import type { BatchEndpoint } from './models.js'
import { BATCH_ID, FILE_ID, readBatch, readBatchPage, readFileObject, wireError, type BatchInfo, type BatchPage, type FileInfo } from './objects.js'

/** Batch and file objects are a few KB; a page of 100 batches with validation errors stays far below this. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024
/** Error bodies are read up to this much (the message is all we use). */
const MAX_ERROR_BYTES = 64 * 1024

export interface BatchClientOptions {
  /** Stall timeout in ms (no header or body byte for this long). @default 300000 */
  timeout?: number
  /** Attempts of a read (GET, DELETE) that fails in a retryable way (429, 5xx, a dropped connection). @default 3 */
  attempts?: number
  /** For the waits between attempts. */
  clock?: Clock
}

interface RequestInit {
  body?: string | FormData
  signal?: AbortSignal
}

/** Longest wait between two attempts of a read, whatever the server hints. */
const MAX_RETRY_WAIT_MS = 30_000

export interface BatchClient {
  /** Upload a file (`Blob`: from `fs.openAsBlob` for large JSONL, so it is streamed from disk). */
  uploadFile(file: Blob, options: { purpose: 'batch' | 'vision'; filename: string; signal?: AbortSignal }): Promise<FileInfo>
  retrieveFile(id: string, signal?: AbortSignal): Promise<FileInfo>
  deleteFile(id: string, signal?: AbortSignal): Promise<void>
  createBatch(params: { inputFileId: string; endpoint: BatchEndpoint; metadata?: Record<string, string> }, signal?: AbortSignal): Promise<BatchInfo>
  retrieveBatch(id: string, signal?: AbortSignal): Promise<BatchInfo>
  cancelBatch(id: string, signal?: AbortSignal): Promise<BatchInfo>
  /** One page, newest first; pass `lastId` as `after` for the next. */
  listBatches(params?: { after?: string; limit?: number }, signal?: AbortSignal): Promise<BatchPage>
  /** The lines of a file's content, streamed; a line longer than `maxLineBytes` is BAD_RESPONSE. Blank lines are skipped. */
  fileLines(id: string, options: { maxLineBytes: number; signal?: AbortSignal }): AsyncGenerator<string>
  close(): Promise<void>
}

export function createBatchClient(config: OpenAIProviderConfig, options: BatchClientOptions = {}): BatchClient {
  const timeout = options.timeout ?? 300_000
  const attempts = Math.max(1, options.attempts ?? 3)
  const clock = options.clock ?? realClock
  let agent: Promise<Agent> | undefined
  const dispatcher = () =>
    (agent ??= loadUndici().then(({ Agent }) => new Agent({ connections: 4, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: 10_000 })))

  /**
   * One request; a non-2xx answer becomes the AiImageError `errorFromResponse` makes of it. Reads are tried
   * again when that error is retryable; writes (upload, create, cancel) never are: a create that timed out may
   * have made a batch, and a second one would be paid for twice.
   */
  async function send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    label: string,
    init: RequestInit = {},
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await sendOnce(method, path, label, init)
      } catch (error) {
        if (method === 'POST' || attempt >= attempts || !(error instanceof AiImageError) || !error.retryable) throw error
        const wait = Math.min(MAX_RETRY_WAIT_MS, error.retryAfterMs ?? 500 * 2 ** (attempt - 1))
        await clock.sleep(wait, init.signal)
      }
    }
  }

  async function sendOnce(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    label: string,
    init: RequestInit = {},
  ): Promise<Dispatcher.ResponseData> {
    if (!config.apiKey) {
      throw new AiImageError('AUTH', 'no OpenAI API key: set OPENAI_API_KEY or the plugin option openai.apiKey to use the Batch API', { file: label })
    }
    const signal = init.signal ?? new AbortController().signal
    let response: Dispatcher.ResponseData
    try {
      const { request } = await loadUndici()
      response = await request(`${config.baseURL}${path}`, {
        method,
        headers: {
          'user-agent': USER_AGENT,
          authorization: `Bearer ${config.apiKey}`,
          accept: 'application/json',
          ...(typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}),
          ...(config.organization ? { 'openai-organization': config.organization } : {}),
          ...(config.project ? { 'openai-project': config.project } : {}),
        },
        ...(init.body === undefined ? {} : { body: init.body }),
        signal,
        dispatcher: await dispatcher(),
      })
    } catch (error) {
      throw transportError(error, signal, label, method !== 'GET')
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = await readBounded(response.body, MAX_ERROR_BYTES, signal, label, 'truncate').catch(() => '')
      // A 404 on a batch or file (not on the collection itself) is that object missing.
      if (response.statusCode === 404 && /^\/(files|batches)\/./.test(path)) throw unknownToThisKey(label)
      throw openaiErrorFromResponse(response.statusCode, response.headers as Headers, text, label)
    }
    return response
  }

  async function json(method: 'GET' | 'POST' | 'DELETE', path: string, label: string, init: RequestInit = {}): Promise<unknown> {
    const response = await send(method, path, label, init)
    const signal = init.signal ?? new AbortController().signal
    const text = await readBounded(response.body, MAX_JSON_BYTES, signal, label, 'fail')
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw wireError('answer', `the body is not JSON (${text.length} bytes)`)
    }
  }

  const checkId = (id: string, pattern: RegExp, what: string) => {
    if (!pattern.test(id)) throw new AiImageError('BAD_RESPONSE', `${JSON.stringify(id).slice(0, 80)} is not a ${what} id`)
    return id
  }

  return {
    async uploadFile(file, { purpose, filename, signal }) {
      const { FormData } = await loadUndici()
      const form = new FormData()
      form.append('purpose', purpose)
      form.append('file', file, filename)
      return readFileObject(await json('POST', '/files', 'Batch API upload', { body: form, ...(signal ? { signal } : {}) }))
    },
    async retrieveFile(id, signal) {
      return readFileObject(await json('GET', `/files/${checkId(id, FILE_ID, 'file')}`, `file ${id}`, signal ? { signal } : {}))
    },
    async deleteFile(id, signal) {
      await json('DELETE', `/files/${checkId(id, FILE_ID, 'file')}`, `file ${id}`, signal ? { signal } : {})
    },
    async createBatch({ inputFileId, endpoint, metadata }, signal) {
      const body = JSON.stringify({ input_file_id: inputFileId, endpoint, completion_window: '24h', ...(metadata ? { metadata } : {}) })
      return readBatch(await json('POST', '/batches', 'Batch API', { body, ...(signal ? { signal } : {}) }))
    },
    async retrieveBatch(id, signal) {
      return expectId(readBatch(await json('GET', `/batches/${checkId(id, BATCH_ID, 'batch')}`, `batch ${id}`, signal ? { signal } : {})), id)
    },
    async cancelBatch(id, signal) {
      return expectId(readBatch(await json('POST', `/batches/${checkId(id, BATCH_ID, 'batch')}/cancel`, `batch ${id}`, signal ? { signal } : {})), id)
    },
    async listBatches(params = {}, signal) {
      const query = new URLSearchParams()
      if (params.after) query.set('after', checkId(params.after, BATCH_ID, 'batch'))
      if (params.limit) query.set('limit', String(Math.min(100, Math.max(1, Math.floor(params.limit)))))
      const suffix = query.size ? `?${query}` : ''
      return readBatchPage(await json('GET', `/batches${suffix}`, 'Batch API', signal ? { signal } : {}))
    },
    async *fileLines(id, { maxLineBytes, signal }) {
      const label = `file ${id}`
      const guard = signal ?? new AbortController().signal
      const response = await send('GET', `/files/${checkId(id, FILE_ID, 'file')}/content`, label, signal ? { signal } : {})
      try {
        yield* splitLines(response.body, maxLineBytes, guard, label)
      } finally {
        // Stopped early (a consumer's error, a bad line): drop the rest rather than read it.
        response.body.destroy()
      }
    },
    close: async () => {
      if (agent) await (await agent).close()
    },
  }
}

/**
 * A batch or file this key cannot see. `errorFromResponse` would blame a model or deployment; here the usual
 * cause is a record submitted with another project's or organization's key.
 */
function unknownToThisKey(label: string): AiImageError {
  return new AiImageError(
    'AUTH',
    `${label} is unknown to this API key (HTTP 404): it was submitted by another OpenAI project or organization, or deleted. Use the key (and OPENAI_PROJECT_ID) that submitted it`,
    { status: 404, data: { notFound: true } },
  )
}

function expectId(batch: BatchInfo, id: string): BatchInfo {
  if (batch.id !== id) throw wireError('batch', `asked for ${id}, got ${batch.id}`)
  return batch
}

/** The body as text, at most `limit` bytes: past it, fail (a JSON object) or keep what came (an error body). */
async function readBounded(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, limit: number, signal: AbortSignal, label: string, over: 'fail' | 'truncate'): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body) {
      size += chunk.length
      if (size > limit) {
        body.destroy()
        if (over === 'fail') throw wireError('answer', `the body is over ${limit} bytes`)
        chunks.push(Buffer.from(chunk).subarray(0, Math.max(0, chunk.length - (size - limit))))
        break
      }
      chunks.push(Buffer.from(chunk))
    }
  } catch (error) {
    throw transportError(error, signal, label, true)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Lines of a byte stream (`\n`, with an optional `\r`), each held only until it is complete: memory stays at
 * one line plus one chunk whatever the size of the file.
 */
export async function* splitLines(body: AsyncIterable<Uint8Array>, maxLineBytes: number, signal: AbortSignal, label: string): AsyncGenerator<string> {
  let parts: Buffer[] = []
  let size = 0
  const take = () => {
    let text = Buffer.concat(parts, size).toString('utf8')
    if (text.endsWith('\r')) text = text.slice(0, -1)
    parts = []
    size = 0
    return text
  }
  const iterator = body[Symbol.asyncIterator]()
  for (;;) {
    let next: IteratorResult<Uint8Array>
    try {
      next = await iterator.next()
    } catch (error) {
      throw transportError(error, signal, label, true)
    }
    if (next.done) break
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
    for (let start = 0; ; ) {
      const newline = chunk.indexOf(0x0a, start)
      const piece = chunk.subarray(start, newline === -1 ? chunk.length : newline)
      size += piece.length
      if (size > maxLineBytes) throw wireError(label, `a line is longer than ${maxLineBytes} bytes, more than any legitimate answer`)
      // Copied, so the line holds its own bytes and not the whole chunk it came in.
      if (piece.length > 0) parts.push(Buffer.from(piece))
      if (newline === -1) break
      const line = take()
      if (line.trim() !== '') yield line
      start = newline + 1
    }
  }
  if (size > 0) {
    const line = take()
    if (line.trim() !== '') yield line
  }
}
