/**
 * Spec → image: a cache hit, or a generation through the scheduler that lands in the cache. One key is
 * generated once per process (concurrent imports share the promise). Placeholder images are rendered
 * in memory and never written to the committed cache.
 */
import { EventEmitter } from 'node:events'
import { AiImageError } from '../errors.js'
import { computeKey, sha256, type KeyMaterial } from '../cache/key.js'
import { sidecarFor, type CacheStore, type Sidecar, type SidecarImage } from '../cache/store.js'
import type { Logger } from '../log.js'
import type { ResolvedOptions } from '../options.js'
import type { ImageProvider, PartialFrame, ProviderRequest } from '../providers/types.js'
import { renderPlaceholders } from '../providers/placeholder.js'
import { addUsage } from '../providers/stream.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { resolveInputs, type ChainResolver, type ResolvedInput } from './inputs.js'
import type { Scheduler } from './scheduler.js'
import { checkGeneratedImage, readImageFacts } from './verify.js'

export interface PreparedSpec {
  spec: ValidatedSpec
  key: string
  material: KeyMaterial
  inputs: ResolvedInput[]
  mask?: ResolvedInput
}

export interface ResolvedImageFile {
  data: Buffer
  sha256: string
  width: number
  height: number
  mime: string
}

export interface ResolvedImage {
  key: string
  spec: ValidatedSpec
  images: ResolvedImageFile[]
  /** Rendered offline by the placeholder provider (not in the committed cache). */
  placeholder: boolean
  /** Served from the committed cache without a request. */
  hit: boolean
  sidecar?: Sidecar
}

export interface EngineEvents {
  /** A streamed preview of a key being generated. */
  partial: [key: string, frame: PartialFrame]
  /** A key finished (from the cache or the API). */
  done: [key: string]
}

export interface EngineDeps {
  options: ResolvedOptions
  store: CacheStore
  scheduler: Scheduler
  /** Created on the first miss, so a warm build needs neither a key nor a connection pool. */
  provider: () => ImageProvider
  log: Logger
}

export class ImageEngine {
  readonly events = new EventEmitter<EngineEvents>()
  readonly stats = { hits: 0, generated: 0, placeholders: 0, images: 0 }
  private readonly inflight = new Map<string, Promise<ResolvedImage>>()

  constructor(private readonly deps: EngineDeps) {}

  /** Resolve inputs (chains included) and compute the key. */
  async prepare(spec: ValidatedSpec, chain: ChainResolver): Promise<PreparedSpec> {
    const { inputs, mask } = await resolveInputs(spec, this.deps.options.root, chain)
    const material: KeyMaterial = {
      endpoint: spec.endpoint,
      request: spec.request,
      inputs: inputs.map((i) => i.sha256),
      mask: mask?.sha256 ?? null,
      seed: spec.seed,
    }
    return { spec, key: computeKey(material), material, inputs, ...(mask ? { mask } : {}) }
  }

  /** The image of a prepared spec: from the cache, or generated now. Concurrent calls share one promise. */
  obtain(prepared: PreparedSpec): Promise<ResolvedImage> {
    let pending = this.inflight.get(prepared.key)
    if (!pending) {
      pending = this.obtainUncached(prepared).finally(() => {
        this.inflight.delete(prepared.key)
        this.events.emit('done', prepared.key)
      })
      this.inflight.set(prepared.key, pending)
    }
    // Every importer gets its own spec (labels, pick and emit options differ); the pixels are shared.
    return pending.then((image) => (image.spec === prepared.spec ? image : { ...image, spec: prepared.spec }))
  }

  isGenerating(key: string): boolean {
    return this.inflight.has(key)
  }

  private async obtainUncached(prepared: PreparedSpec): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const { options, store, log } = this.deps
    const found = await store.inspect(key)
    if (found.status === 'hit') {
      this.stats.hits++
      return { key, spec, hit: true, placeholder: false, sidecar: found.entry.sidecar, images: found.entry.images }
    }
    if (found.status === 'corrupt') log.warn(`${spec.label}: cache entry ${key.slice(0, 12)} is corrupt (${found.reason}); treating it as a miss`)

