/**
 * The one HTTP path to the Images APIs (OpenAI and Azure): undici with a keep-alive pool, a per-request
 * abort signal from the engine, and every failure mapped to an AiImageError with retry hints. Retrying
 * itself is the engine's job (engine/scheduler.ts): this module makes exactly one attempt.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Agent, Dispatcher, FormData } from 'undici'
import { AiImageError } from '../errors.js'
import { errorFromResponse, header, requestIdOf, type Headers } from './errors.js'

export interface ImagesPost {
  url: string
  headers: Record<string, string>
  body: string | FormData
  signal: AbortSignal
  /** Spec label for errors. */
  label: string
}

export interface ImagesAnswer {
  status: number
  headers: Headers
  requestId?: string
  contentType: string
  /** The body, for streamed (SSE) answers. Consume it or call `text()`, not both. */
  body: AsyncIterable<Uint8Array>
  text(): Promise<string>
}

export interface HttpClient {
  /** POST and return a 2xx answer; any other status becomes an AiImageError. */
  post(post: ImagesPost): Promise<ImagesAnswer>
  /** GET bytes (a `url` answer from a server that ignored `b64_json`). */
  getBytes(url: string, signal: AbortSignal, label: string): Promise<Buffer>
  close(): Promise<void>
}

/**
 * Set by the engine's scheduler around each attempt. Told the moment an answer's body has been read whole:
 * the request is no longer on the wire, so its concurrency slot can go to the next request while this
 * answer is parsed, decoded and checked. (A context rather than a parameter, so providers need not pass it.)
 */
export const answerWatch = new AsyncLocalStorage<{ received(): void }>()

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

export function createHttpClient(options: { timeout: number; connections: number; userAgent: string }): HttpClient {
  // Stall detection: undici aborts when no header byte or body byte arrives for `timeout` ms; the engine's
  // signal bounds the whole request.
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
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await readText(response.body, post.signal, post.label).catch(() => '')
        throw errorFromResponse(response.statusCode, headers, text, post.label)
      }
      const body = response.body
      return {
        status: response.statusCode,
        headers,
        ...(requestId ? { requestId } : {}),
        contentType: header(headers, 'content-type') ?? '',
        body: guardStream(body, post.signal, post.label),
        text: async () => {
          const text = await readText(body, post.signal, post.label)
          answerWatch.getStore()?.received()
          return text
        },
      }
    },

    async getBytes(url, signal, label) {
      try {
        const { request } = await loadUndici()
        const response = await request(url, { method: 'GET', signal, dispatcher: await dispatcher() })
        if (response.statusCode !== 200) {
          await response.body.dump()
          throw new AiImageError('BAD_RESPONSE', `downloading the image failed with HTTP ${response.statusCode}`, {
            file: label,
            retryable: true,
            possiblyBilled: true,
          })
        }
        return Buffer.from(await response.body.arrayBuffer())
      } catch (error) {
        throw transportError(error, signal, label, true)
      }
    },

    close: async () => {
      if (agent) await (await agent).close()
    },
  }
}

async function readText(body: AsyncIterable<Uint8Array> & { text(): Promise<string> }, signal: AbortSignal, label: string): Promise<string> {
  try {
    return await body.text()
  } catch (error) {
    throw transportError(error, signal, label, true)
  }
}

async function* guardStream(body: AsyncIterable<Uint8Array>, signal: AbortSignal, label: string): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk
  } catch (error) {
    throw transportError(error, signal, label, true)
  }
  answerWatch.getStore()?.received()
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
