/**
 * A real Vite dev server on 127.0.0.1 for a temp project, with the plugin from source, an HMR client
 * speaking Vite's WebSocket protocol, and readers for plain and `multipart/x-mixed-replace` answers.
 */
import { request as httpRequest } from 'node:http'
import { WebSocket } from 'undici'
import { createServer, mergeConfig, type InlineConfig, type ViteDevServer } from 'vite'
import aiImage from '../../src/vite.js'
import type { AiImageOptions } from '../../src/types.js'
import { captureLogs, type CapturedLogs } from './vite.js'

export interface HmrPayload {
  type: string
  updates?: Array<{ type: string; path: string; acceptedPath: string }>
  err?: { message: string }
  [key: string]: unknown
}

export interface DevServerHandle {
  server: ViteDevServer
  origin: string
  logs: CapturedLogs
  /** Every HMR payload the server sent since connecting. */
  messages: HmrPayload[]
  /** The next HMR payload (after those already seen) that matches. */
  nextMessage(match: (payload: HmrPayload) => boolean, timeoutMs?: number): Promise<HmrPayload>
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; type: string; body: Buffer; ms: number }>
  close(): Promise<void>
}

/** `extra` is merged into the inline config (aliases, `server.origin`, …). */
export async function startDevServer(root: string, options: AiImageOptions = {}, extra: InlineConfig = {}): Promise<DevServerHandle> {
  const logs = captureLogs()
  const config: InlineConfig = {
    root,
    configFile: false,
    logLevel: 'info',
    customLogger: logs.logger,
    plugins: [aiImage(options)],
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  }
  const server = await createServer(mergeConfig(config, extra))
  await server.listen()
  const address = server.httpServer!.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const origin = `http://127.0.0.1:${port}`

  const messages: HmrPayload[] = []
  let seen = 0
  const waiters = new Set<() => void>()
  // Vite's HMR socket listens under the base.
  const socket = new WebSocket(`ws://127.0.0.1:${port}${server.config.base}?token=${server.config.webSocketToken}`, 'vite-hmr')
  socket.addEventListener('message', (event) => {
    messages.push(JSON.parse(String(event.data)) as HmrPayload)
    for (const wake of waiters) wake()
  })
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener('error', () => reject(new Error('HMR socket failed')), { once: true })
  })

  return {
    server,
    origin,
    logs,
    messages,
    nextMessage(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          while (seen < messages.length) {
            const payload = messages[seen++]!
            if (match(payload)) {
              waiters.delete(check)
              clearTimeout(timer)
              return resolve(payload)
            }
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching HMR message within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async get(path, headers = {}) {
      const started = performance.now()
      const response = await fetch(`${origin}${path}`, { headers })
      const body = Buffer.from(await response.arrayBuffer())
      return { status: response.status, type: response.headers.get('content-type') ?? '', body, ms: performance.now() - started }
    },
    async close() {
      socket.close()
      await server.close()
    },
  }
}

export interface MultipartPart {
  type: string
  data: Buffer
  /** Milliseconds after the request was sent. */
  at: number
}

/**
 * GET a `multipart/x-mixed-replace` answer as a browser's `<img>` would (`Sec-Fetch-Dest: image`) and
 * collect each part with the time it arrived.
 */
export function readMixedReplace(url: string): Promise<{ contentType: string; parts: MultipartPart[] }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { 'sec-fetch-dest': 'image', accept: 'image/avif,image/webp,image/png,image/*,*/*;q=0.8' } }, (res) => {
      const contentType = res.headers['content-type'] ?? ''
      const boundary = /boundary=([^;]+)/.exec(contentType)?.[1]
      if (!boundary) return reject(new Error(`not a multipart answer: ${res.statusCode} ${contentType}`))
      const parts: MultipartPart[] = []
      let buffer = Buffer.alloc(0)
      const delimiter = Buffer.from(`--${boundary}`)
      // A part is complete when the next delimiter arrives (parts carry no Content-Length).
      let partStart: number | undefined
      let type = ''
      res.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk])
        for (;;) {
          if (partStart === undefined) {
            const start = buffer.indexOf(delimiter)
            const headerEnd = start === -1 ? -1 : buffer.indexOf('\r\n\r\n', start)
            if (headerEnd === -1) return
            type = /content-type:\s*([^\r\n]+)/i.exec(buffer.subarray(start, headerEnd).toString('latin1'))?.[1] ?? ''
            partStart = headerEnd + 4
          }
          const end = buffer.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), partStart)
          if (end === -1) return
          parts.push({ type, data: Buffer.from(buffer.subarray(partStart, end)), at: performance.now() - started })
          buffer = buffer.subarray(end + 2)
          partStart = undefined
        }
      })
      res.on('end', () => resolve({ contentType, parts }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
