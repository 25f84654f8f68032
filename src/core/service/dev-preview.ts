/**
 * The dev server's path of a load: a slow generation never blocks the page. When an image is not ready
 * within `DEV_PREVIEW_AFTER_MS`, the module is answered at once with preview URLs; the dev server streams
 * behind them (`plugin/dev-preview.ts`) a first frame at once (the offline placeholder rendering with a
 * `generating…` mark), then the partial frames, then the final image.
 *
 * Once the image is ready, the module is reloaded through HMR only when its exports change (the width and
 * height of `size: "auto"`, a key that was not known yet, `srcset` or `placeholder` from `emit`, a converted
 * format): the preview URL keeps serving the final image, so a page whose exports stay the same keeps its
 * state and is not reloaded; its module is only invalidated, so the next page load gets the final URLs.
 * A failure reloads the module, so Vite's overlay shows it; it is remembered and thrown once, by the load
 * that follows, as long as the spec asks for the same thing.
 */
import { MIME_OF, extensionOf } from '../image-format.js'
import type { ResolvedImage } from '../engine/prepare.js'
import { renderModule } from '../emit/module-code.js'
import { parseSize } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'

/** How long a load waits for an image before answering with a preview module: cache hits and placeholders fit. */
export const DEV_PREVIEW_AFTER_MS = 300
/**
 * How long a load waits for an image once its paid request is sent, before answering with a preview module: a
 * real generation takes seconds, so the page gets its first frame at once; an answer within this (a local
 * server, a test) still gives the final module directly.
 */
export const DEV_PREVIEW_AFTER_SENT_MS = 100
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
  /** The first frame of each candidate, shown until a partial frame or the image arrives: the placeholder rendering, marked `generating…`. */
  firstFrames: Promise<PreviewImage[]>
}

/** How the module of a finished preview is refreshed: `hmr` when its exports changed (or it failed), else invalidated quietly. */
export type PreviewReload = (id: string, label: string, hmr: boolean) => void

export type PreviewAnswer = { image: ResolvedImage } | { code: string; preview: PendingPreview }

export class DevPreviews {
  /** The latest pending load of each module id (its `answered` resolves once the preview module was handed over). */
  private readonly pending = new Map<string, { answered: Promise<void> }>()
  /** A failure found after its module was answered, thrown once by the load that follows. */
  private readonly failures = new Map<string, { fingerprint: string; error: unknown }>()

  /** `reload(id, label, hmr)`: the image of module `id` (spec `label`) is ready, or failed: refresh the module. */
  constructor(private readonly reload: PreviewReload) {}

  /**
   * The image of `spec` (`resolve` starts it, telling the key as soon as it is known), or, when it is not
   * ready within the target's delay, the code of a preview module and the pending preview behind it.
   */
  async load(
    spec: ValidatedSpec,
    target: PreviewTarget,
    resolve: (onKey: (key: string) => void, onMiss: () => void) => Promise<ResolvedImage>,
  ): Promise<PreviewAnswer> {
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
    let missKnown!: () => void
    const miss = new Promise<boolean>((resolve) => (missKnown = () => void delay(DEV_PREVIEW_AFTER_SENT_MS).then(() => resolve(false))))
    const image = resolve(
      (known) => {
        key = known
        target.onKey?.(known)
      },
      () => missKnown(),
    )
    // A generation takes seconds: once its request is sent, the module is answered with a preview almost at once;
    // anything else (a cache hit, a placeholder, an upstream spec of a chain) gets the delay to be ready.
    const ready = await Promise.race([image.then(() => true, () => true), miss, delay(target.afterMs ?? DEV_PREVIEW_AFTER_MS).then(() => false)])
    if (ready) return { image: await image }

    let answered!: () => void
    const load = { answered: new Promise<void>((resolve) => (answered = resolve)) }
    this.pending.set(id, load)
    const shown = { key, size: previewSize(spec), count: Number(spec.request.n ?? 1) }
    let exportsChanged = true
    const outcome = image.then(
      (resolved) => {
        exportsChanged = !sameExports(spec, shown, resolved)
        return resolved.images.map(({ data, mime }) => ({ data, mime }))
      },
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
        this.reload(id, spec.label, exportsChanged)
      })
    const code = previewModule(spec, shown, target)
    // The bundler receives the code right after this returns; a reload from then on reaches the module.
    setImmediate(answered)
    return { code, preview: { token: target.token, outcome, firstFrames: generatingFrames(spec, key, shown) } }
  }
}

