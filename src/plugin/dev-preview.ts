/**
 * Live previews of images still being generated, for the Vite dev server. A `Preview` collects the first
 * frame of one pending image module (the placeholder rendering marked `generating…`), its streamed partial
 * frames and, at the end, its final images (or its error). `sendPreview` answers an `<img>` request with
 * `multipart/x-mixed-replace`: browsers render each part of such a response in place as it arrives (the MJPEG
 * mechanism), so the page shows the first frame at once, every partial frame, and then the final image,
 * without any client code. A finished preview goes on serving its final image: the page's module may keep
 * its URL (when the image changed no export, the page is not reloaded).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PreviewImage } from '../core/service.js'

export type PreviewFrame = PreviewImage

type PreviewEvent = { kind: 'frame'; index: number; frame: PreviewFrame } | { kind: 'end' }

const BOUNDARY = 'ai-image-preview'

export class Preview {
  /** Cache key, once the inputs are resolved (partial frames are routed by it). */
  key: string | undefined
  private readonly latest = new Map<number, PreviewFrame>()
  private finalImages: PreviewFrame[] | undefined
  private failure: unknown
  private readonly listeners = new Set<(event: PreviewEvent) => void>()

  constructor(readonly token: string) {}

  get state(): 'pending' | 'done' | 'failed' {
    return this.finalImages ? 'done' : this.failure !== undefined ? 'failed' : 'pending'
  }

  get error(): unknown {
    return this.failure
  }

  final(index: number): PreviewFrame | undefined {
    return this.finalImages?.[index]
  }

  /** A streamed partial frame of candidate `index`; frames that are not images (no `mime`) are dropped. */
  partial(index: number, data: Buffer, mime: string | undefined): void {
    if (this.state !== 'pending' || mime === undefined) return
    const frame = { data, mime }
    this.latest.set(index, frame)
    for (const listener of this.listeners) listener({ kind: 'frame', index, frame })
  }

  /** The first frame of candidate `index` (shown until a partial frame or the image arrives); ignored once either has. */
  first(index: number, frame: PreviewFrame): void {
    if (this.latest.has(index)) return
    this.partial(index, frame.data, frame.mime)
  }

  /**
   * Drop the final images from memory (they stay in the cache, under `key`); `final()` then has none and the
   * server reads them from the cache. Previews kept for long cost no memory.
   */
  release(): void {
    if (this.state !== 'done' || this.key === undefined) return
    this.finalImages = []
    this.latest.clear()
  }

  get released(): boolean {
    return this.state === 'done' && this.finalImages!.length === 0
  }

  finish(images: readonly PreviewFrame[]): void {
    this.finalImages = [...images]
    this.end()
  }

  fail(error: unknown): void {
    this.failure = error ?? new Error('generation failed')
    this.end()
  }

  /** Follow candidate `index`: the latest frame now (if any), each new one, then `onEnd`. */
  subscribe(index: number, onFrame: (frame: PreviewFrame) => void, onEnd: () => void): () => void {
    const known = this.latest.get(index)
    if (known) onFrame(known)
    const listener = (event: PreviewEvent) => {
      if (event.kind === 'end') onEnd()
      else if (event.index === index) onFrame(event.frame)
    }
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Resolves when the preview is done or failed. */
  settled(): Promise<void> {
    if (this.state !== 'pending') return Promise.resolve()
    return new Promise((resolve) => {
      const listener = (event: PreviewEvent) => {
        if (event.kind !== 'end') return
        this.listeners.delete(listener)
        resolve()
      }
      this.listeners.add(listener)
    })
  }

  private end(): void {
    for (const listener of [...this.listeners]) listener({ kind: 'end' })
  }
}

/** An `<img>` (or any client asking for an image) gets the live stream; scripts and tools get the final file. */
export function wantsLiveStream(req: IncomingMessage): boolean {
  const dest = req.headers['sec-fetch-dest']
  if (dest !== undefined) return dest === 'image'
  return /^image\//.test(req.headers.accept ?? '')
}

/** Answer a request for candidate `index` of a preview. */
export function sendPreview(req: IncomingMessage, res: ServerResponse, preview: Preview, index: number): void {
  if (preview.state === 'pending' && req.method === 'GET' && wantsLiveStream(req)) return streamFrames(res, preview, index)
  preview.settled().then(() => {
    const image = preview.final(index)
    if (image) return sendImage(req, res, image)
    res.statusCode = preview.state === 'failed' ? 502 : 404
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    // AiImageError messages carry no secret (errors.ts); they say what to change.
    res.end(preview.state === 'failed' ? String((preview.error as Error)?.message ?? preview.error) : 'no such candidate')
  })
}

export function sendImage(req: IncomingMessage, res: ServerResponse, image: PreviewFrame): void {
  res.statusCode = 200
  res.setHeader('content-type', image.mime)
  res.setHeader('content-length', image.data.length)
  res.setHeader('cache-control', 'no-cache')
  res.end(req.method === 'HEAD' ? undefined : image.data)
}

function streamFrames(res: ServerResponse, preview: Preview, index: number): void {
  res.writeHead(200, {
    'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  res.write(`--${BOUNDARY}\r\n`)
  // Chrome shows a part only once the headers of the next part arrive, so each frame is followed at once by
  // the opening of the next part (parts carry no Content-Length: the boundary ends them). The next frame is
  // announced with the type of this one: every frame of a generation has the requested output format.
  let opened = false
  const writePart = (frame: PreviewFrame, last: boolean) => {
    if (!opened) res.write(`Content-Type: ${frame.mime}\r\n\r\n`)
    res.write(frame.data)
    res.write(last ? `\r\n--${BOUNDARY}--\r\n` : `\r\n--${BOUNDARY}\r\nContent-Type: ${frame.mime}\r\n\r\n`)
    opened = true
  }
  const unsubscribe = preview.subscribe(
    index,
    (frame) => writePart(frame, false),
    () => {
      unsubscribe()
      const image = preview.final(index)
      if (image) writePart(image, true)
      // A failure ends the stream; the module reload that follows shows the error in Vite's overlay.
      res.end()
    },
  )
  res.on('close', unsubscribe)
}
