/**
 * S3 and S3-compatible stores as an `ObjectStore`, with @aws-sdk/client-s3 (loaded only through `open.ts`,
 * only when an s3 remote is configured).
 *
 * - First writer wins: PutObject with `If-None-Match: *`; 412 PreconditionFailed means someone was first
 *   (AWS S3 since August 2024, MinIO, R2). A store that ignores the header is caught by the remote cache's
 *   probe (`remote-cache.ts`), which warns.
 * - S3 has no leases, so a lease is a small object `{ v, holder, token, expiresAt, ttlMs }`: created with
 *   `If-None-Match: *`, renewed and taken over with `If-Match: <etag>` (one writer wins each race), released
 *   with a DeleteObject `If-Match: <etag>`. Clocks of machines differ, so a waiter judges a holder dead by
 *   its own clock: the lease object has kept the same ETag for longer than the holder's ttl (a live holder
 *   rewrites it every ttl/3). Its `expiresAt` (the holder's clock) only speeds up taking over a lease dead
 *   for longer than `CLOCK_SKEW_MARGIN_MS`, a margin wider than any clock drift that NTP leaves.
 * - Retries: the SDK's standard retry mode (exponential backoff with jitter; throttling such as 503
 *   SlowDown and 429, 5xx and network errors), and one abort signal per operation bounding its total time.
 */
import { randomBytes } from 'node:crypto'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { AiImageError } from '../../errors.js'
import type { S3Location } from './config.js'
import { NETWORK_ERROR_CODES, remoteError, type StoreFailure } from './errors.js'
import { joinName, ObjectTooLargeError, readBounded, type LeaseAttempt, type LeaseRequest, type ObjectStore, type PutResult, type StoreLease } from './object-store.js'
import { STORE_DEFAULTS, type StoreOptions } from './store-options.js'

/** A lease whose holder's clock says it expired this long ago is dead whatever the clocks: see above. */
export const CLOCK_SKEW_MARGIN_MS = 10 * 60_000
/** Bounds on the ttl a lease object claims (it is untrusted input): a holder cannot make waiters wait forever. */
const LEASE_TTL_BOUNDS = { min: 1_000, max: 10 * 60_000 } as const
const MAX_LEASE_BYTES = 4096
/** Concurrent conditional writes to one key may be answered 409 ConditionalRequestConflict: try again. */
const CONFLICT_TRIES = 4

const FIXES = {
  auth:
    'Check the AWS credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE / the instance role) and their expiry, and that the policy allows s3:GetObject and s3:ListBucket (to read), s3:PutObject and s3:DeleteObject (to push)',
  noContainer: { noun: 'bucket' as const, fix: 'Create it, or fix remote.url (and AWS_ENDPOINT_URL)' },
}

interface LeaseBody {
  v: 1
  holder: string
  token: string
  /** Epoch ms by the holder's clock. */
  expiresAt: number
  ttlMs: number
}

export class S3Store implements ObjectStore {
  readonly kind = 's3'
  private readonly tries: number
  private readonly operationTimeoutMs: number
  private readonly pageSize: number
  private readonly now: () => number
  /** Per lease name: the ETag this process last saw and since when (its own clock), to tell a dead holder. */
  private readonly observed = new Map<string, { etag: string; since: number }>()

  private constructor(
    private readonly client: S3Client,
    private readonly location: S3Location,
    private readonly display: string,
    options: StoreOptions,
  ) {
    this.tries = options.maxTries ?? STORE_DEFAULTS.maxTries
    this.operationTimeoutMs = options.operationTimeoutMs ?? STORE_DEFAULTS.operationTimeoutMs
    this.now = options.now ?? Date.now
    this.pageSize = options.listPageSize ?? STORE_DEFAULTS.listPageSize
  }

