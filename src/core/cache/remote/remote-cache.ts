/**
 * The remote cache tier on top of any `ObjectStore`. Layout under the remote's prefix:
 *
 *   images/<sha256>          image bytes, content-addressed (one object per distinct image, shared by entries)
 *   entries/<key>.json       the sidecar in an envelope (`envelope.ts`), optionally signed
 *   leases/<key>             one lease per key: the machine generating it holds it
 *   probe/if-none-match      written once, to find stores that ignore conditional writes
 *
 * Reads trust nothing: the envelope is opened (and its signature checked when a signing key is set), the
 * sidecar is checked by the caller's checker (types, ranges, the request hashing to the key), and every image
 * is fetched within the size its sidecar records and must match its SHA-256, format and dimensions. Anything
 * wrong is a miss with a warning naming the entry. Writes never overwrite: images first (content-addressed,
 * so one that exists is the same bytes), the sidecar last, each created only if absent: first writer wins.
 */
import { hostname } from 'node:os'
import pLimit from 'p-limit'
import { AiImageError } from '../../errors.js'
import { IMAGE_LIMITS, readHeader } from '../../image-format.js'
import { realClock, type Clock } from '../../clock.js'
import { sha256 } from '../../hash.js'
import type { Sidecar } from '../store.js'
import type { RemoteMode } from './config.js'
import { openEnvelope, sealEnvelope } from './envelope.js'
import { KeyLease } from './key-lease.js'
import { ObjectTooLargeError, type ObjectStore, type PutResult } from './object-store.js'

/** Largest sidecar envelope read from a remote; real ones are a few KiB (a 32000-character prompt at most). */
export const MAX_ENTRY_BYTES = 1024 * 1024
const KEY_PATTERN = /^[0-9a-f]{64}$/
const SHA256_PATTERN = /^[0-9a-f]{64}$/
const PROBE_NAME = 'probe/if-none-match'
/** Images moved at once per entry. */
const TRANSFER_CONCURRENCY = 4

export const LEASE_DEFAULTS = {
  /** Lease duration: a dead holder's key is free again this long after its last renewal (Azure: 15-60 s). */
  ttlMs: 30_000,
  /** Waits between looks for the holder's entry: from min, doubling, up to max (with jitter). */
  pollMs: { min: 500, max: 5_000 },
} as const

/** The structural check of a sidecar (shared with the local cache): types, ranges, the request hashing to the key. */
export type SidecarCheck = (sidecarJson: unknown, key: string) => { ok: true; sidecar: Sidecar } | { ok: false; reason: string }

export interface RemoteCacheSetup {
  store: ObjectStore
  mode: RemoteMode
  signingKey?: string
  check: SidecarCheck
  /** Where warnings go (a refused entry, a store that ignores conditional writes). */
  warn: (message: string) => void
  lease?: { ttlMs?: number; pollMs?: { min: number; max: number } }
  /** For the waits between polls (tests move a virtual clock). */
  clock?: Clock
  /** Who holds a lease, as people waiting on it see it. @default '<hostname> pid <pid>' */
  holder?: string
}

export interface RemoteImage {
  sha256: string
  data: Buffer
}

export interface RemoteEntry {
  key: string
  /** As the checker returned it: what the local cache commits (a plain sidecar, no envelope). */
  sidecar: Sidecar
  /** The bytes of each image of `sidecar.images`, in the same order, verified. */
  images: RemoteImage[]
}

export type RemoteLookup<T> = { status: 'hit'; value: T } | { status: 'miss' } | { status: 'invalid'; reason: string }

export type Claim =
  /** Another machine made the entry (now, or before we looked). */
  | { status: 'hit'; entry: RemoteEntry }
  /**
   * This machine generates the key. With a lease, other machines wait for our entry: push it, then release.
   * Without one, the remote entry at this key is invalid (warned) and cannot be replaced: generate and keep it locally.
   */
  | { status: 'generate'; lease?: KeyLease }

export interface ClaimOptions {
  signal?: AbortSignal
  /** Called once, when another machine holds the key's lease and we start waiting for its entry. */
  onWait?: (holder: string | undefined) => void
}

export class RemoteCache {
  readonly mode: RemoteMode
  private readonly store: ObjectStore
  private readonly signingKey: string | undefined
  private readonly check: SidecarCheck
  private readonly warn: (message: string) => void
  private readonly clock: Clock
  private readonly ttlMs: number
  private readonly pollMs: { min: number; max: number }
  private readonly holder: string
  private readonly warned = new Set<string>()
  private probe: Promise<void> | undefined

  constructor(setup: RemoteCacheSetup) {
    this.store = setup.store
    this.mode = setup.mode
    this.signingKey = setup.signingKey
    this.check = setup.check
    this.warn = setup.warn
    this.clock = setup.clock ?? realClock
    this.ttlMs = setup.lease?.ttlMs ?? LEASE_DEFAULTS.ttlMs
    this.pollMs = setup.lease?.pollMs ?? LEASE_DEFAULTS.pollMs
    this.holder = setup.holder ?? `${hostname()} pid ${process.pid}`
  }

