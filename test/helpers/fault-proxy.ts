/**
 * A proxy in front of a real store (Azurite, s3rver) that misbehaves on demand: answers with an error status in
 * the store's own format (Azure `x-ms-error-code` + XML, S3 XML), drops connections, or goes down (the port
 * refuses connections) and comes back up on the same port. Headers pass unchanged (they are signed).
 */
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { closeServer, forward, listen } from './s3-server.js'

/** Which requests a fault hits (default: every one), and how many pass untouched before it starts. */
export interface FaultScope {
  /** Requests that pass through unharmed first (the store "goes down" mid-way). @default 0 */
  after?: number
  /** Only requests this matches are faulted (and counted); others pass. */
  match?: (request: { method: string; url: string }) => boolean
}

export type Fault =
  | { kind: 'none' }
  /** The next `count` requests (default: all) get `status` with the store's error `code`. */
  | ({ kind: 'status'; status: number; code: string; count?: number } & FaultScope)
  /** The next `count` requests (default: all) have their connection destroyed before any answer. */
  | ({ kind: 'drop'; count?: number } & FaultScope)
  /** The next `count` requests (default: all) are held and never answered (until the proxy closes). */
  | ({ kind: 'hang'; count?: number } & FaultScope)

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  origin: string
  /** Requests that reached the proxy (answered, faulted or dropped). */
  readonly requests: number
  fault(fault: Fault): void
  /** Stop listening and cut open connections: new requests get ECONNREFUSED. */
  down(): Promise<void>
  /** Listen again on the same port. */
  up(): Promise<void>
  close(): Promise<void>
}

export async function startFaultProxy(upstream: string, flavor: 'azure' | 's3'): Promise<FaultProxy> {
  const target = new URL(upstream)
  let current: Fault = { kind: 'none' }
  let remaining = Infinity
  let spared = 0
  let requests = 0
  const sockets = new Set<Socket>()
  const make = (): Server => {
    const server = createServer((req, res) => {
      requests++
      const fault = current
      const hit = fault.kind !== 'none' && (fault.match?.({ method: req.method ?? 'GET', url: req.url ?? '/' }) ?? true)
      if (hit && spared > 0) spared--
      else if (hit && remaining > 0) {
        remaining--
        if (remaining === 0) current = { kind: 'none' }
        if (fault.kind === 'drop') return void req.socket.destroy()
        if (fault.kind === 'hang') return void req.resume()
        req.resume()
        const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${fault.code}</Code><Message>Injected by the test's fault proxy.</Message></Error>`
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          ...(flavor === 'azure' ? { 'x-ms-error-code': fault.code, 'x-ms-request-id': 'fault-proxy' } : {}),
        })
        return void res.end(req.method === 'HEAD' ? undefined : body)
      }
      void forward(target, req, res)
    })
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    return server
  }
  let server = make()
  const port = await listen(server)
  let up = true
  return {
    origin: `http://127.0.0.1:${port}`,
    get requests() {
      return requests
    },
    fault(fault) {
      current = fault
      remaining = fault.kind === 'none' ? 0 : (fault.count ?? Infinity)
      spared = fault.kind === 'none' ? 0 : (fault.after ?? 0)
    },
    async down() {
      if (!up) return
      up = false
      for (const socket of sockets) socket.destroy()
      await closeServer(server)
    },
    async up() {
      if (up) return
      server = make()
      await listen(server, port)
      up = true
    },
    async close() {
      if (up) await closeServer(server)
      up = false
    },
  }
}