interface ShownExports {
  /** The key the preview module exports ('' when it was not known yet). */
  key: string | undefined
  size: { width: number; height: number }
  count: number
}

/** The size a preview module exports: the spec's, or 1024×1024 for `auto` until the image exists. */
function previewSize(spec: ValidatedSpec): { width: number; height: number } {
  return (typeof spec.request.size === 'string' && parseSize(spec.request.size)) || AUTO_PREVIEW_SIZE
}

function previewModule(spec: ValidatedSpec, shown: ShownExports, target: PreviewTarget): string {
  const ext = extensionOf(MIME_OF[spec.responseFormat])
  return renderModule({
    images: Array.from({ length: shown.count }, (_, i) => ({ url: target.url(i, ext), ...shown.size })),
    pick: spec.pick,
    alt: spec.alt,
    key: shown.key ?? '',
    srcset: [],
    placeholder: undefined,
  })
}

/**
 * Whether the finished image's module exports what the preview module exported, its URLs aside (the preview
 * URLs go on serving the final image, byte for byte what the dev server serves for it): the same key and
 * candidates of the same size, and an `emit` that adds nothing (no `srcset`, no `placeholder`, no conversion).
 */
function sameExports(spec: ValidatedSpec, shown: ShownExports, resolved: ResolvedImage): boolean {
  const { emit } = spec
  const plainEmit = emit.widths.length === 0 && emit.placeholder === 'none' && emit.format === undefined && emit.quality === undefined
  return (
    plainEmit &&
    shown.key === resolved.key &&
    resolved.images.length === shown.count &&
    resolved.images.every((image) => image.width === shown.size.width && image.height === shown.size.height)
  )
}

/**
 * Make the first frame's renderer ready (sharp loaded, its fonts found: about half a second the first time),
 * so the first uncached image of a dev session shows its first frame at once. Failures are left to the
 * first frame itself, which is only a courtesy.
 */
export async function warmFirstFrames(): Promise<void> {
  try {
    const { renderPlaceholders } = await import('../providers/placeholder/provider.js')
    await renderPlaceholders({ label: 'warm-up', key: '0'.repeat(64), endpoint: 'generations', params: { prompt: 'warm-up', size: '64x64', n: 1 }, inputs: [] }, 'placeholder', { mark: 'generating…' })
  } catch {
    // the first frame will say nothing either; the image still comes
  }
}

/** The offline placeholder rendering of each candidate, marked `generating…`; none when it cannot be made (it is only a courtesy). */
async function generatingFrames(spec: ValidatedSpec, key: string | undefined, shown: ShownExports): Promise<PreviewImage[]> {
  try {
    const { renderPlaceholders } = await import('../providers/placeholder/provider.js')
    const { width, height } = shown.size
    const rendered = await renderPlaceholders(
      {
        label: spec.label,
        key: key ?? '0'.repeat(64),
        endpoint: spec.endpoint,
        params: { ...spec.request, size: `${width}x${height}`, n: shown.count },
        inputs: [],
      },
      'placeholder',
      { mark: 'generating…' },
    )
    return rendered.images.map((image) => ({ data: image.data, mime: MIME_OF[spec.responseFormat] }))
  } catch {
    return []
  }
}

/** What a spec asks for, to tell whether a remembered failure still applies. */
function specFingerprint(spec: ValidatedSpec): string {
  return JSON.stringify([spec.endpoint, spec.request, spec.inputs, spec.mask ?? null, spec.seed])
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
