/**
 * A collected batch line → a cache entry, written once whoever collects (#16). The images of a line were
 * verified by the collection like any answer (`batch/collect.ts`); here they are written under the key's lock
 * (every tier's: one process, or machine, writes a key at a time), after a second look at the cache: a key
 * another process collected (or generated) meanwhile is left as it is. Candidates land in the key's draft (as
 * a synchronous generation's do: what an interrupted earlier run kept is used, a line's images are journaled
 * the moment they are written), and the sidecar — with the usage and the cost at batch prices — is written
 * last, once every candidate of the key is there.
 */
import type { Clock } from '../clock.js'
import { LOCK_POLL_MS, type HeldLock } from '../cache/backend.js'
import { sidecarFor, type SidecarImage } from '../cache/store.js'
import type { CacheTiers } from '../cache/tiers.js'
import { batchLineCost, type EntryCost } from './batch-cost.js'
import type { CollectedLine } from '../batch/collect.js'
import type { BatchRecord } from '../batch/record.js'
import type { PriceOverrides } from '../engine/cost.js'
import { addUsage } from '../providers/usage.js'
import { redactDeep } from '../secrets.js'

export interface WriteDeps {
  cache: CacheTiers
  clock: Clock
  prices: PriceOverrides
  signal?: AbortSignal
}

export type WriteOutcome =
  /** The sidecar was written: the entry exists now. */
  | { kind: 'written'; images: number; cost: EntryCost | undefined }
  /** The entry was already in the cache (another process or machine wrote it): nothing was written. */
  | { kind: 'cached' }
  /** The line's candidates are written and journaled; others of the key are still missing. */
  | { kind: 'partial'; images: number; missing: number }

type ImagesLine = Extract<CollectedLine, { kind: 'images' }>

export async function writeCollectedLine(deps: WriteDeps, record: BatchRecord, line: ImagesLine): Promise<WriteOutcome> {
  const { key } = line
  const material = record.keys[key]!.material
  const lock = await lockOf(deps, key)
  try {
    const found = await deps.cache.inspect(key)
    if (found.status === 'hit') return { kind: 'cached' }
    const draft = await deps.cache.draft(key)
    await draft.prepare()
    const { state, kept } = draft
    let written = 0
    for (const [i, image] of line.images.entries()) {
      const index = line.indices[i]!
      // A candidate an interrupted run already paid for and wrote is kept as it is.
      if (kept.has(index) && state.images[String(index)]) continue
      await draft.writeCandidate(index, image.data, {
        mime: image.facts.mime,
        width: image.facts.width,
        height: image.facts.height,
        ...(image.revisedPrompt ? { revised_prompt: redactDeep(image.revisedPrompt) } : {}),
      })
      written++
    }
    state.usage = addUsage(state.usage ?? undefined, line.usage ? redactDeep(line.usage) : undefined) ?? null
    state.created ||= line.created
    if (line.requestId) state.request_ids.push(line.requestId)
    await draft.save()

    const n = Number(material.request.n)
    const images: SidecarImage[] = []
    for (let index = 0; index < n; index++) {
      const image = state.images[String(index)]
      if (image) images.push(image)
    }
    if (images.length < n) return { kind: 'partial', images: written, missing: n - images.length }
    const cost = batchLineCost(
      { model: String(material.request.model), quality: material.request.quality, size: material.request.size },
      state.usage ?? undefined,
      n,
      deps.prices,
    )
    const sidecar = sidecarFor(
      key,
      material,
      redactDeep({
        provider: { kind: 'openai' },
        created: state.created || Math.floor(Date.now() / 1000),
        revised_prompt: images.find((image) => image.revised_prompt)?.revised_prompt ?? null,
        usage: state.usage,
        request_id: state.request_ids.length ? state.request_ids.join(', ') : null,
        images,
      }),
    )
    await draft.commit(cost ? { ...sidecar, cost } : sidecar)
    return { kind: 'written', images: written, cost }
  } finally {
    await lock.release()
  }
}

/** The key's lock in every tier, waiting while another process (collecting the same batch) holds it. */
async function lockOf(deps: WriteDeps, key: string): Promise<HeldLock> {
  for (let poll: number = LOCK_POLL_MS.min; ; poll = Math.min(LOCK_POLL_MS.max, poll * 2)) {
    const attempt = await deps.cache.tryLock(key)
    if (attempt.lock) return attempt.lock
    await deps.clock.sleep(poll * (1 + Math.random()), deps.signal)
  }
}