  /** The remote's URL without secrets. */
  get display(): string {
    return this.store.describe()
  }

  get writable(): boolean {
    return this.mode === 'read-write'
  }

  /** The verified sidecar of `key` without its images (for `ai-image check`: is it in the remote?). */
  async getSidecar(key: string): Promise<RemoteLookup<Sidecar>> {
    checkKey(key)
    let data: Buffer | undefined
    try {
      data = await this.store.get(entryName(key), MAX_ENTRY_BYTES)
    } catch (error) {
      if (error instanceof ObjectTooLargeError) return this.refuse(key, `its sidecar is larger than ${MAX_ENTRY_BYTES} bytes`)
      throw error
    }
    if (data === undefined) return { status: 'miss' }
    const opened = openEnvelope(data, key, this.signingKey)
    if (!opened.ok) return this.refuse(key, opened.reason)
    let checked: ReturnType<SidecarCheck>
    try {
      checked = this.check(opened.sidecar, key)
    } catch {
      checked = { ok: false, reason: 'its sidecar could not be checked' }
    }
    if (!checked.ok) return this.refuse(key, checked.reason)
    if (checked.sidecar.key !== key || !Array.isArray(checked.sidecar.images) || checked.sidecar.images.length === 0) {
      return this.refuse(key, 'its sidecar does not describe this key')
    }
    return { status: 'hit', value: checked.sidecar }
  }

  /** The verified entry of `key`: sidecar and image bytes. Tampered or half-written entries are misses, warned. */
  async getEntry(key: string): Promise<RemoteLookup<RemoteEntry>> {
    const found = await this.getSidecar(key)
    if (found.status !== 'hit') return found
    const sidecar = found.value
    const images = await this.getImages(sidecar)
    if (images.status !== 'hit') return images
    return { status: 'hit', value: { key, sidecar, images: images.value } }
  }

  /**
   * The images of a sidecar checked elsewhere (a sidecar committed without its images, `commitImages:
   * false`), fetched by their SHA-256 (content-addressed: any entry's push of the same bytes serves) and
   * verified like `getEntry`'s. One missing or wrong image makes the whole answer a miss, warned.
   */
  async getImages(sidecar: Sidecar): Promise<RemoteLookup<RemoteImage[]>> {
    checkKey(sidecar.key)
    const limit = pLimit(TRANSFER_CONCURRENCY)
    const fetched = await Promise.all(sidecar.images.map((image, index) => limit(() => this.fetchImage(image, index))))
    const problem = fetched.find((result): result is { reason: string } => 'reason' in result)
    if (problem) return this.refuse(sidecar.key, problem.reason)
    return { status: 'hit', value: fetched as RemoteImage[] }
  }

  private async fetchImage(image: Sidecar['images'][number], index: number): Promise<RemoteImage | { reason: string }> {
    const label = `image ${index}`
    if (typeof image.sha256 !== 'string' || !SHA256_PATTERN.test(image.sha256)) return { reason: `${label} has no valid SHA-256` }
    if (!Number.isInteger(image.bytes) || image.bytes < 1 || image.bytes > IMAGE_LIMITS.maxBytes) return { reason: `${label} has an impossible size` }
    let data: Buffer | undefined
    try {
      data = await this.store.get(imageName(image.sha256), image.bytes)
    } catch (error) {
      if (error instanceof ObjectTooLargeError) return { reason: `${label} (${image.sha256.slice(0, 12)}…) is larger than its sidecar says` }
      throw error
    }
    if (data === undefined) return { reason: `${label} (${image.sha256.slice(0, 12)}…) is missing from the remote (an upload that did not finish?)` }
    if (data.length !== image.bytes || sha256(data) !== image.sha256) return { reason: `${label} (${image.sha256.slice(0, 12)}…) does not match its SHA-256` }
    const header = readHeader(data)
    if (!header || header.mime !== image.mime || header.width !== image.width || header.height !== image.height) {
      return { reason: `${label} is not the ${image.mime} of ${image.width}x${image.height} its sidecar says` }
    }
    return { sha256: image.sha256, data }
  }

  /**
   * Push an entry: images first (content-addressed), then the sidecar, each only if absent. 'exists' means
   * the remote already had an entry for this key (first writer wins; it is not replaced).
   */
  async putEntry(sidecar: Sidecar, images: readonly Uint8Array[]): Promise<PutResult> {
    this.requireWritable('push')
    checkKey(sidecar.key)
    if (images.length !== sidecar.images.length) throw new Error(`putEntry: ${images.length} images for a sidecar of ${sidecar.images.length}`)
    images.forEach((data, i) => {
      const record = sidecar.images[i]!
      if (data.length !== record.bytes || sha256(data) !== record.sha256) throw new Error(`putEntry: image ${i} of ${sidecar.key} does not match its sidecar`)
    })
    // What this machine would refuse to read, it does not push.
    const checked = this.check(JSON.parse(JSON.stringify(sidecar)) as unknown, sidecar.key)
    if (!checked.ok) {
      throw new AiImageError('BAD_RESPONSE', `remote cache ${this.display}: entry ${sidecar.key} was not pushed: ${checked.reason}`, { data: { remote: true } })
    }
    await this.ensureConditionalWrites()
    const limit = pLimit(TRANSFER_CONCURRENCY)
    await Promise.all(images.map((data, i) => limit(() => this.store.putIfAbsent(imageName(sidecar.images[i]!.sha256), data, sidecar.images[i]!.mime))))
    return this.store.putIfAbsent(entryName(sidecar.key), sealEnvelope(sidecar.key, sidecar, this.signingKey), 'application/json')
  }

