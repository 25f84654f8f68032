/**
 * The one HTTP path to the OpenAI-shaped Images APIs (OpenAI, compatible servers, and Azure, which speaks the
 * same wire format): undici with a keep-alive pool, a per-request abort signal from the engine, and every
 * failure mapped to an AiImageError with retry hints. Retrying itself is the engine's job
 * (engine/scheduler.ts): this module makes exactly one attempt.
 */
import type { Agent, Dispatcher, FormData } from 'undici'
import { AiImageError } from '../../errors.js'
import { badResponse } from '../decode.js'
import { formatBytes, type AnswerLimits } from '../limits.js'
import type { ProviderTransport } from '../types.js'
import { header, openaiErrorFromResponse, requestIdOf, type ErrorAdvice, type Headers } from './wire-errors.js'

/** Sent with every request, Batch API calls included. */
export const USER_AGENT = 'unplugin-ai-image'

export interface ImagesPost {
  url: string
  headers: Record<string, string>
  body: string | FormData
  signal: AbortSignal
  /** Spec label for errors. */
  label: string
  /** The largest legitimate answer (limits.ts): past it the request is aborted. */
  limits: Pick<AnswerLimits, 'answerBytes' | 'streamBytes' | 'errorBytes'>
  /** Told the moment the answer's body has been read whole (`AttemptContext.onAnswerRead`). */
  onBodyRead?: () => void
  /** The provider's advice for errors whose fix depends on it (which key or role to check after a 401). */
  advice?: ErrorAdvice
}

export interface ImagesAnswer {
  status: number
  headers: Headers
  requestId?: string
  contentType: string
  /** The body, for streamed (SSE) answers, bounded by `limits.streamBytes`. Consume it or call `text()`, not both. */
  body: AsyncIterable<Uint8Array>
  /** The whole body, bounded by `limits.answerBytes`. */
  text(): Promise<string>
}

export interface HttpClient {
  /** POST and return a 2xx answer; any other status becomes an AiImageError. */
  post(post: ImagesPost): Promise<ImagesAnswer>
  /** GET bytes (a `url` answer from a server that ignored `b64_json`), at most `maxBytes` of them. */
  getBytes(url: string, signal: AbortSignal, label: string, maxBytes: number): Promise<Buffer>
  close(): Promise<void>
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
])

/** undici, loaded with the first request: a warm build sends none, and so never loads it (~50 ms). */
export const loadUndici = () => import('undici')

type ResponseBody = Dispatcher.ResponseData['body']

/** The client of a provider: `concurrency` requests in flight, twice as many pooled connections. */
export function createOpenAIHttpClient(transport: ProviderTransport): HttpClient {
  return createHttpClient({ timeout: transport.timeout, connections: Math.max(2, transport.concurrency * 2), userAgent: USER_AGENT })
}

export function createHttpClient(options: { timeout: number; connections: number; userAgent: string }): HttpClient {
  // Stall detection: undici aborts when no header byte or body byte arrives for `timeout` ms; the engine's
  // signal bounds the whole request. undici's `request` follows no redirect (no redirect interceptor here):
  // a 3xx is answered as such, and refused below, so no key ever goes to an address it was not meant for.
  let agent: Promise<Agent> | undefined
  const dispatcher = () =>
    (agent ??= loadUndici().then(
      ({ Agent }) =>
        new Agent({
          connections: options.connections,
          headersTimeout: options.timeout,
          bodyTimeout: options.timeout,
          keepAliveTimeout: 10_000,
        }),
    ))

  return {
    async post(post) {
      let response: Dispatcher.ResponseData
      try {
        const { request } = await loadUndici()
        response = await request(post.url, {
          method: 'POST',
          headers: { 'user-agent': options.userAgent, ...post.headers },
          body: post.body,
          signal: post.signal,
          dispatcher: await dispatcher(),
        })
      } catch (error) {
        throw transportError(error, post.signal, post.label, true)
      }
      const headers = response.headers as Headers
      const requestId = requestIdOf(headers)
      const where = { label: post.label, signal: post.signal, ...(requestId ? { requestId } : {}) }
      if (response.statusCode >= 300 && response.statusCode < 400) {
        abort(response.body)
        throw redirectRefused(response.statusCode, 'the API', where, false)
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        // Only the start of an error body matters (the status decides the error); the rest is not read.
        const text = await readBounded(response.body, post.limits.errorBytes, where, 'cut').then(
          (data) => data.toString('utf8'),
          () => '',
        )
        throw openaiErrorFromResponse(response.statusCode, headers, text, post.label, post.advice)
      }
      const body = response.body
      const announced = contentLength(headers)
      const contentType = header(headers, 'content-type') ?? ''
      const streamed = contentType.includes('text/event-stream')
      const limit = streamed ? post.limits.streamBytes : post.limits.answerBytes
      if (announced !== undefined && announced > limit) {
        abort(body)
        throw badResponse(post.label, `the answer announces ${announced} bytes (Content-Length), more than the largest legitimate answer to this request (${formatBytes(limit)})`, requestId)
      }
      return {
        status: response.statusCode,
        headers,
        ...(requestId ? { requestId } : {}),
        contentType,
        body: guardStream(body, limit, where, post.onBodyRead),
        text: async () => {
          const text = (await readBounded(body, limit, where, 'fail')).toString('utf8')
          post.onBodyRead?.()
          return text
        },
      }
    },

    async getBytes(url, signal, label, maxBytes) {
      const target = downloadTarget(url, label)
      const where = { label, signal, what: 'the image download' }
      let response: Dispatcher.ResponseData
      try {
        const { request } = await loadUndici()
        // No credential goes with it: the URL is the server's, and may point anywhere.
        response = await request(target, { method: 'GET', signal, dispatcher: await dispatcher() })
      } catch (error) {
        throw transportError(error, signal, label, true)
      }
      if (response.statusCode >= 300 && response.statusCode < 400) {
        abort(response.body)
        throw redirectRefused(response.statusCode, 'the image URL', where, true)
      }
      if (response.statusCode !== 200) {
        abort(response.body)
        throw new AiImageError('BAD_RESPONSE', `downloading the image failed with HTTP ${response.statusCode}`, {
          file: label,
          retryable: true,
          possiblyBilled: true,
        })
      }
      const announced = contentLength(response.headers as Headers)
      if (announced !== undefined && announced > maxBytes) {
        abort(response.body)
        throw badResponse(label, `the image download announces ${announced} bytes (Content-Length), more than the largest legitimate image (${formatBytes(maxBytes)})`)
      }
      return readBounded(response.body, maxBytes, where, 'fail')
    },

    close: async () => {
      if (agent) await (await agent).close()
    },
  }
}

