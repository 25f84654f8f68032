/**
 * The dev server's path of a load: a slow generation never blocks the page. When an image is not ready
 * within `DEV_PREVIEW_AFTER_MS`, the module is answered at once with preview URLs (the dev server streams
 * the partial frames and then the final image behind them: `plugin/dev-preview.ts`), and once the image is
 * ready (or failed) the module is reloaded, so importers get the final URL, width and height, or the error
 * in Vite's overlay. A failure found after its preview module was answered is remembered and thrown once,
 * by the load that follows, as long as the spec asks for the same thing.
 */
import { MIME_OF, extensionOf } from '../image-format.js'
import type { ResolvedImage } from '../engine/prepare.js'
import { renderModule } from '../emit/module-code.js'
import { parseSize } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'

/** How long a load waits for an image before answering with a preview module: cache hits and placeholders fit. */
export const DEV_PREVIEW_AFTER_MS = 300
/** Width and height a preview module exports for `size: "auto"` until the image exists. */
const AUTO_PREVIEW_SIZE = { width: 1024, height: 1024 }

export interface PreviewTarget {
  /** The module id. The latest load of an id owns the module: only its completion reloads it. */
  id: string
  /** Names this load's preview URLs (the dev server streams them). */
  token: string
  /** JS expression of the URL that streams candidate `index` (`ext`: the file extension of the format asked). */
  url(index: number, ext: string): string
  /** Told the cache key as soon as it is known: partial frames are routed by it, from the first one on. */
  onKey?(key: string): void
  /** @default DEV_PREVIEW_AFTER_MS */
  afterMs?: number
}

export interface PreviewImage {
  data: Buffer
  mime: string
}

/** A load answered with a preview module: its image is still on its way. */
export interface PendingPreview {
  /** The target's token. */
  token: string
  /** The final images, or the failure of the generation. */
  outcome: Promise<PreviewImage[]>
}

export type PreviewAnswer = { image: ResolvedImage } | { code: string; preview: PendingPreview }

export class DevPreviews {
  /** The latest pending load of each module id (its `answered` resolves once the preview module was handed over). */
  private readonly pending = new Map<string, { answered: Promise<void> }>()
  /** A failure found after its module was answered, thrown once by the load that follows. */
  private readonly failures = new Map<string, { fingerprint: string; error: unknown }>()

  /** `reload(id, label)`: the image of module `id` (spec `label`) is ready, or failed: reload the module. */
  constructor(private readonly reload: (id: string, label: string) => void) {}

  /**
   * The image of `spec` (`resolve` starts it, telling the key as soon as it is known), or, when it is not
   * ready within the target's delay, the code of a preview module and the pending preview behind it.
   */
  async load(spec: ValidatedSpec, target: PreviewTarget, resolve: (onKey: (key: string) => void) => Promise<ResolvedImage>): Promise<PreviewAnswer> {
    const { id } = target
    // Whatever an older load of this module still waits for, this load now owns the module.
    this.pending.delete(id)
    const fingerprint = specFingerprint(spec)
    const failed = this.failures.get(id)
    if (failed) {
      this.failures.delete(id)
      if (failed.fingerprint === fingerprint) throw failed.error
    }
    let key: string | undefined
    const image = resolve((known) => {
      key = known
      target.onKey?.(known)
    })
    const ready = await Promise.race([image.then(() => true, () => true), delay(target.afterMs ?? DEV_PREVIEW_AFTER_MS).then(() => false)])
    if (ready) return { image: await image }

    let answered!: () => void
    const load = { answered: new Promise<void>((resolve) => (answered = resolve)) }
    this.pending.set(id, load)
    const outcome = image.then(
      (resolved) => resolved.images.map(({ data, mime }) => ({ data, mime })),
      (error: unknown) => {
        if (this.pending.get(id) === load) this.failures.set(id, { fingerprint, error })
        throw error
      },
    )
    void outcome
      .catch(() => {})
      .then(() => load.answered)
      .then(() => {
        if (this.pending.get(id) !== load) return // the spec changed meanwhile; a newer load owns the module
        this.pending.delete(id)
        this.reload(id, spec.label)
      })
    const code = previewModule(spec, key, target)
    // The bundler receives the code right after this returns; a reload from then on reaches the module.
    setImmediate(answered)
    return { code, preview: { token: target.token, outcome } }
  }
}

function previewModule(spec: ValidatedSpec, key: string | undefined, target: PreviewTarget): string {
  const size = (typeof spec.request.size === 'string' && parseSize(spec.request.size)) || AUTO_PREVIEW_SIZE
  const count = Number(spec.request.n ?? 1)
  const ext = extensionOf(MIME_OF[spec.responseFormat])
  return renderModule({
    images: Array.from({ length: count }, (_, i) => ({ url: target.url(i, ext), ...size })),
    pick: spec.pick,
    alt: spec.alt,
    key: key ?? '',
    srcset: [],
    placeholder: undefined,
  })
}

/** What a spec asks for, to tell whether a remembered failure still applies. */
function specFingerprint(spec: ValidatedSpec): string {
  return JSON.stringify([spec.endpoint, spec.request, spec.inputs, spec.mask ?? null, spec.seed])
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
