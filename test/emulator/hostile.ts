/**
 * Answers of a hostile or broken OpenAI-compatible server (DESIGN.md "Trust boundaries": the API server is
 * untrusted), for the adversarial tests: bodies far larger than any image, an SSE line that never ends,
 * previews that never stop, images whose header declares 16000x16000 pixels, the caller's own key echoed in
 * every place an answer has text, redirects, and `url` answers that point somewhere they should not.
 *
 * Large bodies are generated lazily, chunk by chunk, with backpressure: the emulator never holds more than
 * one chunk, so a test can send 500 MB and measure only the client. What was written is counted in
 * `record.sentBytes`, so a test can show the client hung up early instead of reading everything.
 */
import { crc32, deflateSync } from 'node:zlib'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { renderImage, sizeOf } from './render.js'

/** Where `echoSecret` puts the key the request carried. */
export type EchoPlace =
  /** A 400 whose `error.message` and `error.param` quote the key. */
  | 'error-message'
  /** A 500 whose `x-request-id` header is the key. */
  | 'error-header'
  /** A 400 content-filter verdict whose categories name the key. */
  | 'content-filter'
  /** A good answer whose `x-request-id` header is the key. */
  | 'request-id'
  /** A good answer whose `revised_prompt` quotes the key. */
  | 'revised_prompt'
  /** A good answer with the key in `usage` (a number field turned string, and an extra field). */
  | 'usage'
  /** A good answer whose `created` is the key (a string where a number belongs). */
  | 'created'
  /** A streamed `error` event quoting the key. */
  | 'stream-error'
  /** A streamed answer with the key in `revised_prompt`, `usage` and the request id. */
  | 'stream-fields'

/** Where the image of a `url` answer is served, and how. */
export type DownloadKind = 'image' | 'huge' | 'redirect' | 'not-http' | 'credentials'

export type HostileAnswer =
  | { kind: 'huge-body'; bytes: number; status: number; contentLength: boolean }
  | { kind: 'endless-sse-line'; bytes: number }
  | { kind: 'endless-partials'; bytes: number }
  | { kind: 'huge-image'; width: number; height: number; where: 'final' | 'partial' }
  | { kind: 'echo-secret'; where: EchoPlace }
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'url-image'; download: DownloadKind }

const HOSTILE_KINDS = new Set(['huge-body', 'endless-sse-line', 'endless-partials', 'huge-image', 'echo-secret', 'redirect', 'url-image'])

export function isHostile(answer: { kind?: string } | undefined): answer is HostileAnswer {
  return answer !== undefined && HOSTILE_KINDS.has(answer.kind ?? '')
}

const GiB = 1024 ** 3

export const hostileAnswers = {
  /**
   * A body of `bytes` bytes that starts like an Images answer and never ends its base64 (status 200 unless
   * given). `contentLength` announces the size up front, so a client can refuse it before reading.
   */
  hugeBody(bytes: number, options: { status?: number; contentLength?: boolean } = {}): HostileAnswer {
    return { kind: 'huge-body', bytes, status: options.status ?? 200, contentLength: options.contentLength ?? false }
  },
  /** A 200 `text/event-stream` whose first `data:` line never gets a newline (up to `bytes`). */
  endlessSseLine(bytes = 2 * GiB): HostileAnswer {
    return { kind: 'endless-sse-line', bytes }
  },
  /** A 200 `text/event-stream` of well-formed partial previews that never reaches `completed` (up to `bytes`). */
  endlessPartials(bytes = 2 * GiB): HostileAnswer {
    return { kind: 'endless-partials', bytes }
  },
  /**
   * A real, valid PNG whose header says `width`x`height` (1-bit grey, all black: tiny on the wire, a
   * decompression bomb for a decoder), as the final image or (streamed) as each partial preview.
   */
  hugeImage(width: number, height: number, where: 'final' | 'partial' = 'final'): HostileAnswer {
    return { kind: 'huge-image', width, height, where }
  },
  /** The API key (or bearer token) of the request, echoed back in the given place. */
  echoSecret(where: EchoPlace): HostileAnswer {
    return { kind: 'echo-secret', where }
  },
  redirect(location: string, status = 307): HostileAnswer {
    return { kind: 'redirect', status, location }
  },
  /** A DALL-E style answer with a `url` instead of `b64_json`, served by the emulator as `download` says. */
  urlImage(download: DownloadKind): HostileAnswer {
    return { kind: 'url-image', download }
  },
}