  static async open(location: S3Location, display: string, options: StoreOptions = {}): Promise<S3Store> {
    const config: S3ClientConfig = {
      ...(location.region ? { region: location.region } : {}),
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      forcePathStyle: location.forcePathStyle,
      ...(location.credentials ? { credentials: location.credentials } : {}),
      maxAttempts: options.maxTries ?? STORE_DEFAULTS.maxTries,
      retryMode: 'standard',
      // Our own SHA-256 checks every image; the SDK's newer default checksums break many S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? STORE_DEFAULTS.connectTimeoutMs,
        requestTimeout: Math.min(60_000, options.operationTimeoutMs ?? STORE_DEFAULTS.operationTimeoutMs),
      },
    }
    const client = new S3Client(config)
    if (!location.region) {
      // The SDK looks in the AWS config files; a missing region would otherwise surface as an odd error later.
      try {
        await client.config.region()
      } catch {
        client.destroy()
        throw new AiImageError('SPEC_INVALID', `remote cache ${display}: no AWS region. Set AWS_REGION (or a region in the AWS profile)`, {
          file: 'plugin options',
          field: 'remote.url',
          data: { remote: true },
        })
      }
    }
    return new S3Store(client, location, display, options)
  }

  describe(): string {
    return this.display
  }

  async get(name: string, maxBytes: number): Promise<Buffer | undefined> {
    const found = await this.getWithEtag(name, maxBytes, `reading ${name}`)
    return found?.data
  }

  async putIfAbsent(name: string, data: Uint8Array, contentType: string): Promise<PutResult> {
    const etag = await this.conditionalPut(name, data, contentType, { IfNoneMatch: '*' }, `writing ${name}`)
    return etag === undefined ? 'exists' : 'created'
  }

  async *list(prefix: string): AsyncIterable<string> {
    const root = this.location.prefix ? `${this.location.prefix}/` : ''
    let token: string | undefined
    do {
      const page = await this.run(`listing ${prefix}`, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: joinName(this.location.prefix, prefix), MaxKeys: this.pageSize, ...(token ? { ContinuationToken: token } : {}) }),
          { abortSignal },
        ),
      )
      for (const item of page.Contents ?? []) {
        if (typeof item.Key === 'string' && item.Key.startsWith(root)) yield item.Key.slice(root.length)
      }
      token = page.IsTruncated ? page.NextContinuationToken || undefined : undefined
    } while (token)
  }

  async tryAcquireLease(name: string, request: LeaseRequest): Promise<LeaseAttempt> {
    const ttlMs = Math.min(LEASE_TTL_BOUNDS.max, Math.max(LEASE_TTL_BOUNDS.min, request.ttlMs))
    const token = randomBytes(16).toString('hex')
    const body = () => leaseBody({ v: 1, holder: request.holder, token, expiresAt: this.now() + ttlMs, ttlMs })
    // A few rounds at most: each one ends unless the lease vanished between our create and our read.
    // An oversized lease object is garbage: it is judged by its ETag alone, like any unreadable one.
    for (let round = 0; round < 3; round++) {
      const created = await this.conditionalPut(name, body(), 'application/json', { IfNoneMatch: '*' }, `taking the lease ${name}`)
      if (created !== undefined) return { acquired: true, lease: this.heldLease(name, created, body, ttlMs) }
      const current = await this.getWithEtag(name, MAX_LEASE_BYTES, `reading the lease ${name}`, { oversizedAsEmpty: true })
      if (!current) continue
      const holder = parseLeaseBody(current.data)
      if (current.etag === undefined || !this.isDead(name, current.etag, holder, ttlMs)) return { acquired: false, ...(holder ? { holder: holder.holder } : {}) }
      const taken = await this.conditionalPut(name, body(), 'application/json', { IfMatch: current.etag }, `taking over the lease ${name}`)
      if (taken === undefined) return { acquired: false }
      this.observed.delete(name)
      return { acquired: true, lease: this.heldLease(name, taken, body, ttlMs) }
    }
    return { acquired: false }
  }

  private heldLease(name: string, firstEtag: string, body: () => Buffer, ttlMs: number): StoreLease {
    let etag = firstEtag
    return {
      ttlMs,
      renew: async () => {
        const next = await this.conditionalPut(name, body(), 'application/json', { IfMatch: etag }, `renewing the lease ${name}`, { missingIsFailure: true })
        if (next === undefined) return false
        etag = next
        return true
      },
      release: async () => {
        await this.run(`releasing the lease ${name}`, async (abortSignal) => {
          try {
            await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(name), IfMatch: etag }), { abortSignal })
          } catch (error) {
            // 412: taken over meanwhile, not ours to delete; 404: already gone.
            if (statusOf(error) === 412 || statusOf(error) === 404) return
            throw error
          }
        })
      },
    }
  }

  /**
   * Dead: the same ETag for longer than the holder's ttl by our clock (our own ttl when the object is not a
   * lease we can read), or expired long ago by its own clock.
   */
  private isDead(name: string, etag: string, body: LeaseBody | undefined, ownTtlMs: number): boolean {
    const now = this.now()
    let seen = this.observed.get(name)
    if (!seen || seen.etag !== etag) {
      seen = { etag, since: now }
      this.observed.set(name, seen)
    }
    if (body && now > body.expiresAt + CLOCK_SKEW_MARGIN_MS) return true
    const ttl = body ? Math.min(LEASE_TTL_BOUNDS.max, Math.max(LEASE_TTL_BOUNDS.min, body.ttlMs)) : ownTtlMs
    return now - seen.since > ttl
  }

  /** PutObject under a condition: the new ETag, or undefined when the condition failed (412, or 404 for If-Match). */
  private async conditionalPut(
    name: string,
    data: Uint8Array,
    contentType: string,
    condition: { IfNoneMatch: '*' } | { IfMatch: string },
    doing: string,
    options: { missingIsFailure?: boolean } = {},
  ): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.run(doing, async (abortSignal) => {
        try {
          const answer = await this.client.send(
            new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(name), Body: data, ContentType: contentType, ContentLength: data.length, ...condition }),
            { abortSignal },
          )
          return { etag: answer.ETag ?? '' }
        } catch (error) {
          const status = statusOf(error)
          if (status === 412) return { etag: undefined }
          if (status === 404 && (options.missingIsFailure || 'IfMatch' in condition) && errorName(error) !== 'NoSuchBucket') return { etag: undefined }
          if (status === 409 && attempt < CONFLICT_TRIES) return 'conflict' as const
          throw error
        }
      })
      if (outcome !== 'conflict') return outcome.etag
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200))
    }
  }

  /** The object and its ETag; with `oversizedAsEmpty`, an object over `maxBytes` is read as empty (its ETag kept). */
  private async getWithEtag(
    name: string,
    maxBytes: number,
    doing: string,
    options: { oversizedAsEmpty?: boolean } = {},
  ): Promise<{ data: Buffer; etag: string | undefined } | undefined> {
    return this.run(doing, async (abortSignal) => {
      try {
        const answer = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) }), { abortSignal })
        const body = answer.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined
        try {
          const data = body ? await readBounded(body, name, maxBytes, answer.ContentLength) : Buffer.alloc(0)
          return { data, etag: answer.ETag }
        } catch (error) {
          if (options.oversizedAsEmpty && error instanceof ObjectTooLargeError) return { data: Buffer.alloc(0), etag: answer.ETag }
          throw error
        }
      } catch (error) {
        if (statusOf(error) === 404 && errorName(error) !== 'NoSuchBucket') return undefined
        throw error
      }
    })
  }

  private key(name: string): string {
    return joinName(this.location.prefix, name)
  }

  private async run<T>(doing: string, operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const abortSignal = AbortSignal.timeout(this.operationTimeoutMs)
    try {
      return await operation(abortSignal)
    } catch (error) {
      if (error instanceof AiImageError || (error instanceof Error && error.name === 'ObjectTooLargeError')) throw error
      throw remoteError(classifyS3Error(error, abortSignal.aborted), { display: this.display, doing, fixes: FIXES, tries: this.tries })
    }
  }
}

