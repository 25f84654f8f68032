/**
 * What the remote cache needs from an object store (Azure Blob Storage, S3 and S3-compatible stores), and
 * nothing more: bounded reads, writes that never overwrite, paged listing, and one lease per name.
 *
 * Names are relative to the store's root (the container or bucket plus the prefix of the remote URL) and
 * use `/` between segments. Every method either does what it says or throws an `AiImageError` whose
 * message starts with `remote cache <describe()>:` and whose `data.remote` is true (see `errors.ts`);
 * never a raw SDK error. Retries of throttled and failed requests happen inside, in the SDK's own retry
 * policy, within a bounded total time.
 */

export type PutResult = 'created' | 'exists'

export interface ObjectStore {
  /** Kind of store, for messages and fixes. */
  readonly kind: 'azure' | 's3'
  /** The remote as people should see it: its URL without any secret (no SAS query, no key). */
  describe(): string
  /**
   * The bytes of `name`, or undefined when it does not exist. A body over `maxBytes` (by its declared
   * length, or while it arrives) is refused with `ObjectTooLargeError` without being buffered.
   */
  get(name: string, maxBytes: number): Promise<Buffer | undefined>
  /**
   * Create `name` with `data` unless it already exists: the store decides atomically (Azure
   * `If-None-Match: *` → 409 BlobAlreadyExists; S3 `If-None-Match: *` → 412 PreconditionFailed), so the
   * first writer wins and nothing is ever overwritten.
   */
  putIfAbsent(name: string, data: Uint8Array, contentType: string): Promise<PutResult>
  /** Names under `prefix` (relative to the store's root), page by page as the store serves them. */
  list(prefix: string): AsyncIterable<string>
  /**
   * Try once to take the lease on `name` (created when missing). A lease whose holder stopped renewing is
   * taken over once it has expired; a live holder's is not.
   */
  tryAcquireLease(name: string, request: LeaseRequest): Promise<LeaseAttempt>
}

export interface LeaseRequest {
  /** Who holds it, for the people waiting (host and pid; no secret). */
  holder: string
  /** Wanted duration; Azure rounds it into its 15-60 s range (`StoreLease.ttlMs` says what was granted). */
  ttlMs: number
}

export type LeaseAttempt = { acquired: true; lease: StoreLease } | { acquired: false; holder?: string }

export interface StoreLease {
  /** The duration the store granted: renew well within it. */
  readonly ttlMs: number
  /** Extend the lease by `ttlMs` from now; false when it is no longer ours (it lapsed and was taken over). */
  renew(): Promise<boolean>
  /** Give it up (a lease already lost is not an error). */
  release(): Promise<void>
}

/** A body over the caller's limit: refused unread. The caller treats the object as invalid, not as a failure. */
export class ObjectTooLargeError extends Error {
  override readonly name = 'ObjectTooLargeError'
  constructor(
    readonly objectName: string,
    readonly maxBytes: number,
    readonly declaredBytes: number | undefined,
  ) {
    super(`${objectName} is larger than ${maxBytes} bytes${declaredBytes === undefined ? '' : ` (${declaredBytes} bytes)`}`)
  }
}

/** Joins the store's prefix and a name: `a/b` + `entries/x.json` → `a/b/entries/x.json`. */
export function joinName(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name
}

/**
 * Read a body stream into one buffer, refusing it as soon as it passes `maxBytes` (the stream is destroyed,
 * so the rest is never downloaded). The declared length is checked first.
 */
export async function readBounded(
  body: AsyncIterable<Uint8Array> & { destroy?: (error?: Error) => void },
  name: string,
  maxBytes: number,
  declaredBytes: number | undefined,
): Promise<Buffer> {
  if (declaredBytes !== undefined && declaredBytes > maxBytes) {
    body.destroy?.()
    throw new ObjectTooLargeError(name, maxBytes, declaredBytes)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.length
    if (total > maxBytes) {
      body.destroy?.()
      throw new ObjectTooLargeError(name, maxBytes, declaredBytes)
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
  }
  return Buffer.concat(chunks, total)
}
