/**
 * A local emulator of the OpenAI and Azure OpenAI Images APIs: a real HTTP server on 127.0.0.1 at a
 * random port, speaking the wire format of API-FACTS.md (JSON, multipart, SSE) and returning real
 * image bytes. Tests point the plugin at it through OPENAI_BASE_URL / AZURE_OPENAI_ENDPOINT.
 *
 * Shape: `route()` says which API and operation a request is; `readRequest()` parses and records it;
 * a scripted answer (tests `enqueue` them) or the default behaviour (`answerImages`) replies.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { renderImage, sizeOf } from './render.js'
import { schemaErrors, type SchemaName } from './schema.js'
import { answers, type HttpAnswer, type ScriptedAnswer } from './answers.js'
import { isStreamFault, streamImages } from './sse.js'
import { Traffic, type TrafficOptions } from './faults.js'
import { answerHostile, isHostile, serveDownload, type DownloadKind } from './hostile.js'
import { createBatchApi, type BatchApi, type BatchLimits } from './batch.js'
import { answeredQuality, usageOf } from './usage.js'
import { withC2pa } from './render.js'

export { answers, type ScriptedAnswer } from './answers.js'
export type { FaultKind, TrafficOptions } from './faults.js'
export { bombPng, type EchoPlace, type DownloadKind } from './hostile.js'
export { C2PA_MANIFEST, c2paOf } from './render.js'
export { INPUT_IMAGE_TOKENS, PREVIEW_TOKENS, PROMPT_TOKENS, outputTokens, usageOf } from './usage.js'
export type { BatchApi, BatchObject, BatchStatus, InputLine, LineOutcome } from './batch.js'

export const TEST_OPENAI_KEY = 'sk-test.emulator.0123456789.abcdefXYZ'
export const TEST_AZURE_KEY = 'azure-test-key-0123456789abcdef'

export type Operation = 'generations' | 'edits' | 'variations'

export interface RecordedFile {
  field: string
  filename: string
  type: string
  size: number
  sha256: string
}

export interface RecordedRequest {
  api: 'openai' | 'azure'
  operation: Operation
  /** Azure deployment from the URL (deployment routes) or `model` (v1 routes). */
  deployment?: string
  apiVersion?: string
  url: string
  headers: Record<string, string>
  /** JSON body, or the multipart fields (numbers as the strings that were sent). */
  body: Record<string, unknown>
  files: RecordedFile[]
  status?: number
  /** Images this request was billed for. */
  billed: number
  /** SHA-256 of each image answered (for a stream: each `completed` image). */
  returned?: string[]
  /** SHA-256 of each streamed partial frame. */
  partials?: string[]
  /** When the request was read (epoch ms). */
  receivedAt: number
  /** Bytes of the answer written to the socket (hostile answers), to show a client hung up early. */
  sentBytes?: number
}

/** A GET of an image `url` the emulator handed out (hostile.ts `urlImage`). */
export interface RecordedDownload {
  kind: DownloadKind
  headers: Record<string, string>
  status: number
  sentBytes: number
}

export interface EmulatorOptions {
  apiKey?: string
  azureKey?: string
  /** Bearer tokens accepted on Azure routes (Entra ID). */
  azureTokens?: string[]
  /** Delay before each answer. */
  latencyMs?: number
  /** Server capacity, rate window and injected faults (faults.ts). */
  traffic?: TrafficOptions
  /** Answer with incompressible (noise) images, as large as real ones, instead of solid colours. */
  noise?: boolean
  /** Limits of a Batch API input file (default: the official 50,000 lines and 200 MB). */
  batchLimits?: Partial<BatchLimits>
  /**
   * Sign every answered image with (fake) C2PA content credentials, as OpenAI does: a `caBX` chunk in a PNG, an
   * APP11 JUMBF segment in a JPEG (`C2PA_MANIFEST`; `c2paOf` finds it in a file).
   */
  c2pa?: boolean
}

