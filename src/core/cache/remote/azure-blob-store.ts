/**
 * Azure Blob Storage as an `ObjectStore`, with @azure/storage-blob (loaded only through `open.ts`, only when
 * an azure remote is configured).
 *
 * - First writer wins: Put Blob with `If-None-Match: *`; 409 BlobAlreadyExists means someone was first.
 * - Leases are Azure's own blob leases (15-60 s, renew, release) on a small lease blob created once with
 *   `If-None-Match: *`. Expiry is judged by the service's clock, so machines' clocks do not matter; a dead
 *   holder's lease lapses by itself and the next acquire takes it.
 * - Retries: the SDK's storage retry policy (exponential, 503 ServerBusy / 500 OperationTimedOut and
 *   network errors), and one abort signal per operation bounding its total time, retries included.
 */
import { randomUUID } from 'node:crypto'
import { ContainerClient, RestError, StorageRetryPolicyType, type StoragePipelineOptions } from '@azure/storage-blob'
import type { TokenCredential } from '@azure/identity'
import { AiImageError } from '../../errors.js'
import type { AzureLocation } from './config.js'
import { NETWORK_ERROR_CODES, remoteError, type StoreFailure } from './errors.js'
import { joinName, readBounded, type LeaseAttempt, type LeaseRequest, type ObjectStore, type PutResult, type StoreLease } from './object-store.js'
import { STORE_DEFAULTS, type StoreOptions } from './store-options.js'

/** Azure's bounds for a finite lease. */
const AZURE_LEASE_SECONDS = { min: 15, max: 60 } as const

const FIXES = {
  auth:
    'Check AZURE_STORAGE_CONNECTION_STRING, the SAS token (expiry; permissions r,l to read, and c,w to push) or the signed-in identity\'s role (Storage Blob Data Reader, or Contributor to push)',
  noContainer: { noun: 'container' as const, fix: 'Create it (az storage container create), or fix remote.url' },
}

export class AzureBlobStore implements ObjectStore {
  readonly kind = 'azure'
  private readonly tries: number
  private readonly operationTimeoutMs: number
  private readonly pageSize: number

  private constructor(
    private readonly container: ContainerClient,
    private readonly location: AzureLocation,
    private readonly display: string,
    options: StoreOptions,
  ) {
    this.tries = options.maxTries ?? STORE_DEFAULTS.maxTries
    this.operationTimeoutMs = options.operationTimeoutMs ?? STORE_DEFAULTS.operationTimeoutMs
    this.pageSize = options.listPageSize ?? STORE_DEFAULTS.listPageSize
  }

  static async open(location: AzureLocation, display: string, options: StoreOptions = {}): Promise<AzureBlobStore> {
    const pipeline: StoragePipelineOptions = {
      retryOptions: {
        retryPolicyType: StorageRetryPolicyType.EXPONENTIAL,
        maxTries: options.maxTries ?? STORE_DEFAULTS.maxTries,
        retryDelayInMs: options.retryDelayMs ?? STORE_DEFAULTS.retryDelayMs,
        maxRetryDelayInMs: options.maxRetryDelayMs ?? STORE_DEFAULTS.maxRetryDelayMs,
      },
    }
    const { auth } = location
    let container: ContainerClient
    if (auth.kind === 'connection-string') {
      try {
        container = new ContainerClient(auth.connectionString, location.container, pipeline)
      } catch {
        // The SDK's message may quote the string, account key included: say which variable, not what it holds.
        throw new AiImageError(
          'SPEC_INVALID',
          `remote cache ${display}: AZURE_STORAGE_CONNECTION_STRING is not a valid connection string. Copy it again from the portal (Access keys), or use AZURE_STORAGE_ACCOUNT with a signed-in identity`,
          { file: 'plugin options', field: 'remote.url', data: { remote: true } },
        )
      }
    } else if (auth.kind === 'sas') {
      container = new ContainerClient(auth.containerUrl, undefined, pipeline)
    } else {
      const credential = (auth.credential as TokenCredential | undefined) ?? (await defaultCredential())
      container = new ContainerClient(auth.containerUrl, credential, pipeline)
    }
    return new AzureBlobStore(container, location, display, options)
  }

  describe(): string {
    return this.display
  }

  async get(name: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.run(`reading ${name}`, async (abortSignal) => {
      try {
        const answer = await this.blob(name).download(0, undefined, { abortSignal })
        const body = answer.readableStreamBody
        if (!body) return Buffer.alloc(0)
        return await readBounded(body as NodeJS.ReadableStream & AsyncIterable<Uint8Array> & { destroy(): void }, name, maxBytes, answer.contentLength)
      } catch (error) {
        if (isRestError(error) && error.statusCode === 404 && error.code !== 'ContainerNotFound') return undefined
        throw error
      }
    })
  }

  async putIfAbsent(name: string, data: Uint8Array, contentType: string): Promise<PutResult> {
    return this.run(`writing ${name}`, async (abortSignal) => {
      try {
        await this.container.getBlockBlobClient(this.path(name)).upload(data, data.length, {
          abortSignal,
          conditions: { ifNoneMatch: '*' },
          blobHTTPHeaders: { blobContentType: contentType },
        })
        return 'created'
      } catch (error) {
        // Only these mean "someone was first": 409 has other causes (Azurite answers 409 when it is full).
        if (isRestError(error) && EXISTS_CODES.has(String(error.code))) return 'exists'
        throw error
      }
    })
  }

