/**
 * The Files and Batches endpoints of the OpenAI API (API-FACTS.md "Batch API") for the emulator:
 *
 * - `POST /v1/files` (multipart: `purpose`, `file`), `GET /v1/files/{id}`, `GET /v1/files/{id}/content`,
 *   `DELETE /v1/files/{id}`;
 * - `POST /v1/batches`, `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`, `GET /v1/batches` (paged).
 *
 * Every line of a batch input file is checked when its batch is validated: a unique `custom_id`, `method`
 * POST, the batch's `url`, and the `body` against the official schema (`CreateImageRequest` for generations,
 * `EditImageBodyJsonParam` for JSON edits), plus the known-field and image-reference rules the schema leaves
 * open. A batch with any bad line fails with `errors` naming each line, as the real service does.
 *
 * Tests drive the progression (`advance`, or `stepOnGet`) and the outcome of each line (`outcome`), and can
 * replace an output file with hostile or huge content (`setOutput`).
 */
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { answers } from './answers.js'
import { renderImage, sizeOf } from './render.js'
import { schemaErrors } from './schema.js'

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled'

/**
 * What happens to one line when its batch runs: images (`ok`), a moderation refusal or an invalid-request
 * answer in the error file, or `late`: not done before the batch expired or was cancelled (done if the batch
 * completes).
 */
export type LineOutcome = 'ok' | 'content-filter' | 'invalid' | 'late'

export interface InputLine {
  custom_id: string
  method: string
  url: string
  body: Record<string, unknown>
}

export interface BatchApiRequest {
  method: string
  /** Path without the query. */
  path: string
  status: number
  headers: Record<string, string>
  /** `purpose` of an upload. */
  purpose?: string
  /** Bytes of an uploaded file. */
  bytes?: number
  receivedAt: number
}

type Content = Buffer | (() => Iterable<string | Buffer> | AsyncIterable<string | Buffer>)

interface StoredFile {
  id: string
  purpose: string
  filename: string
  created_at: number
  bytes: number
  content: Content
}

export interface BatchObject {
  id: string
  object: 'batch'
  endpoint: string
  errors: { object: 'list'; data: LineProblem[] } | null
  input_file_id: string
  completion_window: string
  status: BatchStatus
  output_file_id: string | null
  error_file_id: string | null
  created_at: number
  in_progress_at: number | null
  expires_at: number
  finalizing_at: number | null
  completed_at: number | null
  failed_at: number | null
  expired_at: number | null
  cancelling_at: number | null
  cancelled_at: number | null
  request_counts: { total: number; completed: number; failed: number }
  metadata: Record<string, string> | null
}

export interface LineProblem {
  code: string
  message: string
  param: string | null
  line: number | null
}

interface BatchState {
  object: BatchObject
  lines: InputLine[]
  problems: LineProblem[]
}

export interface BatchLimits {
  /** Most lines of one input file. @default 50000 */
  lines: number
  /** Largest input file in bytes. @default 200 MiB */
  bytes: number
}

export const OFFICIAL_BATCH_LIMITS: BatchLimits = { lines: 50_000, bytes: 200 * 1024 * 1024 }

export interface BatchApi {
  /** Requests to the Files and Batches endpoints, in order. */
  readonly requests: BatchApiRequest[]
  readonly files: ReadonlyMap<string, StoredFile>
  /** Every batch created, by id. */
  readonly batches: ReadonlyMap<string, BatchState>
  /** Images made by batch lines so far. */
  readonly billedImages: number
  /** Outcome of each line when its batch runs. @default () => 'ok' */
  outcome: (line: InputLine) => LineOutcome
  /** Each GET of a batch moves it one step along (validating → in_progress → finalizing → completed). */
  stepOnGet: boolean
  /** One step along, or on to `status` (running the lines on the way to a final status). */
  advance(id: string, status?: BatchStatus): Promise<BatchObject>
  /** Answers for the next requests to these endpoints, one each, before any other handling (429s, 5xx). */
  fail(...answers: Array<{ status: number; body?: unknown; headers?: Record<string, string> }>): void
  /** Replace the content of the output file of a finished batch (hostile or huge answers). */
  setOutput(id: string, content: Content): void
  /** The lines of a file, parsed (for assertions on what was uploaded). */
  linesOf(fileId: string): InputLine[]
  owns(req: IncomingMessage): boolean
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>
  reset(): void
}