/** Error codes S3 answers with 400 that mean the credentials, not the request. */
const AUTH_CODES = new Set(['ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'RequestExpired', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied'])

export function classifyS3Error(error: unknown, timedOut: boolean): StoreFailure {
  const name = errorName(error)
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError') return { kind: 'auth' }
  if (timedOut || name === 'AbortError' || name === 'TimeoutError') return { kind: 'unreachable', code: 'timeout' }
  const status = statusOf(error)
  const code = name && name !== 'Error' && name !== 'S3ServiceException' && name !== 'Unknown' ? name : undefined
  if (status !== undefined) {
    if (status === 401 || status === 403 || (code !== undefined && AUTH_CODES.has(code))) return { kind: 'auth', status, ...(code ? { code } : {}) }
    if (status === 404 && code === 'NoSuchBucket') return { kind: 'no-container', status, code }
    if (status === 429 || status >= 500) return { kind: 'throttled', status, ...(code ? { code } : {}) }
    return { kind: 'unexpected', status, ...(code ? { code } : {}) }
  }
  const errno = (error as NodeJS.ErrnoException | undefined)?.code
  if (typeof errno === 'string' && NETWORK_ERROR_CODES.has(errno)) return { kind: 'unreachable', code: errno }
  return { kind: 'unexpected' }
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode
  return typeof status === 'number' ? status : undefined
}

function errorName(error: unknown): string | undefined {
  const name = (error as Error | undefined)?.name
  return typeof name === 'string' ? name : undefined
}

function leaseBody(body: LeaseBody): Buffer {
  return Buffer.from(JSON.stringify(body))
}

/** A lease object is untrusted: a body that is not ours in every field is treated as garbage. */
function parseLeaseBody(data: Buffer): LeaseBody | undefined {
  try {
    const value = JSON.parse(data.toString('utf8')) as Partial<LeaseBody>
    if (value.v !== 1 || typeof value.holder !== 'string' || value.holder.length > 200 || typeof value.token !== 'string') return undefined
    if (!Number.isFinite(value.expiresAt) || !Number.isFinite(value.ttlMs)) return undefined
    // Shown to people waiting on it: printable characters only.
    return { ...(value as LeaseBody), holder: value.holder.replace(/[^\x20-\x7e]/g, '?') }
  } catch {
    return undefined
  }
}
