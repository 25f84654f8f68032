/**
 * Store faults, injected by a proxy in front of real stores (Azurite; s3rver behind the conditional proxy),
 * and real refusals by the stores themselves: each is retried where retrying makes sense (by the SDK's own
 * retry policy, in bounded time), then surfaces as an AiImageError that says it is the remote cache, with
 * AUTH for refused credentials and NETWORK for an unreachable or throttled store, never a raw SDK error and
 * never a secret.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { AiImageError } from '../src/core/errors.js'
import { resolveRemote } from '../src/core/cache/remote/config.js'
import { openObjectStore } from '../src/core/cache/remote/open.js'
import { RemoteCache } from '../src/core/cache/remote/remote-cache.js'
import { KeyLease } from '../src/core/cache/remote/key-lease.js'
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js'
import { makeEntry, standInCheck } from './helpers/remote-entries.js'
import { AZURITE_KEY } from './helpers/azurite.js'
import { BUCKET, CONTAINER, FAST_RETRIES, openStore, remoteServers, sasUrl, uniquePrefix } from './helpers/remote.js'

const servers = remoteServers()
const proxies: Partial<Record<'azure' | 's3', FaultProxy>> = {}

/** The fault proxy in front of `backend`, started on first use (so a store that failed to start fails the test). */
async function proxyFor(backend: 'azure' | 's3'): Promise<FaultProxy> {
  proxies[backend] ??= await startFaultProxy(backend === 'azure' ? servers.azurite.origin : servers.conditional.endpoint, backend)
  return proxies[backend]
}

afterEach(async () => {
  for (const proxy of Object.values(proxies)) {
    proxy.fault({ kind: 'none' })
    await proxy.up()
  }
})
afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.close()))
})