export interface Emulator {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** `<url>/v1`, the OPENAI_BASE_URL of the emulator. */
  openaiBaseURL: string
  requests: RecordedRequest[]
  /** GETs of image URLs the emulator handed out. */
  downloads: RecordedDownload[]
  /** Images billed so far (successful answers and answers broken after generation). */
  readonly billedImages: number
  /** Server capacity, rate window and fault schedule, with counts of what was injected. */
  traffic?: Traffic
  /** The Files and Batches endpoints (batch.ts): their requests, and the controls of each batch. */
  batches: BatchApi
  /**
   * Resolves once no request is being worked on. A request whose client died (SIGKILL) is still finished
   * and billed, as on a real server: wait for that before counting what the next run pays for.
   */
  idle(): Promise<void>
  /** Answers for the next requests, in order, one each, before the default behaviour. */
  enqueue(...answers: ScriptedAnswer[]): void
  /** Env for a child process or `process.env` patch pointing the OpenAI provider here. */
  openaiEnv(): Record<string, string>
  reset(): void
  close(): Promise<void>
}

interface Route {
  api: 'openai' | 'azure'
  operation: Operation
  deployment?: string
  apiVersion?: string
}

function route(req: IncomingMessage): Route | undefined {
  const url = new URL(req.url ?? '/', 'http://emulator')
  const apiVersion = url.searchParams.get('api-version') ?? undefined
  let m = /^\/v1\/images\/(generations|edits|variations)$/.exec(url.pathname)
  if (m) return { api: 'openai', operation: m[1] as Operation }
  m = /^\/openai\/deployments\/([^/]+)\/images\/(generations|edits|variations)$/.exec(url.pathname)
  if (m) return { api: 'azure', operation: m[2] as Operation, deployment: decodeURIComponent(m[1]!), ...(apiVersion ? { apiVersion } : {}) }
  m = /^\/openai\/v1\/images\/(generations|edits|variations)$/.exec(url.pathname)
  if (m) return { api: 'azure', operation: m[1] as Operation, ...(apiVersion ? { apiVersion } : {}) }
  return undefined
}