/**
 * Stop reading a body: the request is aborted and its socket closed, so nothing more is received or
 * buffered. undici reports the abort as an error on the body, which nobody else listens to any more.
 */
function abort(body: ResponseBody): void {
  body.on('error', () => {})
  body.destroy()
}

interface Where {
  label: string
  signal: AbortSignal
  requestId?: string
  /** What is being read, for messages. @default 'the answer' */
  what?: string
}

/**
 * Read a body up to `limit` bytes. Past it the request is aborted (the socket closed, nothing more is
 * buffered) and, with `fail`, it is BAD_RESPONSE; with `cut`, what was read so far is returned.
 */
async function readBounded(body: ResponseBody, limit: number, where: Where, over: 'fail' | 'cut'): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size + chunk.length > limit) {
        abort(body)
        if (over === 'cut') {
          chunks.push(chunk.subarray(0, limit - size))
          size = limit
          break
        }
        throw tooLarge(limit, where)
      }
      chunks.push(chunk)
      size += chunk.length
    }
  } catch (error) {
    throw transportError(error, where.signal, where.label, true)
  }
  return Buffer.concat(chunks, size)
}

async function* guardStream(body: ResponseBody, limit: number, where: Where, onEnd?: () => void): AsyncIterable<Uint8Array> {
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) {
        abort(body)
        throw tooLarge(limit, { ...where, what: 'the stream' })
      }
      yield chunk
    }
  } catch (error) {
    throw transportError(error, where.signal, where.label, true)
  }
  onEnd?.()
}

function tooLarge(limit: number, where: Where): AiImageError {
  return badResponse(
    where.label,
    `${where.what ?? 'the answer'} is larger than the largest legitimate answer to this request (${formatBytes(limit)}); the request was aborted`,
    where.requestId,
  )
}

/** `billed`: the redirect came after a 2xx answer (an image `url`), so the image was paid for. */
function redirectRefused(status: number, from: string, where: Where, billed: boolean): AiImageError {
  return new AiImageError(
    'BAD_RESPONSE',
    `${from} answered with a redirect (HTTP ${status}), which is not followed (a key must not go to another address): ` +
      'point the base URL or the Azure endpoint at the final address' +
      (where.requestId ? ` (request id ${where.requestId})` : ''),
    { file: where.label, status, possiblyBilled: billed, ...(where.requestId ? { requestId: where.requestId } : {}) },
  )
}

/** Only plain http(s) URLs without credentials are fetched. */
function downloadTarget(url: string, label: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw badResponse(label, 'an image `url` is not a URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw badResponse(label, `an image \`url\` is not an http(s) URL (${parsed.protocol})`)
  if (parsed.username || parsed.password) throw badResponse(label, 'an image `url` carries credentials; it is not fetched')
  return parsed.href
}

function contentLength(headers: Headers): number | undefined {
  const value = header(headers, 'content-length')
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined
  return Number(value)
}

/** A failure below HTTP: a timeout, a dropped connection, the build being cancelled. */
export function transportError(error: unknown, signal: AbortSignal, label: string, sent: boolean): unknown {
  if (error instanceof AiImageError) return error
  const reason = signal.aborted ? (signal.reason as { name?: string } | undefined) : undefined
  if (reason?.name === 'TimeoutError' || (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' || (error as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') {
    return new AiImageError('TIMEOUT', 'the request timed out; raise the `timeout` option if images legitimately take longer', {
      file: label,
      retryable: true,
      // The server may have finished (and billed) the image after we stopped waiting.
      possiblyBilled: sent,
      cause: error,
    })
  }
  if (signal.aborted) return signal.reason ?? error // cancelled by the caller: not ours to translate
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code
  if (code && NETWORK_CODES.has(code)) {
    return new AiImageError('NETWORK', `the connection failed (${code}); check the network or the base URL`, {
      file: label,
      retryable: true,
      possiblyBilled: sent && code !== 'ECONNREFUSED',
      cause: error,
    })
  }
  return new AiImageError('NETWORK', `the request failed: ${(error as Error).message ?? String(error)}`, {
    file: label,
    retryable: true,
    possiblyBilled: sent,
    cause: error,
  })
}