export interface HostileContext {
  req: IncomingMessage
  res: ServerResponse
  /** The request body (multipart fields coerced). */
  body: Record<string, unknown>
  /** The key or bearer token the request carried. */
  secret: string
  /** `http://127.0.0.1:<port>` */
  origin: string
  requestId: string
  /** Counts what was written to the socket (`record.sentBytes`). */
  sent: { bytes: number }
  /** Registers a download the emulator serves at `/download/<id>`. */
  registerDownload(kind: DownloadKind): string
}

export async function answerHostile(answer: HostileAnswer, ctx: HostileContext): Promise<number> {
  const { res, body, secret } = ctx
  const created = Math.floor(Date.now() / 1000)
  switch (answer.kind) {
    case 'huge-body': {
      const head = answer.status === 200 ? `{"created":${created},"data":[{"b64_json":"` : '{"error":{"message":"'
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'x-request-id': ctx.requestId,
        ...(answer.contentLength ? { 'content-length': String(answer.bytes) } : {}),
      })
      await pour(res, head, answer.bytes, 'A', ctx.sent)
      return answer.status
    }
    case 'endless-sse-line': {
      res.writeHead(200, sseHeaders(ctx.requestId))
      await pour(res, 'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image","b64_json":"', answer.bytes, 'A', ctx.sent)
      return 200
    }
    case 'endless-partials': {
      res.writeHead(200, sseHeaders(ctx.requestId))
      const { width, height } = sizeOf(body.size, '256x256')
      const frame = (await renderImage({ seed: 'endless', width, height, format: 'png' })).toString('base64')
      for (let p = 0; ctx.sent.bytes < answer.bytes; p++) {
        const event = `event: image_generation.partial_image\ndata: ${JSON.stringify({ type: 'image_generation.partial_image', b64_json: frame, partial_image_index: p })}\n\n`
        if (!(await write(res, event, ctx.sent))) break
      }
      res.end()
      return 200
    }
    case 'huge-image': {
      const big = bombPng(answer.width, answer.height).toString('base64')
      const normal = await imageFor(body, 'normal')
      if (body.stream === true || body.stream === 'true') {
        res.writeHead(200, sseHeaders(ctx.requestId))
        const partials = answer.where === 'partial' ? Math.max(1, Number(body.partial_images ?? 1)) : 0
        for (let p = 0; p < partials; p++) {
          await write(res, sse('image_generation.partial_image', { b64_json: big, partial_image_index: p }), ctx.sent)
        }
        await write(res, sse('image_generation.completed', { b64_json: answer.where === 'final' ? big : normal, created_at: created }), ctx.sent)
        res.end()
        return 200
      }
      return json(res, 200, { created, data: [{ b64_json: answer.where === 'final' ? big : normal }] }, { 'x-request-id': ctx.requestId }, ctx.sent)
    }
    case 'echo-secret':
      return echoSecret(answer.where, ctx, created)
    case 'redirect':
      return json(res, answer.status, { error: { message: 'moved', type: 'redirect', param: null, code: null } }, { location: answer.location, 'x-request-id': ctx.requestId }, ctx.sent)
    case 'url-image': {
      const id = ctx.registerDownload(answer.download)
      const url =
        answer.download === 'not-http'
          ? `file:///etc/passwd#${id}`
          : answer.download === 'credentials'
            ? `${ctx.origin.replace('://', '://user:pass@')}/download/${id}`
            : `${ctx.origin}/download/${id}`
      return json(res, 200, { created, data: [{ url }] }, { 'x-request-id': ctx.requestId }, ctx.sent)
    }
  }
}

