/**
 * For the dev gallery's tests: a project's cache filled through the emulator before the dev server starts,
 * the gallery page's token, the gallery's API spoken as its page speaks it, and a reader of its live feed.
 */
import { ImageService } from '../../src/core/service.js'
import type { AiImageOptions } from '../../src/types.js'
import type { DevServerHandle } from './dev-server.js'

export const GALLERY = '/__ai-image/'
const silent = { info() {}, warn() {}, error() {} }

/** Generate every spec of the project at `root` into its cache (the emulator's `env`), as `ai-image generate` would. */
export async function fillCache(root: string, env: Record<string, string | undefined>, options: AiImageOptions = {}): Promise<void> {
  const service = ImageService.forProject({ provider: 'openai', ...options }, { root, env, sink: silent })
  try {
    const report = await service.generateAll((await service.discover()).map((spec) => spec.ref))
    const failed = report.results.filter((outcome) => outcome.error !== undefined)
    if (failed.length > 0) throw new Error(`could not fill the cache: ${JSON.stringify(failed)}`)
  } finally {
    await service.close()
  }
}

/** The per-server token the gallery page carries. */
export function tokenOf(html: string): string {
  const token = /<meta name="ai-image-token" content="([^"]+)">/.exec(html)?.[1]
  if (!token) throw new Error('the page carries no token')
  return token
}

export interface Answer {
  status: number
  type: string
  text: string
  json(): { ok: boolean; result?: Record<string, unknown>; error?: string; code?: string }
}

/** A request to the dev server, as a non-browser client (no Origin, no Sec-Fetch-*) unless `headers` add them. */
export async function send(dev: DevServerHandle, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const response = await fetch(`${dev.origin}${path}`, { redirect: 'manual', ...init })
  const text = await response.text()
  return { status: response.status, type: response.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) as ReturnType<Answer['json']> }
}

/** POST an action as the gallery's page does (JSON, the token). */
export function act(dev: DevServerHandle, token: string, action: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return send(dev, `${GALLERY}api/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ai-image-token': token, ...headers },
    body: JSON.stringify(body),
  })
}

export interface FeedEvent {
  event: string
  data: Record<string, unknown>
}

export interface Feed {
  events: FeedEvent[]
  /** The first event (from the start) that matches, once it arrives. */
  next(match: (event: FeedEvent) => boolean, timeoutMs?: number): Promise<FeedEvent>
  close(): void
}

/** Follow the gallery's live feed (`GET <gallery>events`) as its page's EventSource does. */
export async function followFeed(dev: DevServerHandle, path = `${GALLERY}events`): Promise<Feed> {
  const controller = new AbortController()
  const response = await fetch(`${dev.origin}${path}`, { signal: controller.signal, headers: { accept: 'text/event-stream' } })
  if (response.status !== 200 || !response.body) throw new Error(`the feed answered ${response.status}`)
  const events: FeedEvent[] = []
  const waiters = new Set<() => void>()
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.+)$/m.exec(block)?.[1]
          const data = /^data: (.+)$/m.exec(block)?.[1]
          if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> })
          for (const wake of waiters) wake()
        }
      }
    } catch {
      // closed
    }
  })()
  return {
    events,
    next(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match)
          if (!found) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => controller.abort(),
  }
}