    const provider = options.provider
    if (options.frozen && !(provider.kind === 'placeholder' && provider.explicit)) {
      throw new AiImageError('CACHE_MISS_FROZEN', `no cached image for this spec (key ${key.slice(0, 12)})`, {
        file: spec.label,
        data: { key },
      })
    }
    if (provider.kind === 'placeholder') return this.renderPlaceholder(prepared)
    return this.generate(prepared)
  }

  private async renderPlaceholder(prepared: PreparedSpec): Promise<ResolvedImage> {
    const result = await renderPlaceholders(this.providerRequest(prepared, Number(prepared.spec.request.n)))
    const images: ResolvedImageFile[] = []
    for (const image of result.images) {
      const facts = (await readImageFacts(image.data))!
      images.push({ data: image.data, sha256: sha256(image.data), width: facts.width, height: facts.height, mime: facts.mime })
    }
    this.stats.placeholders++
    return { key: prepared.key, spec: prepared.spec, hit: false, placeholder: true, images }
  }

  private async generate(prepared: PreparedSpec): Promise<ResolvedImage> {
    const { spec, key } = prepared
    const { store, scheduler } = this.deps
    const provider = this.deps.provider()
    provider.checkSpec(spec)

    // A model that returns fewer images per call than asked (dall-e-3: one) gets several calls.
    const total = Number(spec.request.n)
    const calls: Array<{ first: number; n: number }> = []
    for (let first = 0; first < total; first += spec.perCallN) calls.push({ first, n: Math.min(spec.perCallN, total - first) })

    const records: SidecarImage[] = new Array(total)
    const files: ResolvedImageFile[] = new Array(total)
    let usage: Record<string, unknown> | undefined
    let created = 0
    const requestIds: string[] = []

    await Promise.all(
      calls.map(async (call) => {
        const request = this.providerRequest(prepared, call.n)
        const result = await scheduler.run(spec.label, async ({ signal }) => {
          const answer = await provider.generate(request, {
            signal,
            onPartial: (frame) => this.events.emit('partial', key, { ...frame, index: call.first + frame.index }),
          })
          if (answer.images.length !== call.n) {
            throw new AiImageError('BAD_RESPONSE', `asked for ${call.n} image(s), got ${answer.images.length}`, {
              file: spec.label,
              retryable: true,
              possiblyBilled: true,
            })
          }
          // Checked inside the attempt, so a broken image is retried like any other broken answer.
          const facts = await Promise.all(
            answer.images.map((image) =>
              checkGeneratedImage(image.data, { format: spec.responseFormat, size: sizeToCheck(spec) }, spec.label, answer.requestId),
            ),
          )
          return { answer, facts }
        })
        // Each image lands in the cache the moment it arrives; the sidecar (written last) makes the entry.
        for (const [i, image] of result.answer.images.entries()) {
          const index = call.first + i
          const facts = result.facts[i]!
          records[index] = await store.writeImage(key, index, image.data, {
            mime: facts.mime,
            width: facts.width,
            height: facts.height,
            ...(image.revisedPrompt ? { revised_prompt: image.revisedPrompt } : {}),
          })
          files[index] = { data: image.data, sha256: records[index].sha256, width: facts.width, height: facts.height, mime: facts.mime }
        }
        usage = addUsage(usage, result.answer.usage)
        created ||= result.answer.created
        if (result.answer.requestId) requestIds.push(result.answer.requestId)
      }),
    )

    const sidecar = sidecarFor(key, prepared.material, {
      provider: provider.describe(spec.model),
      created,
      revised_prompt: records.find((r) => r.revised_prompt)?.revised_prompt ?? null,
      usage: usage ?? null,
      request_id: requestIds.length ? requestIds.join(', ') : null,
      images: records,
    })
    await store.commit(sidecar)
    this.stats.generated++
    this.stats.images += total
    return { key, spec, hit: false, placeholder: false, sidecar, images: files }
  }

  private providerRequest(prepared: PreparedSpec, n: number): ProviderRequest {
    const { spec, key } = prepared
    return {
      label: spec.label,
      key,
      endpoint: spec.endpoint,
      params: { ...spec.request, n },
      inputs: prepared.inputs.map(({ name, data, mime }) => ({ name, data, mime })),
      ...(prepared.mask ? { mask: { name: prepared.mask.name, data: prepared.mask.data, mime: prepared.mask.mime } } : {}),
      ...(spec.transport.user === undefined ? {} : { user: spec.transport.user }),
      ...(spec.transport.stream ? { stream: { partialImages: spec.transport.partialImages } } : {}),
    }
  }
}

/** The size to insist on: none for `auto` (and for models we do not know). */
function sizeToCheck(spec: ValidatedSpec): string | undefined {
  const size = spec.request.size
  return spec.knownModel && typeof size === 'string' && size !== 'auto' ? size : undefined
}