  /**
   * Who generates `key`: returns the entry when another machine made it (waiting while one holds the key's
   * lease), or tells this machine to generate, holding the lease so that the others wait for it.
   */
  async claim(key: string, options: ClaimOptions = {}): Promise<Claim> {
    this.requireWritable('take a lease')
    checkKey(key)
    await this.ensureConditionalWrites()
    let poll = this.pollMs.min
    let waiting = false
    for (;;) {
      options.signal?.throwIfAborted()
      const found = await this.getEntry(key)
      if (found.status === 'hit') return { status: 'hit', entry: found.value }
      // Nothing can replace an invalid entry, so nobody's lease would bring a valid one: generate, keep locally.
      if (found.status === 'invalid') return { status: 'generate' }
      const attempt = await this.tryLease(key)
      if ('lease' in attempt) {
        const lease = attempt.lease
        // The last holder may have pushed and released between our look and our lease.
        const again = await this.getEntry(key).catch(async (error: unknown) => {
          await lease.release()
          throw error
        })
        if (again.status === 'hit') {
          await lease.release()
          return { status: 'hit', entry: again.value }
        }
        if (again.status === 'invalid') {
          await lease.release()
          return { status: 'generate' }
        }
        return { status: 'generate', lease }
      }
      if (!waiting) options.onWait?.(attempt.holder)
      waiting = true
      await this.clock.sleep(poll + Math.random() * poll, options.signal)
      poll = Math.min(this.pollMs.max, poll * 2)
    }
  }

  /**
   * One try at the lease on `key`, without waiting: held (renewed until released), or refused because
   * `holder` (as the store knows it) holds it. For callers with their own waiting loop (the build's engine).
   */
  async tryLease(key: string): Promise<{ lease: KeyLease } | { holder: string | undefined }> {
    this.requireWritable('take a lease')
    checkKey(key)
    await this.ensureConditionalWrites()
    const attempt = await this.store.tryAcquireLease(leaseName(key), { holder: this.holder, ttlMs: this.ttlMs })
    return attempt.acquired ? { lease: new KeyLease(key, attempt.lease) } : { holder: attempt.holder }
  }

  /** Keys of the entries in the remote (names that are not entries are skipped). */
  async *keys(): AsyncIterable<string> {
    for await (const name of this.store.list('entries/')) {
      const match = /^entries\/([0-9a-f]{64})\.json$/.exec(name)
      if (match) yield match[1]!
    }
  }

  /**
   * Once per cache, before the first write: a store that ignores `If-None-Match: *` (s3rver, old
   * S3-compatible servers) would let a second writer overwrite an entry and two machines hold one lease.
   */
  private ensureConditionalWrites(): Promise<void> {
    this.probe ??= (async () => {
      const body = Buffer.from('unplugin-ai-image: this store must refuse to overwrite this object (If-None-Match: *)\n')
      if ((await this.store.putIfAbsent(PROBE_NAME, body, 'text/plain')) === 'exists') return
      if ((await this.store.putIfAbsent(PROBE_NAME, body, 'text/plain')) === 'exists') return
      this.warn(
        `remote cache ${this.display}: the store ignores conditional writes (If-None-Match: *), so a later push may overwrite an entry and two machines may generate the same key. Use a store that supports them (AWS S3, Azure Blob Storage, MinIO)`,
      )
    })()
    this.probe.catch(() => {
      this.probe = undefined // a failed probe (store down) is tried again with the next write
    })
    return this.probe
  }

  private requireWritable(what: string): void {
    if (this.writable) return
    throw new AiImageError('SPEC_INVALID', `remote cache ${this.display}: cannot ${what} in mode 'read'. Set remote.mode to 'read-write' (or AI_IMAGE_REMOTE_MODE=read-write) where pushing is wanted`, {
      file: 'plugin options',
      field: 'remote.mode',
      data: { remote: true },
    })
  }

  private refuse(key: string, reason: string): { status: 'invalid'; reason: string } {
    const message = `remote cache ${this.display}: entry ${key} is ignored: ${reason}. It is treated as a miss`
    if (!this.warned.has(message)) {
      this.warned.add(message)
      this.warn(message)
    }
    return { status: 'invalid', reason }
  }
}

export function entryName(key: string): string {
  return `entries/${key}.json`
}

export function imageName(sha: string): string {
  return `images/${sha}`
}

export function leaseName(key: string): string {
  return `leases/${key}`
}

function checkKey(key: string): void {
  // Keys come from our own hashing; anything else would build object names from outside input.
  if (!KEY_PATTERN.test(key)) throw new Error(`remote cache: ${JSON.stringify(key.slice(0, 80))} is not a cache key`)
}
