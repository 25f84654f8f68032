/**
 * The gallery in the Vite dev server, at `<base>__ai-image/` (the bundler glue, `plugin/vite-gallery.ts`,
 * hands it the requests under that path; builds and `vite preview` have none). What a page there can do:
 *
 *   GET  <gallery>                 the page, with the live state and the server's token
 *   GET  <gallery>card?spec=<l>    one card, fresh (token)
 *   GET  <gallery>events           the live feed (`live.ts`)
 *   GET  <gallery>partial/<name>   a streamed partial frame of a generation in flight
 *   POST <gallery>api/<action>     pick, another, more, restore, save, generate (`actions.ts`; token, JSON)
 *
 * Trust (DESIGN.md, "Trust boundaries"): every page the developer's browser opens can send requests here.
 * A request a page of another site sent (`Sec-Fetch-Site`, `Origin`: the dev server's guard) is refused
 * whatever it asks, before anything is read; the page is never framed; cards and actions need the per-server
 * token, which only the gallery's own page carries (a page of another site cannot read it: the page is
 * refused to it, and no answer carries a CORS header of ours). Actions write spec files only (`spec-edit.ts`
 * refuses anything else), and one that spends shows its estimate first and is refused past the budget.
 *
 * A generation the page asks for goes through the front door, as an import would: the action writes the spec
 * file, Vite's watcher sends the app its HMR update (its module loads through the front door), and the
 * gallery asks the front door for the same image, so it is made even when no page of the app is open; both
 * share one generation of the key (and its lock and budget). Progress and partial frames come from the front
 * door's events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isAiImageError } from '../errors.js'
import { parseAction, performAction } from './actions.js'
import { GenerationIndex } from './history.js'
import { LiveFeed } from './live.js'
import { renderCard, renderGalleryPage } from './page/render.js'
import type { ProjectView, SpecRef } from './project-view.js'
import { buildCard, buildGalleryState, cardContext, type StateOptions, type VerifiedImage } from './state.js'

/** Largest action body: a prompt of the longest model (32,000 characters) and the form's other fields fit many times over. */
const MAX_BODY_BYTES = 256 * 1024

/** The dev server's guard (`plugin/request-guard.ts`), as the gallery uses it. */
export interface GalleryGuard {
  /** The per-server token, given to the gallery's own page only. */
  readonly token: string
  /** Why `req` comes from a page of another site, or undefined. */
  foreignReason(req: IncomingMessage): string | undefined
  /** Whether `req` carries the token (`x-ai-image-token`). */
  hasToken(req: IncomingMessage): boolean
}

export interface DevGalleryOptions {
  view: ProjectView
  /** Where the gallery is, ending with `/`: `<base>__ai-image/`. */
  path: string
  guard: GalleryGuard
  /** Answer a request of another site (the dev server's 403). */
  forbidden(res: ServerResponse, reason: string): void
  /** The dev server's URL of a verified cached image. */
  imageUrl(image: VerifiedImage): string
  projectName: string
  log: { warn(message: string): void }
  /** Absolute files that import a spec, as the dev server's module graph knows them (aliases included). */
  importers?(ref: SpecRef): readonly string[]
}

export class DevGallery {
  /** `<base>__ai-image/`: the page, and the prefix of everything else. */
  readonly path: string
  private readonly view: ProjectView
  private readonly feed: LiveFeed
  /** Earlier generations, kept across states: each refresh reads only new sidecars. */
  private readonly index: GenerationIndex

  constructor(private readonly options: DevGalleryOptions) {
    this.view = options.view
    this.path = options.path
    this.feed = new LiveFeed(this.view, `${this.path}partial/`)
    this.index = new GenerationIndex(this.view)
  }

  /**
   * Serve a request for the gallery's path (or that path without its last slash); a request of another site
   * is refused before anything is read.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const foreign = this.options.guard.foreignReason(req)
    if (foreign !== undefined) return this.options.forbidden(res, foreign)
    const url = new URL(req.url ?? '/', 'http://dev-server')
    if (url.pathname === this.path.slice(0, -1)) return redirect(res, this.path)
    const route = url.pathname.slice(this.path.length)
    try {
      if (route === '') {
        if (only(req, res, ['GET', 'HEAD'])) await this.page(req, res)
      } else if (route === 'events') {
        if (only(req, res, ['GET'])) this.feed.open(res)
      } else if (route.startsWith('partial/')) {
        if (only(req, res, ['GET', 'HEAD'])) this.partial(req, res, route.slice('partial/'.length))
      } else if (route === 'card') {
        if (only(req, res, ['GET']) && this.withToken(req, res)) await this.card(res, url.searchParams.get('spec'))
      } else if (route.startsWith('api/')) {
        if (only(req, res, ['POST']) && this.withToken(req, res)) await this.action(req, res, route.slice('api/'.length))
      } else {
        sendText(res, 404, 'unplugin-ai-image: the gallery has no such page')
      }
    } catch (error) {
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: this.view.describeError(error) })
      else res.end()
    }
  }

  /** A file of the project changed (Vite's watcher): cards of spec files follow their file. */
  fileChanged(file: string, change: 'change' | 'add' | 'unlink'): void {
    if (!this.view.specFiles.isSpecFile(file)) return
    if (change === 'change') this.feed.send('spec', { spec: this.view.relative(file) })
    else this.feed.send('specs', {})
  }