const GPT_IMAGE = /^gpt-image|^chatgpt-image/
const IMAGE_ENDPOINTS = new Set(['/v1/images/generations', '/v1/images/edits'])
/** Body fields of each batch line url (the schema's properties; neither has `additionalProperties: false`). */
const LINE_FIELDS: Record<string, ReadonlySet<string>> = {
  '/v1/images/generations': new Set(['prompt', 'model', 'n', 'quality', 'response_format', 'output_format', 'output_compression', 'stream', 'partial_images', 'size', 'moderation', 'background', 'style', 'user']),
  '/v1/images/edits': new Set(['model', 'images', 'mask', 'prompt', 'n', 'quality', 'input_fidelity', 'size', 'user', 'output_format', 'output_compression', 'moderation', 'background', 'stream', 'partial_images']),
}
const MAGIC: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.length > 8 && b[0] === 0x89 && b.toString('latin1', 1, 4) === 'PNG',
  'image/jpeg': (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/webp': (b) => b.length > 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
}

export function createBatchApi(options: { apiKey: string; limits?: Partial<BatchLimits> }): BatchApi {
  const limits: BatchLimits = { ...OFFICIAL_BATCH_LIMITS, ...options.limits }
  const requests: BatchApiRequest[] = []
  const files = new Map<string, StoredFile>()
  const batches = new Map<string, BatchState>()
  let billedImages = 0
  const failures: Array<{ status: number; body?: unknown; headers?: Record<string, string> }> = []
  const now = () => Math.floor(Date.now() / 1000)
  const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`

  const api: BatchApi = {
    requests,
    files,
    batches,
    get billedImages() {
      return billedImages
    },
    outcome: () => 'ok',
    stepOnGet: false,
    advance,
    fail: (...answers) => void failures.push(...answers),
    setOutput(id, content) {
      const batch = mustBatch(id)
      if (!batch.object.output_file_id) throw new Error(`batch ${id} has no output file yet`)
      const file = files.get(batch.object.output_file_id)!
      file.content = content
    },
    linesOf(fileId) {
      const file = files.get(fileId)
      if (!file || !Buffer.isBuffer(file.content)) throw new Error(`no stored file ${fileId}`)
      return parseLines(file.content).map((l) => l.value as InputLine)
    },
    owns(req) {
      const path = (req.url ?? '').split('?')[0]!
      return path === '/v1/files' || path.startsWith('/v1/files/') || path === '/v1/batches' || path.startsWith('/v1/batches/')
    },
    handle,
    reset() {
      requests.length = 0
      failures.length = 0
      files.clear()
      batches.clear()
      billedImages = 0
      api.outcome = () => 'ok'
      api.stepOnGet = false
    },
  }
  return api

  function mustBatch(id: string): BatchState {
    const batch = batches.get(id)
    if (!batch) throw new Error(`no batch ${id}`)
    return batch
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator')
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]))
    const record: BatchApiRequest = { method: req.method ?? 'GET', path: url.pathname, status: 0, headers, receivedAt: Date.now() }
    requests.push(record)
    const reply = (status: number, body: unknown) => {
      record.status = status
      send(res, status, body)
    }
    const raw = await readBody(req)
    const failure = failures.shift()
    if (failure) {
      record.status = failure.status
      return send(res, failure.status, failure.body ?? { error: { message: 'The server had an error.', type: 'server_error', param: null, code: null } }, failure.headers)
    }
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      const answer = answers.unauthorized()
      return reply(answer.status, answer.body)
    }
    const notFound = (what: string) =>
      reply(404, { error: { message: `No such ${what}`, type: 'invalid_request_error', param: 'id', code: null } })

    let m: RegExpExecArray | null
    if (url.pathname === '/v1/files' && req.method === 'POST') return upload(req, raw, record, reply)
    if ((m = /^\/v1\/files\/([^/]+)$/.exec(url.pathname)) && req.method === 'GET') {
      const file = files.get(m[1]!)
      return file ? reply(200, fileObject(file)) : notFound(`File: ${m[1]}`)
    }
    if ((m = /^\/v1\/files\/([^/]+)$/.exec(url.pathname)) && req.method === 'DELETE') {
      const existed = files.delete(m[1]!)
      return existed ? reply(200, { id: m[1], object: 'file', deleted: true }) : notFound(`File: ${m[1]}`)
    }
    if ((m = /^\/v1\/files\/([^/]+)\/content$/.exec(url.pathname)) && req.method === 'GET') {
      const file = files.get(m[1]!)
      if (!file) return notFound(`File: ${m[1]}`)
      record.status = 200
      return streamContent(res, file.content)
    }
    if (url.pathname === '/v1/batches' && req.method === 'POST') return create(raw, reply)
    if (url.pathname === '/v1/batches' && req.method === 'GET') return reply(200, list(url.searchParams))
    if ((m = /^\/v1\/batches\/([^/]+)$/.exec(url.pathname)) && req.method === 'GET') {
      const batch = batches.get(m[1]!)
      if (!batch) return notFound(`batch: ${m[1]}`)
      if (api.stepOnGet) await advance(batch.object.id)
      return reply(200, batch.object)
    }
    if ((m = /^\/v1\/batches\/([^/]+)\/cancel$/.exec(url.pathname)) && req.method === 'POST') {
      const batch = batches.get(m[1]!)
      if (!batch) return notFound(`batch: ${m[1]}`)
      if (!['validating', 'in_progress', 'finalizing'].includes(batch.object.status)) {
        return reply(409, { error: { message: `Cannot cancel a batch with status '${batch.object.status}'.`, type: 'invalid_request_error', param: null, code: null } })
      }
      batch.object.status = 'cancelling'
      batch.object.cancelling_at = now()
      return reply(200, batch.object)
    }
    return reply(404, { error: { message: `no route ${req.method} ${url.pathname}`, type: 'invalid_request_error', param: null, code: 'not_found' } })
  }

  async function upload(req: IncomingMessage, raw: Buffer, record: BatchApiRequest, reply: (status: number, body: unknown) => void) {
    const type = req.headers['content-type'] ?? ''
    if (!type.startsWith('multipart/form-data')) return reply(400, invalid('file', 'Expected multipart/form-data.'))
    let form: FormData
    try {
      form = await new Request('http://emulator/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData()
    } catch {
      return reply(400, invalid('file', 'The multipart body could not be parsed.'))
    }
    const purpose = form.get('purpose')
    const file = form.get('file')
    record.purpose = typeof purpose === 'string' ? purpose : undefined
    if (typeof purpose !== 'string' || !['batch', 'vision', 'user_data'].includes(purpose)) return reply(400, invalid('purpose', `Invalid purpose: ${String(purpose)}.`))
    if (!file || typeof file === 'string') return reply(400, invalid('file', "Missing required parameter: 'file'."))
    const bytes = Buffer.from(await file.arrayBuffer())
    record.bytes = bytes.length
    if (purpose === 'batch') {
      if (bytes.length > limits.bytes) return reply(400, invalid('file', `File is larger than the ${limits.bytes} bytes a batch input file may have.`))
      if (!file.name.endsWith('.jsonl')) return reply(400, invalid('file', 'Invalid file format for Batch API. Must be .jsonl'))
    } else if (!Object.values(MAGIC).some((test) => test(bytes))) {
      return reply(400, invalid('file', 'Invalid image file.'))
    }
    const stored: StoredFile = { id: newId('file-'), purpose, filename: file.name, created_at: now(), bytes: bytes.length, content: bytes }
    files.set(stored.id, stored)
    return reply(200, fileObject(stored))
  }

  function create(raw: Buffer, reply: (status: number, body: unknown) => void) {
    let body: Record<string, unknown>
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
    } catch {
      return reply(400, invalid('body', 'The body is not JSON.'))
    }
    const input = typeof body.input_file_id === 'string' ? files.get(body.input_file_id) : undefined
    if (!input || input.purpose !== 'batch') return reply(400, invalid('input_file_id', `Invalid input_file_id: ${String(body.input_file_id)}.`))
    if (typeof body.endpoint !== 'string' || !IMAGE_ENDPOINTS.has(body.endpoint)) return reply(400, invalid('endpoint', `Invalid endpoint: ${String(body.endpoint)}.`))
    if (body.completion_window !== '24h') return reply(400, invalid('completion_window', "Invalid completion_window: must be '24h'."))
    const metadata = body.metadata ?? null
    if (metadata !== null && !validMetadata(metadata)) return reply(400, invalid('metadata', 'Metadata: at most 16 pairs, keys up to 64 and string values up to 512 characters.'))
    const created = now()
    const state: BatchState = {
      object: {
        id: newId('batch_'),
        object: 'batch',
        endpoint: body.endpoint,
        errors: null,
        input_file_id: input.id,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: created,
        in_progress_at: null,
        expires_at: created + 86_400,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        metadata: metadata as Record<string, string> | null,
      },
      lines: [],
      problems: [],
    }
    const checked = validateInput(input.content as Buffer, body.endpoint)
    state.lines = checked.lines
    state.problems = checked.problems
    batches.set(state.object.id, state)
    return reply(200, state.object)
  }

  function list(params: URLSearchParams) {
    const limit = Math.min(100, Math.max(1, Number(params.get('limit') ?? 20) || 20))
    const all = [...batches.values()].map((b) => b.object).reverse() // newest first
    const after = params.get('after')
    const start = after ? all.findIndex((b) => b.id === after) + 1 : 0
    const data = all.slice(start, start + limit)
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < all.length }
  }

  /** Check every line of an input file; a batch with any problem fails validation. */
  function validateInput(content: Buffer, endpoint: string): { lines: InputLine[]; problems: LineProblem[] } {
    const lines: InputLine[] = []
    const problems: LineProblem[] = []
    const seen = new Set<string>()
    const parsed = parseLines(content)
    if (parsed.length > limits.lines) {
      problems.push({ code: 'too_many_requests', message: `The file has ${parsed.length} requests; a batch takes at most ${limits.lines}.`, param: null, line: null })
    }
    for (const { line, value, error } of parsed) {
      const problem = (code: string, message: string, param: string | null = null) => problems.push({ code, message, param, line })
      if (error || value === null || typeof value !== 'object' || Array.isArray(value)) {
        problem('invalid_json_line', 'This line is not a JSON object.')
        continue
      }
      const entry = value as Record<string, unknown>
      if (typeof entry.custom_id !== 'string' || entry.custom_id === '') {
        problem('missing_required_parameter', "Missing 'custom_id'.", 'custom_id')
        continue
      }
      if (seen.has(entry.custom_id)) problem('duplicate_custom_id', `The custom_id '${entry.custom_id}' is used more than once.`, 'custom_id')
      seen.add(entry.custom_id)
      if (entry.method !== 'POST') problem('invalid_method', `Invalid method: ${String(entry.method)}; only POST is supported.`, 'method')
      if (entry.url !== endpoint) problem('mismatched_url', `The url ${String(entry.url)} differs from the batch's endpoint ${endpoint}.`, 'url')
      const body = entry.body
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        problem('invalid_request', "Missing 'body'.", 'body')
        continue
      }
      const bodyProblem = checkLineBody(endpoint, body as Record<string, unknown>)
      if (bodyProblem) problem('invalid_request', bodyProblem.message, bodyProblem.param)
      lines.push(entry as unknown as InputLine)
    }
    return { lines, problems: problems.slice(0, 1000) }
  }

  /** The official schema, plus what it leaves to prose: known fields, GPT image models, no streaming, real images. */
  function checkLineBody(endpoint: string, body: Record<string, unknown>): { message: string; param: string } | undefined {
    const errors = schemaErrors(endpoint === '/v1/images/edits' ? 'editsJson' : 'generations', body)
    if (errors) return { message: `Invalid request body: ${errors}`, param: errors.split(' ')[0]!.slice(1).split('/')[0] || 'body' }
    for (const key of Object.keys(body)) {
      if (!LINE_FIELDS[endpoint]!.has(key)) return { message: `Unknown parameter: '${key}'.`, param: key }
    }
    if (!GPT_IMAGE.test(String(body.model ?? ''))) return { message: `The model '${String(body.model)}' is not supported by the Batch API.`, param: 'model' }
    if (body.stream === true) return { message: 'Streaming is not supported in a batch.', param: 'stream' }
    if (body.response_format !== undefined) return { message: "Unknown parameter: 'response_format'.", param: 'response_format' }
    if (endpoint === '/v1/images/edits') {
      const refs = [...(body.images as unknown[]).map((ref, i) => [`images[${i}]`, ref] as const), ...(body.mask === undefined ? [] : [['mask', body.mask] as const])]
      for (const [param, ref] of refs) {
        const problem = checkImageRef(ref as { image_url?: string; file_id?: string })
        if (problem) return { message: `Invalid ${param}: ${problem}`, param }
      }
    }
    return undefined
  }

  function checkImageRef(ref: { image_url?: string; file_id?: string }): string | undefined {
    if (ref.file_id !== undefined) {
      const file = files.get(ref.file_id)
      return file && file.purpose !== 'batch' ? undefined : `no uploaded image ${ref.file_id}`
    }
    const match = /^data:(image\/(?:png|jpeg|webp));base64,([A-Za-z0-9+/]+={0,2})$/.exec(ref.image_url ?? '')
    if (!match) return 'image_url must be a base64 data URL of a png, jpeg or webp image (this emulator fetches no URLs)'
    const bytes = Buffer.from(match[2]!, 'base64')
    return MAGIC[match[1]!]!(bytes) ? undefined : `the data URL is not a ${match[1]} image`
  }

  async function advance(id: string, target?: BatchStatus): Promise<BatchObject> {
    const batch = mustBatch(id)
    const o = batch.object
    const final = ['completed', 'failed', 'expired', 'cancelled']
    if (final.includes(o.status)) return o
    if (target === 'failed' || (o.status === 'validating' && batch.problems.length > 0)) {
      o.status = 'failed'
      o.failed_at = now()
      o.errors = { object: 'list', data: batch.problems.length ? batch.problems : [{ code: 'server_error', message: 'The batch failed.', param: null, line: null }] }
      return o
    }
    if (target === 'expired' || target === 'cancelled') {
      if (target === 'cancelled' && o.status !== 'cancelling') {
        o.status = 'cancelling'
        o.cancelling_at = now()
      }
      o.in_progress_at ??= now()
      await run(batch, target)
      return o
    }
    for (;;) {
      switch (o.status) {
        case 'validating':
          o.status = 'in_progress'
          o.in_progress_at = now()
          o.request_counts = { total: batch.lines.length, completed: 0, failed: 0 }
          break
        case 'in_progress':
          o.status = 'finalizing'
          o.finalizing_at = now()
          break
        case 'finalizing':
          await run(batch, 'completed')
          break
        case 'cancelling':
          await run(batch, 'cancelled')
          break
      }
      if (target === undefined || o.status === target || final.includes(o.status)) return o
    }
  }

  /** Run every line (late ones only when the batch completes) and write the output and error files. */
  async function run(batch: BatchState, status: 'completed' | 'expired' | 'cancelled'): Promise<void> {
    const o = batch.object
    const output: string[] = []
    const errors: string[] = []
    for (const line of batch.lines) {
      const outcome = api.outcome(line)
      const requestId = `req_${randomBytes(8).toString('hex')}`
      const entry = (response: unknown, error: unknown = null) => JSON.stringify({ id: newId('batch_req_'), custom_id: line.custom_id, response, error })
      if (outcome === 'late' && status !== 'completed') {
        const code = status === 'expired' ? 'batch_expired' : 'batch_cancelled'
        errors.push(entry(null, { code, message: status === 'expired' ? 'This request could not be executed before the completion window expired.' : 'This request was not executed because the batch was cancelled.' }))
      } else if (outcome === 'content-filter') {
        errors.push(entry({ status_code: 400, request_id: requestId, body: answers.moderationBlocked('input', ['violence']).body }))
      } else if (outcome === 'invalid') {
        errors.push(entry({ status_code: 400, request_id: requestId, body: answers.invalidParameter('prompt', 'Invalid value for prompt.').body }))
      } else {
        output.push(entry({ status_code: 200, request_id: requestId, body: await imagesBody(line) }))
      }
    }
    // In no particular order, as the real service writes them.
    output.reverse()
    const store = (lines: string[], purpose: string) => {
      const content = Buffer.from(lines.map((l) => `${l}\n`).join(''))
      const file: StoredFile = { id: newId('file-'), purpose, filename: `${o.id}_${purpose}.jsonl`, created_at: now(), bytes: content.length, content }
      files.set(file.id, file)
      return file.id
    }
    o.output_file_id = output.length ? store(output, 'batch_output') : null
    o.error_file_id = errors.length ? store(errors, 'batch_output') : null
    o.request_counts = { total: batch.lines.length, completed: output.length, failed: errors.length }
    o.status = status
    o[`${status}_at`] = now()
  }

  async function imagesBody(line: InputLine) {
    const body = line.body
    const n = Number(body.n ?? 1)
    const format = String(body.output_format ?? 'png') as 'png' | 'jpeg' | 'webp'
    const { width, height } = sizeOf(body.size)
    const images: string[] = []
    for (let i = 0; i < n; i++) {
      const seed = `${String(body.prompt)}|${line.custom_id}|${i}`
      images.push((await renderImage({ seed, width, height, format, transparent: body.background === 'transparent' })).toString('base64'))
    }
    billedImages += n
    const usage = { input_tokens: 50, output_tokens: 272 * n, total_tokens: 50 + 272 * n, input_tokens_details: { text_tokens: 50, image_tokens: 0 } }
    return { created: now(), data: images.map((b64_json) => ({ b64_json })), usage, size: `${width}x${height}`, quality: 'high', background: 'opaque', output_format: format }
  }
}