/** The error a promise rejects with; fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<AiImageError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(outcome, 'expected a failure').toBeInstanceOf(AiImageError)
  return outcome as AiImageError
}

function expectRemoteError(error: AiImageError, code: string, display: string): void {
  expect(error.code).toBe(code)
  expect(error.bareMessage.startsWith(`remote cache ${display}: `)).toBe(true)
  expect(error.data).toMatchObject({ remote: true })
  expect(error.message).not.toMatch(/sig=|AccountKey|Eby8vdM02x/)
  expect(error.cause).toBeUndefined()
}

const THROTTLE = { azure: { status: 503, code: 'ServerBusy' }, s3: { status: 503, code: 'SlowDown' } } as const

describe.each<'azure' | 's3'>(['azure', 's3'])('faults on %s', (backend) => {
  const proxy = () => proxies[backend]!
  // Every test opens its store first, which starts the proxy.
  const open = async (prefix: string, options = FAST_RETRIES) => openStore(servers, backend, prefix, options, (await proxyFor(backend)).origin)

  it('throttling that passes is retried by the SDK, and the read succeeds', async () => {
    const store = await open(uniquePrefix())
    await store.putIfAbsent('entries/x.json', Buffer.from('{}'), 'application/json')
    const before = proxy().requests
    proxy().fault({ kind: 'status', ...THROTTLE[backend], count: 2 })
    expect((await store.get('entries/x.json', 100))!.toString()).toBe('{}')
    expect(proxy().requests - before).toBe(3)
  })

  it('throttling that lasts ends, after the retries, in NETWORK naming the remote', async () => {
    const store = await open(uniquePrefix())
    proxy().fault({ kind: 'status', ...THROTTLE[backend] })
    const before = proxy().requests
    const started = Date.now()
    const error = await failure(store.get('entries/x.json', 100))
    expectRemoteError(error, 'NETWORK', store.describe())
    expect(error.bareMessage).toContain(`(503 ${THROTTLE[backend].code})`)
    expect(error.retryable).toBe(true)
    expect(proxy().requests - before).toBe(FAST_RETRIES.maxTries)
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it(backend === 'azure' ? '500 OperationTimedOut is throttling too' : '429 is throttling too', async () => {
    const store = await open(uniquePrefix())
    proxy().fault(backend === 'azure' ? { kind: 'status', status: 500, code: 'OperationTimedOut' } : { kind: 'status', status: 429, code: 'TooManyRequests' })
    const before = proxy().requests
    expectRemoteError(await failure(store.putIfAbsent('entries/y.json', Buffer.from('{}'), 'application/json')), 'NETWORK', store.describe())
    expect(proxy().requests - before).toBe(FAST_RETRIES.maxTries)
  })

  it('dropped connections are retried, then NETWORK', async () => {
    const store = await open(uniquePrefix())
    proxy().fault({ kind: 'drop', count: 1 })
    expect(await store.get('entries/none.json', 100)).toBeUndefined()
    proxy().fault({ kind: 'drop' })
    const error = await failure(store.get('entries/none.json', 100))
    expectRemoteError(error, 'NETWORK', store.describe())
    expect(error.bareMessage).toContain('cannot reach the store')
  })

  it('a store that is down is NETWORK ("cannot reach"), and works again once it is back', async () => {
    const store = await open(uniquePrefix())
    await proxy().down()
    const error = await failure(store.putIfAbsent('entries/z.json', Buffer.from('{}'), 'application/json'))
    expectRemoteError(error, 'NETWORK', store.describe())
    expect(error.bareMessage).toMatch(/cannot reach the store \(ECONNREFUSED\) after 3 tries while writing entries\/z\.json/)
    await proxy().up()
    expect(await store.putIfAbsent('entries/z.json', Buffer.from('{}'), 'application/json')).toBe('created')
  })

  it('a store that never answers is NETWORK within the operation time limit', async () => {
    const store = await open(uniquePrefix(), { ...FAST_RETRIES, operationTimeoutMs: 1_500 })
    proxy().fault({ kind: 'hang' })
    const started = Date.now()
    const error = await failure(store.get('entries/x.json', 100))
    expectRemoteError(error, 'NETWORK', store.describe())
    expect(error.bareMessage).toContain('(timeout)')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('a container or bucket that does not exist is a configuration error naming remote.url', async () => {
    const { env } = backend === 'azure'
      ? { env: { AZURE_STORAGE_CONNECTION_STRING: servers.azurite.connectionString() } }
      : { env: servers.s3.env(servers.conditional.endpoint) }
    const url = backend === 'azure' ? 'azure://no-such-container/x' : 's3://no-such-bucket/x'
    const store = await openObjectStore(resolveRemote({ url }, env)!, FAST_RETRIES)
    const error = await failure(store.get('entries/x.json', 100))
    expect(error).toMatchObject({ code: 'SPEC_INVALID', data: { remote: true } })
    expect(error.bareMessage).toMatch(/^remote cache .*: the (container|bucket) does not exist/)
  })

  it('the remote cache passes store failures on (a failed lookup is not a miss), and a push that fails says so', async () => {
    const prefix = uniquePrefix()
    const cache = new RemoteCache({ store: await open(prefix), mode: 'read-write', check: standInCheck, warn: () => {} })
    const entry = await makeEntry(`down ${backend}`)
    await proxy().down()
    expectRemoteError(await failure(cache.getEntry(entry.key)), 'NETWORK', cache.display)
    expectRemoteError(await failure(cache.putEntry(entry.sidecar, entry.images)), 'NETWORK', cache.display)
    await proxy().up()
    expect(await cache.putEntry(entry.sidecar, entry.images)).toBe('created')
  })
})

describe('answers that look like "exists" but are not', () => {
  it('Azure: a 409 other than BlobAlreadyExists (Azurite full: MemoryExtentStoreAtSizeLimit) is an error, not a write someone else won', async () => {
    const proxy = await proxyFor('azure')
    const store = await openStore(servers, 'azure', uniquePrefix(), FAST_RETRIES, proxy.origin)
    proxy.fault({ kind: 'status', status: 409, code: 'MemoryExtentStoreAtSizeLimit', count: 1 })
    const error = await failure(store.putIfAbsent('images/abc', Buffer.from('x'), 'image/png'))
    expectRemoteError(error, 'BAD_RESPONSE', store.describe())
    expect(error.bareMessage).toContain('(409 MemoryExtentStoreAtSizeLimit)')
    expect(await store.get('images/abc', 10)).toBeUndefined()
    expect(await store.putIfAbsent('images/abc', Buffer.from('x'), 'image/png')).toBe('created')
  })
})

describe('a connection string the SDK cannot parse', () => {
  it.each(['garbage', 'AccountName=teamstore;AccountKey=c2VjcmV0LXZhbHVlLWhlcmU='])('%s is SPEC_INVALID naming the variable, never its value', async (connectionString) => {
    const error = await failure(openObjectStore(resolveRemote({ url: 'azure://images' }, { AZURE_STORAGE_CONNECTION_STRING: connectionString })!))
    expect(error).toMatchObject({ code: 'SPEC_INVALID', field: 'remote.url', data: { remote: true } })
    expect(error.bareMessage).toMatch(/^remote cache azure:\/\/images: AZURE_STORAGE_CONNECTION_STRING is not a valid connection string/)
    expect(error.message).not.toContain('c2VjcmV0LXZhbHVlLWhlcmU=')
  })
})

describe('refused credentials are AUTH, naming the remote and what to check', () => {
  it('Azure: a wrong account key (Azurite refuses the signature)', async () => {
    const wrong = servers.azurite.connectionString().replace(AZURITE_KEY, Buffer.alloc(64, 1).toString('base64'))
    const config = resolveRemote({ url: `azure://${CONTAINER}/site` }, { AZURE_STORAGE_CONNECTION_STRING: wrong })!
    const store = await openObjectStore(config, FAST_RETRIES)
    const error = await failure(store.get('entries/x.json', 100))
    expectRemoteError(error, 'AUTH', 'azure://ai-image-cache/site')
    expect(error.status).toBe(403)
    expect(error.bareMessage).toContain('AZURE_STORAGE_CONNECTION_STRING')
    expect(error.message).not.toContain(Buffer.alloc(64, 1).toString('base64'))
  })

  it('Azure: an expired SAS, and a SAS without write permission when pushing', async () => {
    const expired = resolveRemote({ url: sasUrl(servers.azurite, 'site', undefined, { expiresOn: new Date(Date.now() - 60_000) }) }, {})!
    const error = await failure((await openObjectStore(expired, FAST_RETRIES)).get('entries/x.json', 100))
    expectRemoteError(error, 'AUTH', `${servers.azurite.origin}/devstoreaccount1/ai-image-cache/site`)
    expect(error.bareMessage).toContain('SAS token')

    const readOnly = await openObjectStore(resolveRemote({ url: sasUrl(servers.azurite, 'site', undefined, { permissions: 'rl' }) }, {})!, FAST_RETRIES)
    expect(await readOnly.get('entries/x.json', 100)).toBeUndefined()
    expectRemoteError(await failure(readOnly.putIfAbsent('entries/x.json', Buffer.from('{}'), 'application/json')), 'AUTH', readOnly.describe())
  })

  it('S3: an unknown access key (s3rver refuses it), and expired session credentials', async () => {
    const env = { ...servers.s3.env(servers.conditional.endpoint), AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEWRONG', AWS_SECRET_ACCESS_KEY: 'not-the-secret-at-all' }
    const store = await openObjectStore(resolveRemote({ url: `s3://${BUCKET}/site` }, env)!, FAST_RETRIES)
    const error = await failure(store.get('entries/x.json', 100))
    expectRemoteError(error, 'AUTH', store.describe())
    expect(error.bareMessage).toContain('AWS credentials')
    expect(error.message).not.toContain('not-the-secret-at-all')

    const proxy = await proxyFor('s3')
    proxy.fault({ kind: 'status', status: 400, code: 'ExpiredToken' })
    const viaProxy = await openStore(servers, 's3', 'site', FAST_RETRIES, proxy.origin)
    const expired = await failure(viaProxy.get('entries/x.json', 100))
    expectRemoteError(expired, 'AUTH', viaProxy.describe())
    expect(expired.bareMessage).toContain('(400 ExpiredToken)')
  })
})

describe('the store going down while this machine holds a lease', () => {
  it('its heartbeat fails for a whole lease duration: the lease is lost (signal aborts) and another machine takes the key over', async () => {
    const prefix = uniquePrefix()
    const proxy = await proxyFor('s3')
    const holderStore = await openStore(servers, 's3', prefix, FAST_RETRIES, proxy.origin)
    const other = await openStore(servers, 's3', prefix, FAST_RETRIES)
    const attempt = await holderStore.tryAcquireLease('leases/k', { holder: 'machine A', ttlMs: 1_000 })
    expect(attempt.acquired).toBe(true)
    if (!attempt.acquired) return
    const lease = new KeyLease('k', attempt.lease)
    await proxy.down()
    const lost = new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve()))
    expect((await other.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 1_000 })).acquired).toBe(false)
    await lost
    expect(lease.lost).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const takeover = await other.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 1_000 })
    expect(takeover.acquired).toBe(true)
    await proxy.up()
    await lease.release() // lost: nothing to release, and no error
    if (takeover.acquired) await takeover.lease.release()
  })
})