  close(): void {
    this.feed.close()
  }

  private stateOptions(): StateOptions {
    return {
      mode: 'dev',
      projectName: this.options.projectName,
      imageSource: (image) => this.options.imageUrl(image),
      live: (label, key) => this.feed.live(label, key),
      index: this.index,
      importers: (ref) =>
        (this.options.importers?.(ref) ?? []).map((file) => this.view.relative(file)).filter((file) => !file.startsWith('../') && !file.includes('node_modules/')),
    }
  }

  private async page(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.feed.forgetLabels()
    const state = await buildGalleryState(this.view, this.stateOptions())
    const html = renderGalleryPage(state, { apiBase: this.path, token: this.options.guard.token })
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      ...PRIVATE,
      // Never in a frame (a page of another site could otherwise make the user click in it); the page's own
      // policy (in its markup) admits only its script and stylesheet.
      'content-security-policy': "frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
      'referrer-policy': 'no-referrer',
    })
    res.end(req.method === 'HEAD' ? undefined : html)
  }

  private async card(res: ServerResponse, label: string | null): Promise<void> {
    const found = label === null ? undefined : (await this.view.discover()).find((spec) => spec.label === label)
    if (!found) return sendText(res, 404, 'unplugin-ai-image: the project has no spec of this name (reload the gallery)')
    const card = await buildCard(this.view, found, await cardContext(this.view, this.stateOptions()))
    const html = renderCard(card, 'dev')
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...PRIVATE })
    res.end(html)
  }

  private partial(req: IncomingMessage, res: ServerResponse, name: string): void {
    const frame = this.feed.partial(name)
    if (!frame) return sendText(res, 404, 'unplugin-ai-image: no such partial image (its generation ended)')
    res.writeHead(200, { 'content-type': frame.mime, 'content-length': frame.data.length, ...PRIVATE })
    res.end(req.method === 'HEAD' ? undefined : frame.data)
  }

  private async action(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const type = req.headers['content-type'] ?? ''
    if (!/^application\/json\s*(;|$)/i.test(type)) return sendJson(res, 415, { ok: false, error: 'the body must be JSON (content-type: application/json)' })
    const body = await readBody(req)
    if (body === undefined) {
      // Only the gallery's own page gets this far (the token is checked first): let its upload end unread.
      req.resume()
      return sendJson(res, 413, { ok: false, error: `the body is larger than ${MAX_BODY_BYTES} bytes` })
    }
    let value: unknown
    try {
      value = JSON.parse(body)
    } catch {
      return sendJson(res, 400, { ok: false, error: 'the body is not valid JSON' })
    }
    try {
      const action = parseAction(name, value)
      const confirm = typeof value === 'object' && value !== null && (value as { confirm?: unknown }).confirm === true
      const result = await performAction(this.view, action, { confirm })
      if (result.generate) await this.generate(action.spec)
      sendJson(res, 200, { ok: true, result })
    } catch (error) {
      sendJson(res, isAiImageError(error) ? 400 : 500, { ok: false, error: this.view.describeError(error), ...(isAiImageError(error) ? { code: error.code } : {}) })
    }
  }

  /**
   * Ask the front door for the image of spec file `label`, in the background: the card follows its
   * generation through the live feed, and a failure shows on the card (and in the terminal).
   */
  private async generate(label: string): Promise<void> {
    const ref: SpecRef | undefined = (await this.view.discover()).find((spec) => spec.label === label)?.ref
    if (ref?.kind !== 'file') return
    this.view.generate(ref).then(
      () => this.feed.send('spec', { spec: label }),
      (error: unknown) => {
        this.options.log.warn(`${label}: the generation the gallery asked for failed: ${this.view.describeError(error)}`)
        this.feed.send('spec', { spec: label })
      },
    )
  }

  private withToken(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.guard.hasToken(req)) return true
    sendJson(res, 403, { ok: false, error: "this needs the dev server's token, which only the gallery's own page has: reload the gallery" })
    return false
  }
}

/** Answers of the gallery are for its page only: never cached, never sniffed, never read by another origin. */
const PRIVATE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'cross-origin-resource-policy': 'same-origin' } as const

function only(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): boolean {
  if (methods.includes(req.method ?? 'GET')) return true
  sendText(res, 405, `unplugin-ai-image: only ${methods.join(' and ')} here`, { allow: methods.join(', ') })
  return false
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(308, { location, ...PRIVATE })
  res.end()
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...PRIVATE, ...headers })
  res.end(`${text}\n`)
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...PRIVATE })
  res.end(JSON.stringify(value))
}

/** The body as text, or undefined when it is larger than allowed (reading stops there). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
