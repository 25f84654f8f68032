/**
 * The dev gallery's live feed: what its open pages learn without asking. One server-sent event stream per
 * page (`GET <gallery>events`) carries, from the front door's events:
 *
 * - `spec {"spec"}`: refetch that card (a generation started, ended or failed; its spec file changed);
 * - `progress {"spec","done","total"}`: candidates finished of a generation;
 * - `partial {"spec","index","src"}`: a streamed partial frame, served at `src` (this feed keeps the latest
 *   frame of each candidate of a running generation, and forgets them when it ends);
 * - `specs {}`: a spec file appeared or went away (the page reloads).
 *
 * Generations are by cache key and cards by label: specs that differ only in `emit` or `pick` share a key,
 * so the feed remembers which labels the last cards it was shown had for each key. Events carry labels,
 * counts and URLs of this server: nothing a page of another site could use (and it cannot read them: the
 * stream is refused to it, and no CORS header is sent).
 */
import type { ServerResponse } from 'node:http'
import type { GenerationState, PartialImage, ProjectView } from './project-view.js'
import type { LiveState } from './state.js'

/** Pages following at once (tabs); more is a runaway script, not a developer. */
const MAX_STREAMS = 32
/** Keys whose partial frames are kept (generations in flight at once). */
const MAX_KEYS = 32
/** A comment now and then keeps proxies and the browser from timing the stream out. */
const KEEPALIVE_MS = 20_000

const EXTENSION: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/avif': 'avif' }
/** `<key>-<candidate>-<sequence>.<ext>`: the sequence only makes each frame a new URL for the browser. */
const PARTIAL_NAME = /^([0-9a-f]{64})-(\d{1,2})-(\d{1,9})\.(png|jpg|webp|avif)$/

interface Frame {
  data: Buffer
  mime: string
  name: string
}

export class LiveFeed {
  private readonly streams = new Set<ServerResponse>()
  private readonly labels = new Map<string, Set<string>>()
  private readonly frames = new Map<string, Map<number, Frame>>()
  /** Keys being generated, with the label of the spec whose load started each (later states are progress). */
  private readonly running = new Map<string, string>()
  private sequence = 0
  private keepalive: NodeJS.Timeout | undefined
  private readonly unsubscribe: Array<() => void>

  constructor(
    private readonly view: ProjectView,
    /** Where partial frames are served: `<gallery>partial/`. */
    private readonly partialBase: string,
  ) {
    this.unsubscribe = [view.onGeneration((state) => this.onGeneration(state)), view.onPartial((key, frame) => this.onPartial(key, frame))]
    for (const state of view.generations()) if (state.status === 'generating') this.running.set(state.key, state.label)
  }

  /** The live state of a card (`buildCard`'s `live`), remembering which label shows which key. */
  live(label: string, key: string | undefined): LiveState | undefined {
    if (key === undefined) return undefined
    const labels = this.labels.get(key) ?? new Set<string>()
    labels.add(label)
    this.labels.set(key, labels)
    const state = this.view.generations().find((s) => s.key === key)
    if (state?.status === 'generating') return { status: 'generating', progress: { done: state.done, total: state.total, partials: this.partialsOf(key) } }
    if (state?.status === 'failed') return { status: 'failed', error: this.view.describeError(state.error ?? 'the generation failed') }
    return undefined
  }

  /** A full state is being built: the labels of each key are learnt again from its cards. */
  forgetLabels(): void {
    this.labels.clear()
  }

  /** Follow the feed: `GET <gallery>events`. False when too many pages follow already (the answer is sent). */
  open(res: ServerResponse): boolean {
    if (this.streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '5' })
      res.end('unplugin-ai-image: too many gallery pages are open; close some\n')
      return false
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
    })
    res.write('retry: 2000\n: open\n\n')
    this.streams.add(res)
    res.on('close', () => {
      this.streams.delete(res)
      if (this.streams.size === 0) this.stopKeepalive()
    })
    this.keepalive ??= setInterval(() => {
      for (const stream of this.streams) stream.write(': keepalive\n\n')
    }, KEEPALIVE_MS).unref()
    return true
  }

  /** Tell every page that follows. */
  send(event: 'spec' | 'progress' | 'partial' | 'specs', data: Record<string, unknown>): void {
    if (this.streams.size === 0) return
    // JSON holds no raw line break, so one `data:` line carries it whole.
    const message = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const stream of this.streams) stream.write(message)
  }

  /** The latest frame named `name` (`<key>-<candidate>-<sequence>.<ext>`), while its generation runs. */
  partial(name: string): { data: Buffer; mime: string } | undefined {
    const match = PARTIAL_NAME.exec(name)
    if (!match) return undefined
    const frame = this.frames.get(match[1]!)?.get(Number(match[2]))
    return frame && { data: frame.data, mime: frame.mime }
  }

  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe()
    for (const stream of this.streams) stream.end()
    this.streams.clear()
    this.stopKeepalive()
    this.frames.clear()
  }

  private labelsOf(key: string, label?: string): string[] {
    const labels = new Set(this.labels.get(key))
    if (label !== undefined) labels.add(label)
    return [...labels]
  }

  private onGeneration(state: GenerationState): void {
    const { key } = state
    if (state.status === 'generating' && this.running.has(key)) {
      for (const spec of this.labelsOf(key, state.label)) this.send('progress', { spec, done: state.done, total: state.total })
      return
    }
    if (state.status === 'generating') this.running.set(key, state.label)
    else {
      this.running.delete(key)
      this.frames.delete(key)
    }
    for (const spec of this.labelsOf(key, state.label)) this.send('spec', { spec })
  }

  private onPartial(key: string, frame: PartialImage): void {
    const extension = frame.mime === undefined ? undefined : EXTENSION[frame.mime]
    const label = this.running.get(key)
    if (extension === undefined || label === undefined) return
    let frames = this.frames.get(key)
    if (!frames) {
      if (this.frames.size >= MAX_KEYS) this.frames.delete(this.frames.keys().next().value!)
      frames = new Map()
      this.frames.set(key, frames)
    }
    this.sequence = (this.sequence + 1) % 1_000_000_000
    const name = `${key}-${frame.index}-${this.sequence}.${extension}`
    frames.set(frame.index, { data: frame.data, mime: frame.mime!, name })
    for (const spec of this.labelsOf(key, label)) this.send('partial', { spec, index: frame.index, src: `${this.partialBase}${name}` })
  }

  private partialsOf(key: string): Array<{ index: number; src: string }> {
    return [...(this.frames.get(key)?.values() ?? [])].map((frame) => ({ index: Number(PARTIAL_NAME.exec(frame.name)![2]), src: `${this.partialBase}${frame.name}` }))
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive)
    this.keepalive = undefined
  }
}