  async *list(prefix: string): AsyncIterable<string> {
    const full = joinName(this.location.prefix, prefix)
    const root = this.location.prefix ? `${this.location.prefix}/` : ''
    let continuationToken: string | undefined
    do {
      // One page per operation, each with its own time bound; the continuation token carries on.
      const page = await this.run(`listing ${prefix}`, async (abortSignal) => {
        const pages = this.container.listBlobsFlat({ prefix: full, abortSignal }).byPage({ maxPageSize: this.pageSize, ...(continuationToken ? { continuationToken } : {}) })
        return (await pages.next()).value as { continuationToken?: string; segment: { blobItems: Array<{ name: string }> } } | undefined
      })
      for (const item of page?.segment.blobItems ?? []) {
        if (item.name.startsWith(root)) yield item.name.slice(root.length)
      }
      continuationToken = page?.continuationToken || undefined
    } while (continuationToken)
  }

  async tryAcquireLease(name: string, request: LeaseRequest): Promise<LeaseAttempt> {
    const seconds = Math.min(AZURE_LEASE_SECONDS.max, Math.max(AZURE_LEASE_SECONDS.min, Math.round(request.ttlMs / 1000)))
    const leaseClient = this.blob(name).getBlobLeaseClient(randomUUID())
    const acquire = () =>
      this.run(`taking the lease ${name}`, async (abortSignal) => {
        try {
          await leaseClient.acquireLease(seconds, { abortSignal })
          return 'acquired' as const
        } catch (error) {
          if (isRestError(error) && error.statusCode === 409 && error.code === 'LeaseAlreadyPresent') return 'held' as const
          if (isRestError(error) && error.statusCode === 404 && error.code === 'BlobNotFound') return 'missing' as const
          throw error
        }
      })
    let outcome = await acquire()
    if (outcome === 'missing') {
      // The lease blob is created once per key and kept: its content does not matter, only its lease.
      await this.putIfAbsent(name, Buffer.from(JSON.stringify({ v: 1, lease: true })), 'application/json')
      outcome = await acquire()
    }
    if (outcome !== 'acquired') return { acquired: false }
    const lease: StoreLease = {
      ttlMs: seconds * 1000,
      renew: () =>
        this.run(`renewing the lease ${name}`, async (abortSignal) => {
          try {
            await leaseClient.renewLease({ abortSignal })
            return true
          } catch (error) {
            // Another lease id holds it now (ours lapsed and was taken over), or the lease blob is gone.
            if (isLeaseGone(error)) return false
            throw error
          }
        }),
      release: () =>
        this.run(`releasing the lease ${name}`, async (abortSignal) => {
          try {
            await leaseClient.releaseLease({ abortSignal })
          } catch (error) {
            if (isLeaseGone(error)) return
            throw error
          }
        }),
    }
    return { acquired: true, lease }
  }

  private path(name: string): string {
    return joinName(this.location.prefix, name)
  }

  private blob(name: string) {
    return this.container.getBlobClient(this.path(name))
  }

  /** One operation, bounded in time, with every SDK failure turned into the remote cache's own error. */
  private async run<T>(doing: string, operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const abortSignal = AbortSignal.timeout(this.operationTimeoutMs)
    try {
      return await operation(abortSignal)
    } catch (error) {
      if (error instanceof AiImageError || (error instanceof Error && error.name === 'ObjectTooLargeError')) throw error
      throw remoteError(classifyAzureError(error, abortSignal.aborted), { display: this.display, doing, fixes: FIXES, tries: this.tries })
    }
  }
}

export function classifyAzureError(error: unknown, timedOut: boolean): StoreFailure {
  const name = (error as Error | undefined)?.name ?? ''
  // @azure/identity: no credential found, or the token request was refused.
  if (/^(CredentialUnavailableError|AuthenticationError|AggregateAuthenticationError)$/.test(name)) return { kind: 'auth' }
  if (timedOut || name === 'AbortError' || name === 'TimeoutError') return { kind: 'unreachable', code: 'timeout' }
  if (isRestError(error)) {
    const status = error.statusCode
    const code = typeof error.code === 'string' ? error.code : undefined
    if (status === undefined || status === 0) return code && NETWORK_ERROR_CODES.has(code) ? { kind: 'unreachable', code } : { kind: 'unreachable', ...(code ? { code } : {}) }
    if (status === 401 || status === 403) return { kind: 'auth', status, ...(code ? { code } : {}) }
    if (status === 404 && code === 'ContainerNotFound') return { kind: 'no-container', status, code }
    if (status === 503 || status === 500 || status === 429) return { kind: 'throttled', status, ...(code ? { code } : {}) }
    return { kind: 'unexpected', status, ...(code ? { code } : {}) }
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return { kind: 'unreachable', code }
  return { kind: 'unexpected' }
}

/** Answers to a create with `If-None-Match: *` that mean the blob exists (a leased blob refuses with a lease code). */
const EXISTS_CODES = new Set(['BlobAlreadyExists', 'ConditionNotMet', 'LeaseIdMissing', 'LeaseAlreadyPresent'])

/** A renew or release refused because the lease is no longer ours (or its blob is gone). */
function isLeaseGone(error: unknown): boolean {
  if (!isRestError(error)) return false
  return (error.statusCode === 409 && /^Lease/.test(String(error.code))) || (error.statusCode === 404 && error.code === 'BlobNotFound')
}

function isRestError(error: unknown): error is RestError {
  return error instanceof RestError || (error as Error | undefined)?.name === 'RestError'
}

async function defaultCredential(): Promise<TokenCredential> {
  // Loaded only for token auth: connection strings and SAS URLs need no identity library.
  const { DefaultAzureCredential } = await import('@azure/identity')
  return new DefaultAzureCredential()
}
