/**
 * The remote cache as a tier of the cache (`cache/backend.ts`), behind the committed folder: lookups go
 * local → remote → generation, a remote hit is copied into the folder (`tiers.ts`), a generated entry is
 * pushed once committed, and a key is leased in the remote while this machine generates it, so that machines
 * sharing the remote pay for each key once.
 *
 * Reads are the remote cache's verified reads, with the sidecar checker the committed folder uses
 * (`entry.ts`: every field, the request hashing to the key). Its module, and the store's SDK, load only
 * when a remote is configured and the committed folder misses: a warm build never opens the remote.
 */
import pLimit from 'p-limit'
import type { CacheBackend, Inspection, LockAttempt, NewEntry, SidecarLook } from '../backend.js'
import { checkSidecar, type Sidecar } from '../entry.js'
import type { RemoteConfig } from './config.js'
import { openRemoteCache } from './open.js'
import type { RemoteCache, SidecarCheck } from './remote-cache.js'
import type { StoreOptions } from './store-options.js'

/** Entries moved at once by one process (each moves up to 4 images at once): bounds sockets and memory. */
const ENTRY_TRANSFERS = 16

/**
 * Waits between asks for the lease of a key another machine holds: from `min`, doubling, up to `max` (ms).
 * A holder pushes and releases as soon as its images are in, so a waiter learns of it within `max`; a
 * lease attempt is one small request, so even a thousand waiting keys stay a few hundred requests a second.
 */
export const LEASE_POLL_MS = { min: 250, max: 2_000 } as const

/** The committed folder's own checks, as the remote cache's checker: a remote entry passes what a local one must. */
export const checkRemoteSidecar: SidecarCheck = (json, key) => {
  const checked = checkSidecar(json, key)
  return checked.ok ? { ok: true, sidecar: checked.value } : { ok: false, reason: checked.reason }
}

export class RemoteTier implements CacheBackend {
  /** The remote cache warns of each entry it refuses (naming itself and the entry). */
  readonly reportsRefusals = true
  private readonly transfers = pLimit(ENTRY_TRANSFERS)
  /** Keys another machine holds: when to ask for their lease again (per key, doubling up to the remote's poll maximum). */
  private readonly waits = new Map<string, { until: number; wait: number; holder: string }>()

  constructor(
    readonly remote: RemoteCache,
    private readonly now: () => number = Date.now,
  ) {}

  get name(): string {
    return this.remote.display
  }

  get writable(): boolean {
    return this.remote.writable
  }

  async inspect(key: string): Promise<Inspection> {
    const found = await this.transfers(() => this.remote.getEntry(key))
    if (found.status === 'miss') return found
    if (found.status === 'invalid') return { status: 'corrupt', reason: found.reason }
    const { sidecar, images } = found.value
    return { status: 'hit', entry: { key, sidecar, images: sidecar.images.map((record, i) => ({ ...record, data: images[i]!.data })) } }
  }

  async readSidecar(key: string): Promise<SidecarLook> {
    const found = await this.remote.getSidecar(key)
    if (found.status === 'hit') return { status: 'ok', sidecar: found.value }
    return found.status === 'miss' ? found : { status: 'corrupt', reason: found.reason }
  }

  async imagesOf(sidecar: Sidecar): Promise<Buffer[] | undefined> {
    const found = await this.transfers(() => this.remote.getImages(sidecar))
    return found.status === 'hit' ? found.value.map((image) => image.data) : undefined
  }

  async write({ sidecar, images }: NewEntry): Promise<'written' | 'exists'> {
    const result = await this.transfers(() => this.remote.putEntry(sidecar, images))
    return result === 'created' ? 'written' : 'exists'
  }

  /** Entries are never removed from a shared remote by one machine (nothing there is deleted but leases). */
  async remove(): Promise<boolean> {
    return false
  }

  async keys(): Promise<string[]> {
    const keys: string[] = []
    for await (const key of this.remote.keys()) keys.push(key)
    return keys.sort()
  }

  /**
   * The key's lease in the remote, tried once (the engine waits between tries). While another machine holds
   * it, the store is asked again only after a wait that doubles, so that many waiting keys stay few requests.
   */
  async tryLock(key: string): Promise<LockAttempt> {
    if (!this.writable) return { lock: { release: async () => {} } }
    const waiting = this.waits.get(key)
    if (waiting && this.now() < waiting.until) return { holder: waiting.holder }
    const attempt = await this.remote.tryLease(key)
    if ('lease' in attempt) {
      this.waits.delete(key)
      return { lock: { release: () => attempt.lease.release() } }
    }
    const wait = waiting ? Math.min(LEASE_POLL_MS.max, waiting.wait * 2) : LEASE_POLL_MS.min
    const holder = `${attempt.holder ?? 'another machine'}, through ${this.name}`
    this.waits.set(key, { until: this.now() + wait, wait, holder })
    return { holder }
  }
}

/** The remote tier of a resolved `remote` option. */
export async function openRemoteTier(config: RemoteConfig, context: { warn(message: string): void; storeOptions?: StoreOptions }): Promise<RemoteTier> {
  const remote = await openRemoteCache(config, { check: checkRemoteSidecar, warn: context.warn, ...(context.storeOptions ? { storeOptions: context.storeOptions } : {}) })
  return new RemoteTier(remote)
}
