/**
 * Who may make the dev server spend money or change files: its own pages. Every page the developer's
 * browser opens can send requests to `localhost`; browsers say where a request comes from, in headers a
 * page cannot forge: `Sec-Fetch-Site` (Fetch Metadata) and `Origin`. A request that a page of another
 * origin sent is foreign; so is one that another port of the same host sent (`same-site`), since any local
 * program can serve pages there. Clients that send neither header are not pages (curl, scripts, Vite's own
 * tools) and are served: a page cannot drop both headers from a request its browser sends.
 *
 * `run()` keeps the verdict of the request being served for everything that serving it does (Vite's
 * transform, the imports it pre-transforms, an SSR render), so the plugin's hooks can refuse work for a
 * foreign request that no URL pattern recognised. Requests that change files also need the per-server
 * `token`, which only the dev server's own pages are given.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The header that carries the per-server token (a custom header also forces a CORS preflight). */
export const TOKEN_HEADER = 'x-ai-image-token'

/** `Sec-Fetch-Site` values of requests the server's own pages (or the user, typing a URL) send. */
const OWN_SITES = new Set(['same-origin', 'none'])

export interface GuardConfig {
  /** Vite's `server.origin`, when set: the origin the server declares as its own. */
  origin?: string
}

/** What is known of the request being served. */
interface RequestVerdict {
  /** Why it comes from a page of another origin; undefined for the server's own pages and non-browser clients. */
  foreign: string | undefined
}

export class RequestGuard {
  /** Random per server: a page of another origin cannot read it from any answer of this server. */
  readonly token = randomBytes(32).toString('base64url')
  private readonly tokenDigest = digest(this.token)
  private readonly serving = new AsyncLocalStorage<RequestVerdict>()
  private readonly configuredOrigin: string | undefined

  constructor(config: GuardConfig = {}) {
    this.configuredOrigin = config.origin ? parseOrigin(config.origin)?.origin : undefined
  }

  /** Why `req` comes from a page of another origin (for the 403 answer and logs), or undefined. */
  foreignReason(req: IncomingMessage): string | undefined {
    const site = header(req, 'sec-fetch-site')
    if (site !== undefined && !OWN_SITES.has(site.toLowerCase())) return `Sec-Fetch-Site: ${printable(site)}`
    const origin = header(req, 'origin')
    if (origin !== undefined && !this.isOwnOrigin(req, origin)) return `Origin: ${printable(origin)}`
    return undefined
  }

  /** Run `next` (the rest of the middleware chain) knowing which request it serves. */
  run<T>(req: IncomingMessage, next: () => T): T {
    return this.serving.run({ foreign: this.foreignReason(req) }, next)
  }

  /**
   * Why the request whose serving is running now is foreign; undefined for the server's own pages,
   * non-browser clients, and work no request started (file watching, HMR, warm-up at start).
   */
  currentForeignReason(): string | undefined {
    return this.serving.getStore()?.foreign
  }

  /** Whether `req` carries this server's token (compared in constant time). */
  hasToken(req: IncomingMessage): boolean {
    const value = req.headers[TOKEN_HEADER]
    return typeof value === 'string' && timingSafeEqual(digest(value), this.tokenDigest)
  }

  /**
   * Whether `origin` is the server's own: `server.origin`, or the host and port the browser addressed (`Host`).
   * The scheme is left to the page's URL (TLS may end at Vite or at a proxy in front of it): one host and port
   * is one server, so a page of another server never shares them.
   */
  private isOwnOrigin(req: IncomingMessage, origin: string): boolean {
    const page = parseOrigin(origin)
    if (page === undefined) return false
    if (page.origin === this.configuredOrigin) return true
    const host = header(req, 'host')
    return host !== undefined && parseOrigin(`${page.protocol}//${host}`)?.host === page.host
  }
}

/**
 * Why a client is not on this machine (its address is not loopback), or undefined. Clients on the network (a
 * dev server started with `--host`) are not browsers of the developer: they send no Fetch Metadata and no
 * `Origin`, so the page guard serves them as it serves curl. What hands out the token or spends on the key
 * (the gallery) answers this machine only.
 */
export function notThisMachine(req: IncomingMessage): string | undefined {
  const address = req.socket.remoteAddress ?? ''
  return isLoopback(address) ? undefined : `a client at ${printable(address) || 'an unknown address'}, not this machine`
}

/** 127.0.0.0/8, ::1, and IPv4 loopback as a dual-stack socket reports it (::ffff:127.x.x.x). */
function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === '::1'
}

/** Answer a request of a client on the network: 403, saying why and what to do. */
export function sendNetworkForbidden(res: ServerResponse, reason: string): void {
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
  res.end(
    `unplugin-ai-image: the gallery refused ${reason}. It can rewrite spec files and spend on your API key, so it ` +
      "answers only this machine, even when the dev server is exposed with --host: open it on this machine (or through an SSH tunnel).\n",
  )
}

/** Answer a foreign request: 403, saying why and what to do; never cached, never sniffed. */
export function sendForbidden(res: ServerResponse, reason: string): void {
  res.writeHead(403, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    vary: 'Origin, Sec-Fetch-Site',
  })
  res.end(
    `unplugin-ai-image: refused a request of a page of another site (${reason}). ` +
      "The dev server serves image modules only to its own pages: open the page from the dev server's own address.\n",
  )
}

/** A header value fit for a log line or an answer: printable ASCII only, and short. */
function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 100 ? `${clean.slice(0, 97)}...` : clean
}

/** A single header value; a repeated one is kept joined, so it matches no allowed value. */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** An http(s) URL's origin parts (lower-case host, default port dropped), or undefined (`null`, garbage, other schemes). */
function parseOrigin(url: string): { origin: string; protocol: string; host: string } | undefined {
  try {
    const { origin, protocol, host } = new URL(url)
    return protocol === 'http:' || protocol === 'https:' ? { origin, protocol, host } : undefined
  } catch {
    return undefined
  }
}

/** Fixed-length digests, so `timingSafeEqual` compares values of any length without revealing it. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