function parseLines(content: Buffer): Array<{ line: number; value: unknown; error?: true }> {
  const out: Array<{ line: number; value: unknown; error?: true }> = []
  content
    .toString('utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return
      try {
        out.push({ line: i + 1, value: JSON.parse(text) })
      } catch {
        out.push({ line: i + 1, value: undefined, error: true })
      }
    })
  return out
}

function validMetadata(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const entries = Object.entries(value as Record<string, unknown>)
  return entries.length <= 16 && entries.every(([k, v]) => k.length <= 64 && typeof v === 'string' && v.length <= 512)
}

function fileObject(file: StoredFile) {
  return { id: file.id, object: 'file', bytes: file.bytes, created_at: file.created_at, filename: file.filename, purpose: file.purpose, status: 'processed', status_details: null }
}

function invalid(param: string, message: string) {
  return { error: { message, type: 'invalid_request_error', param, code: null } }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function streamContent(res: ServerResponse, content: Content): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream' })
  if (Buffer.isBuffer(content)) {
    res.end(content)
    return
  }
  let closed = false
  res.on('close', () => (closed = true))
  for await (const chunk of content()) {
    if (closed) return
    if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')])
  }
  res.end()
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'x-request-id': `req_${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 16)}` })
  res.end(JSON.stringify(body))
}