async function echoSecret(where: EchoPlace, ctx: HostileContext, created: number): Promise<number> {
  const { res, secret, body } = ctx
  const said = `Incorrect API key provided: ${secret}.`
  switch (where) {
    case 'error-message':
      return json(res, 400, { error: { message: said, type: 'invalid_request_error', param: secret, code: 'invalid_value' } }, { 'x-request-id': ctx.requestId }, ctx.sent)
    case 'error-header':
      return json(res, 500, { error: { message: 'The server had an error.', type: 'server_error', param: null, code: null } }, { 'x-request-id': secret }, ctx.sent)
    case 'content-filter':
      return json(
        res,
        400,
        { error: { message: said, type: 'image_generation_user_error', param: null, code: 'moderation_blocked', moderation_details: { moderation_stage: 'output', categories: [secret] } } },
        { 'x-request-id': ctx.requestId },
        ctx.sent,
      )
    case 'stream-error':
      res.writeHead(200, sseHeaders(ctx.requestId))
      await write(res, `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'server_error', code: secret, message: said } })}\n\n`, ctx.sent)
      res.end()
      return 200
    case 'stream-fields': {
      res.writeHead(200, sseHeaders(secret))
      const image = await imageFor(body, 'normal')
      await write(res, sse('image_generation.completed', { b64_json: image, created_at: created, revised_prompt: said, usage: { total_tokens: 10, note: secret } }), ctx.sent)
      res.end()
      return 200
    }
    default: {
      const image = await imageFor(body, 'normal')
      const n = Number(body.n ?? 1)
      const data = Array.from({ length: n }, () => ({ b64_json: image, ...(where === 'revised_prompt' ? { revised_prompt: `A picture. ${said}` } : {}) }))
      const payload = {
        created: where === 'created' ? secret : created,
        data,
        ...(where === 'usage' ? { usage: { input_tokens: 50, output_tokens: secret, total_tokens: 60, note: `billed to ${secret}`, input_tokens_details: { key: secret } } } : {}),
      }
      return json(res, 200, payload, { 'x-request-id': where === 'request-id' ? secret : ctx.requestId }, ctx.sent)
    }
  }
}

/** What `/download/<id>` serves. */
export async function serveDownload(kind: DownloadKind, res: ServerResponse, sent: { bytes: number }): Promise<number> {
  switch (kind) {
    case 'huge':
      res.writeHead(200, { 'content-type': 'image/png' })
      await pour(res, '', 500 * 1024 ** 2, '\u0000', sent)
      return 200
    case 'redirect':
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
      res.end()
      return 302
    default: {
      const image = await renderImage({ seed: 'download', width: 1024, height: 1024, format: 'png' })
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(image.length) })
      res.end(image)
      sent.bytes += image.length
      return 200
    }
  }
}

/** A 1-bit grey PNG of the given size, all zero: a few hundred KB that decode to width × height bytes. */
const bombs = new Map<string, Buffer>()
export function bombPng(width: number, height: number): Buffer {
  const id = `${width}x${height}`
  const known = bombs.get(id)
  if (known) return known
  const row = 1 + Math.ceil(width / 8)
  const idat = deflateSync(Buffer.alloc(row * height), { level: 9 })
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([1, 0, 0, 0, 0], 8) // bit depth 1, greyscale, deflate, adaptive filter, no interlace
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))])
  bombs.set(id, png)
  return png
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'ascii')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

async function imageFor(body: Record<string, unknown>, seed: string): Promise<string> {
  const { width, height } = sizeOf(body.size, '1024x1024')
  const format = (typeof body.output_format === 'string' ? body.output_format : 'png') as 'png' | 'jpeg' | 'webp'
  return (await renderImage({ seed, width, height, format })).toString('base64')
}

function sse(type: string, payload: object): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`
}

function sseHeaders(requestId: string): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': requestId }
}

function json(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string>, sent: { bytes: number }): number {
  const text = JSON.stringify(payload)
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(text)
  sent.bytes += Buffer.byteLength(text)
  return status
}

const FILL_CHUNK = 64 * 1024

/**
 * `head`, then `fill` repeated up to `bytes` in all, one 64 KiB chunk at a time, waiting for the socket to
 * drain: nothing is allocated beyond one chunk, and it stops as soon as the client goes away.
 */
async function pour(res: ServerResponse, head: string, bytes: number, fill: string, sent: { bytes: number }): Promise<void> {
  const block = Buffer.alloc(FILL_CHUNK, fill)
  if (head && !(await write(res, head, sent))) return
  while (sent.bytes < bytes) {
    const size = Math.min(FILL_CHUNK, bytes - sent.bytes)
    if (!(await write(res, size === FILL_CHUNK ? block : block.subarray(0, size), sent))) return
  }
  res.end()
}

/** Write with backpressure; false once the client has gone. */
function write(res: ServerResponse, data: string | Buffer, sent: { bytes: number }): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false)
  sent.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length
  if (res.write(data)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain)
      res.off('close', onClose)
      resolve(ok)
    }
    const onDrain = () => done(true)
    const onClose = () => done(false)
    res.on('drain', onDrain)
    res.on('close', onClose)
  })
}