const GPT_IMAGE = /^gpt-image|^chatgpt-image/

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const apiKey = options.apiKey ?? TEST_OPENAI_KEY
  const azureKey = options.azureKey ?? TEST_AZURE_KEY
  const queue: ScriptedAnswer[] = []
  const requests: RecordedRequest[] = []
  const downloads: RecordedDownload[] = []
  const downloadKinds = new Map<string, DownloadKind>()
  const sockets = new Set<Socket>()
  let billedImages = 0
  /** Requests being worked on, whether or not their client is still there. */
  let working = 0
  const traffic = options.traffic ? new Traffic(options.traffic) : undefined
  const batches = createBatchApi({ apiKey, ...(options.batchLimits ? { limits: options.batchLimits } : {}) })
  const bill = (record: RecordedRequest) => {
    const n = Number(coerceMultipart(record).n ?? 1)
    record.billed = n
    billedImages += n
  }

  const server: Server = createServer((req, res) => {
    working++
    handle(req, res)
      .finally(() => working--)
      .catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, { error: { message: String(error), type: 'server_error', param: null, code: null } })
        else res.destroy()
      })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const download = /^\/download\/([\w-]+)$/.exec(req.url ?? '')
    if (download && req.method === 'GET') return serveHandedOut(req, res, download[1]!)
    if (batches.owns(req)) return batches.handle(req, res)
    const where = route(req)
    if (!where || req.method !== 'POST') return send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: 'not_found' } })
    const record = await readRequest(req, where)
    requests.push(record)
    const limited = traffic?.rateLimit(Number(coerceMultipart(record).n ?? 1))
    if (limited) return reply(res, record, limited)
    await traffic?.admit(res)
    let scripted = queue.shift()
    const fault = scripted ? undefined : traffic?.next()
    if (fault?.immediate) return reply(res, record, fault.answer as HttpAnswer)
    scripted ??= fault?.answer
    // The latency is the time to the answer: rendering images happens within it, as on a real server.
    const http = scripted && (scripted.kind === undefined || scripted.kind === 'http') ? (scripted as HttpAnswer) : undefined
    const part = http?.at ?? (scripted?.kind === 'drop' ? scripted.at : undefined) ?? 1
    const answerAt = Date.now() + (http?.afterMs ?? (options.latencyMs ?? 0) * part)
    const untilAnswer = () => delay(answerAt - Date.now())
    if (!(scripted === undefined || scripted.kind === 'truncated-base64' || scripted.kind === 'not-json' || scripted.kind === 'wrong-size')) await untilAnswer()

    if (scripted && (scripted.kind === undefined || scripted.kind === 'http')) return reply(res, record, scripted as HttpAnswer)
    if (scripted?.kind === 'drop') {
      if (scripted.billed) bill(record)
      return req.socket.destroy()
    }
    if (scripted?.kind === 'stall') {
      if (scripted.billed) bill(record)
      return // never answers; the client's timeout must fire
    }

    const refusal = checkAuth(record) ?? checkBody(record)
    if (refusal) {
      await untilAnswer()
      return reply(res, record, refusal)
    }
    if (isHostile(scripted)) {
      const sent = { bytes: 0 }
      record.status = await answerHostile(scripted, {
        req,
        res,
        body: coerceMultipart(record),
        secret: (record.headers.authorization ?? '').replace(/^Bearer\s+/i, '') || (record.headers['api-key'] ?? ''),
        origin: url,
        requestId: `req_hostile_${requests.length}`,
        sent,
        registerDownload: (kind) => {
          const id = `d${downloadKinds.size}-${Date.now()}`
          downloadKinds.set(id, kind)
          return id
        },
      }).finally(() => (record.sentBytes = sent.bytes))
      return
    }
    return answerImages(res, record, scripted, untilAnswer)
  }

  async function serveHandedOut(req: IncomingMessage, res: ServerResponse, id: string) {
    const kind = downloadKinds.get(id)
    if (!kind) return send(res, 404, { error: { message: 'no such file' } })
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]))
    const record: RecordedDownload = { kind, headers, status: 0, sentBytes: 0 }
    downloads.push(record)
    const sent = { bytes: 0 }
    record.status = await serveDownload(kind, res, sent).finally(() => (record.sentBytes = sent.bytes))
  }

  function checkAuth(record: RecordedRequest): HttpAnswer | undefined {
    const { headers } = record
    if (record.api === 'openai') {
      return headers.authorization === `Bearer ${apiKey}` ? undefined : answers.unauthorized(maskKey(headers.authorization))
    }
    const hasKey = headers['api-key'] !== undefined
    const hasBearer = headers.authorization !== undefined
    if (hasKey && hasBearer) return answers.invalidParameter('authorization', 'Send either api-key or Authorization, not both.')
    if (hasKey && headers['api-key'] === azureKey) return undefined
    if (hasBearer && (options.azureTokens ?? []).some((t) => headers.authorization === `Bearer ${t}`)) return undefined
    return { status: 401, body: { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint.' } } }
  }

  /** The official schema, plus rules the schema leaves to prose (API-FACTS.md). */
  function checkBody(record: RecordedRequest): HttpAnswer | undefined {
    const body = coerceMultipart(record)
    const schema: SchemaName = record.operation
    const errors = schemaErrors(schema, { ...body, ...filesAsBinary(record) })
    if (errors) return answers.invalidParameter(errors.split(' ')[0]!.slice(1) || 'body', `Invalid request: ${errors}`)
    const known = KNOWN_FIELDS[record.operation]
    for (const key of Object.keys(body)) {
      if (!known.has(key)) return answers.invalidParameter(key, `Unknown parameter: '${key}'.`)
    }
    const azureRefusal = record.api === 'azure' ? checkAzure(record, body) : undefined
    if (azureRefusal) return azureRefusal
    const model = String(body.model ?? record.deployment ?? '')
    if (GPT_IMAGE.test(model) && body.response_format !== undefined) {
      return answers.invalidParameter('response_format', "Unknown parameter: 'response_format'.")
    }
    for (const file of record.files) {
      if (!/^image\/(png|jpeg|webp)$/.test(file.type)) {
        return answers.invalidParameter(file.field, `Invalid file '${file.field}': unsupported mimetype ('${file.type}').`)
      }
    }
    return undefined
  }

  async function answerImages(res: ServerResponse, record: RecordedRequest, scripted: ScriptedAnswer | undefined, untilAnswer: () => Promise<unknown>) {
    const body = coerceMultipart(record)
    const n = Number(body.n ?? 1)
    const model = String(body.model ?? record.deployment ?? 'dall-e-2')
    const gpt = GPT_IMAGE.test(model)
    const format = (gpt ? String(body.output_format ?? 'png') : 'png') as 'png' | 'jpeg' | 'webp'
    const { width, height } = sizeOf(scripted?.kind === 'wrong-size' ? '64x64' : body.size)
    const seed = `${body.prompt ?? ''}|${record.files.map((f) => f.sha256).join(',')}|${requests.length}`
    const images: string[] = []
    for (let i = 0; i < n; i++) {
      const image = await renderImage({ seed: `${seed}|${i}`, width, height, format, transparent: body.background === 'transparent', noise: options.noise })
      images.push(base64Of(options.c2pa ? withC2pa(image, format) : image))
    }
    const created = Math.floor(Date.now() / 1000)
    const inputImages = record.files.filter((f) => f.field.startsWith('image')).length
    const partials = body.stream === true ? Number(body.partial_images ?? 0) : 0
    const usageFor = (count: number, withInput = true) => {
      const usage = usageOf({ model, quality: body.quality, width, height, images: count, inputImages, previews: partials })
      if (withInput) return usage
      // The prompt and inputs are billed once per request: later events of a stream carry output tokens only.
      return { ...usage, input_tokens: 0, total_tokens: usage.output_tokens, input_tokens_details: { text_tokens: 0, image_tokens: 0 } }
    }
    const usage = usageFor(n)
    const requestId = `req_${createHash('sha256').update(`${requests.length}`).digest('hex').slice(0, 16)}`

    if (body.stream === true) {
      await untilAnswer()
      bill(record)
      record.status = 200
      const facts = { operation: record.operation, created, usage: (i: number) => usageFor(1, i === 0), partials, requestId, width, height, format, seed, transparent: body.background === 'transparent' }
      const sent = await streamImages(res, images, facts, isStreamFault(scripted) ? scripted : undefined)
      Object.assign(record, { partials: sent.partials, returned: sent.completed })
      return
    }
    record.returned = images.map((b64) => createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex'))

    if (scripted?.kind === 'truncated-base64') images[0] = images[0]!.slice(0, Math.floor(images[0]!.length / 2) + 1)
    const data = images.map((b64_json) => ({ b64_json, ...(model.startsWith('dall-e-3') ? { revised_prompt: `revised: ${body.prompt}` } : {}) }))
    // OpenAI echoes what it made (ImagesResponse); Azure's answer is created, data (with content-filter results)
    // and usage, without the echo (REST spec inference 2025-04-01-preview, examples/image_edits.json).
    const echo = { size: `${width}x${height}`, quality: answeredQuality(body.quality), background: body.background === 'transparent' ? 'transparent' : 'opaque', output_format: format }
    const payload = {
      created,
      data: record.api === 'azure' ? data.map((d) => ({ ...d, content_filter_results: {}, prompt_filter_results: {} })) : data,
      ...(gpt ? { usage, ...(record.api === 'azure' ? {} : echo) } : {}),
    }
    // Serialized before the wait, so the latency is the whole time to the answer.
    const text = scripted?.kind === 'not-json' ? '{"created": 1, "data": [{"b64_json": "iVBO' : jsonWithImages(payload, images)
    await untilAnswer()
    // Billed when the generation is done, whether or not the answer then reaches the client intact.
    bill(record)
    return reply(res, record, { status: 200, headers: { 'x-request-id': requestId }, body: text })
  }

  function reply(res: ServerResponse, record: RecordedRequest, answer: HttpAnswer) {
    record.status = answer.status
    send(res, answer.status, answer.body, answer.headers)
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`

  return {
    url,
    openaiBaseURL: `${url}/v1`,
    requests,
    downloads,
    ...(traffic ? { traffic } : {}),
    batches,
    get billedImages() {
      return billedImages
    },
    enqueue: (...more) => void queue.push(...more),
    openaiEnv: () => ({ OPENAI_API_KEY: apiKey, OPENAI_BASE_URL: `${url}/v1` }),
    async idle() {
      while (working > 0) await delay(5)
    },
    reset() {
      queue.length = 0
      requests.length = 0
      downloads.length = 0
      billedImages = 0
      batches.reset()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

const GENERATION_FIELDS = ['prompt', 'model', 'n', 'quality', 'response_format', 'output_format', 'output_compression', 'stream', 'partial_images', 'size', 'moderation', 'background', 'style', 'user']
const KNOWN_FIELDS: Record<Operation, Set<string>> = {
  generations: new Set(GENERATION_FIELDS),
  edits: new Set(['prompt', 'model', 'n', 'quality', 'response_format', 'output_format', 'output_compression', 'stream', 'partial_images', 'size', 'background', 'input_fidelity', 'user']),
  variations: new Set(['model', 'n', 'response_format', 'size', 'user']),
}

async function readRequest(req: IncomingMessage, where: Route): Promise<RecordedRequest> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const raw = Buffer.concat(chunks)
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]))
  const record: RecordedRequest = { ...where, url: req.url ?? '', headers, body: {}, files: [], billed: 0, receivedAt: Date.now() }
  const type = headers['content-type'] ?? ''
  if (type.startsWith('multipart/form-data')) {
    // The WHATWG Request parser (undici, bundled with Node) reads multipart exactly as a server would.
    const form = await new Request('http://emulator/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData()
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        record.body[field] = value
      } else {
        const bytes = Buffer.from(await value.arrayBuffer())
        record.files.push({ field, filename: value.name, type: value.type, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
      }
    }
  } else {
    try {
      record.body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
    } catch {
      record.body = { __unparsable: raw.toString('utf8').slice(0, 200) }
    }
  }
  if (where.api === 'azure' && where.deployment === undefined && typeof record.body.model === 'string') record.deployment = record.body.model
  return record
}

/** Multipart sends numbers and booleans as strings; the API reads them as their types. */
function coerceMultipart(record: RecordedRequest): Record<string, unknown> {
  if (record.files.length === 0 && record.operation === 'generations') return record.body
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(record.body)) {
    out[k] = typeof v !== 'string' ? v : /^\d+$/.test(v) && ['n', 'output_compression', 'partial_images'].includes(k) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v
  }
  return out
}

function filesAsBinary(record: RecordedRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const file of record.files) {
    const field = file.field.replace(/\[\]$/, '')
    if (file.field.endsWith('[]')) out[field] = [...((out[field] as string[] | undefined) ?? []), 'binary']
    else out[field] = 'binary'
  }
  return out
}

/**
 * What Azure OpenAI refuses beyond the OpenAI schema (API-FACTS.md "Azure OpenAI": output png/jpeg, edit inputs
 * png/jpg; Azure's image generation how-to guide: GPT image qualities low/medium/high and the listed sizes,
 * without `auto`).
 */
function checkAzure(record: RecordedRequest, body: Record<string, unknown>): HttpAnswer | undefined {
  if (record.operation === 'variations') return { status: 404, body: { error: { code: '404', message: 'Resource not found' } } }
  if (!record.url.startsWith('/openai/v1/') && !record.apiVersion) return answers.invalidParameter('api-version', 'Missing required query parameter api-version.')
  if (body.moderation !== undefined) return answers.invalidParameter('moderation', "Unknown parameter: 'moderation'.")
  if (body.output_format === 'webp') return answers.invalidParameter('output_format', "Invalid value: 'webp'. Supported values are: 'png' and 'jpeg'.")
  if (body.quality === 'auto') return answers.invalidParameter('quality', "Invalid value: 'auto'. Supported values are: 'low', 'medium', 'high', 'standard' and 'hd'.")
  if (body.size === 'auto') return answers.invalidParameter('size', "Invalid value: 'auto'. Supported values are: '1024x1024', '1024x1536', '1536x1024', '1792x1024' and '1024x1792'.")
  for (const file of record.files) {
    if (file.type !== 'image/png' && file.type !== 'image/jpeg') {
      return answers.invalidParameter(file.field, `Invalid file '${file.field}': only png and jpg images are supported.`)
    }
  }
  return undefined
}

function maskKey(authorization: string | undefined): string {
  const key = (authorization ?? '').replace(/^Bearer\s+/i, '')
  return key.length > 8 ? `${key.slice(0, 5)}****${key.slice(-4)}` : '****'
}

const base64Cache = new WeakMap<Buffer, string>()

/** Base64 of an image, remembered for the reused (pooled) noise images of the benchmark. */
function base64Of(image: Buffer): string {
  let text = base64Cache.get(image)
  if (text === undefined) base64Cache.set(image, (text = image.toString('base64')))
  return text
}

/** JSON.stringify without scanning megabytes of base64 for characters to escape (base64 has none). */
function jsonWithImages(payload: { data: Array<{ b64_json: string }> }, images: string[]): string {
  const marker = (i: number) => `\u0000image-${i}\u0000`
  const parts = JSON.stringify({ ...payload, data: payload.data.map((d, i) => ({ ...d, b64_json: marker(i) })) }).split(/\\u0000image-\d+\\u0000/)
  return parts.reduce((out, part, i) => out + (i > 0 ? (images[i - 1] ?? '') : '') + part, '')
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? {})
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(text)
}

function delay(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}
