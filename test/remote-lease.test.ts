/**
 * Leases across machines on real stores: a live holder keeps its key however long it works, a dead holder's
 * lease is taken over once it has lapsed, and clock differences between machines within the documented
 * margin never hand a live holder's key to a second machine. S3-style leases are tested with 1 s durations;
 * Azure's minimum is 15 s, so its takeover test waits that out once.
 */
import { describe, expect, it } from 'vitest'
import { CLOCK_SKEW_MARGIN_MS } from '../src/core/cache/remote/s3-store.js'
import { KeyLease } from '../src/core/cache/remote/key-lease.js'
import { RemoteCache } from '../src/core/cache/remote/remote-cache.js'
import type { ObjectStore } from '../src/core/cache/remote/object-store.js'
import { makeEntry, standInCheck } from './helpers/remote-entries.js'
import { FAST_RETRIES, openStore, rawObjects, remoteServers, uniquePrefix, type Backend } from './helpers/remote.js'

const servers = remoteServers()

function cacheOn(store: ObjectStore, holder: string, ttlMs: number): RemoteCache {
  return new RemoteCache({ store, mode: 'read-write', check: standInCheck, warn: () => {}, holder, lease: { ttlMs, pollMs: { min: 50, max: 200 } } })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('S3 leases (lease objects with conditional writes)', () => {
  it('a dead holder: the waiter is told who holds the key, then takes it over once the lease lapses', async () => {
    const prefix = uniquePrefix()
    const a = cacheOn(await openStore(servers, 's3', prefix), 'machine A', 1_000)
    const b = cacheOn(await openStore(servers, 's3', prefix), 'machine B', 1_000)
    const entry = await makeEntry('the holder dies')
    const first = await a.claim(entry.key)
    expect(first.status === 'generate' && first.lease).toBeTruthy()
    if (first.status !== 'generate') return
    first.lease!.abandon() // killed: no more heartbeats, no release

    const waitedFor: Array<string | undefined> = []
    const started = Date.now()
    const second = await b.claim(entry.key, { onWait: (holder) => waitedFor.push(holder) })
    expect(second.status === 'generate' && second.lease).toBeTruthy()
    expect(waitedFor).toEqual(['machine A'])
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000)
    if (second.status === 'generate') await second.lease!.release()
  })

  it('a live holder keeps its key for many lease durations; the waiter then gets its entry, not a lease', async () => {
    const prefix = uniquePrefix()
    const a = cacheOn(await openStore(servers, 's3', prefix), 'machine A', 1_000)
    const b = cacheOn(await openStore(servers, 's3', prefix), 'machine B', 1_000)
    const entry = await makeEntry('a slow generation')
    const first = await a.claim(entry.key)
    if (first.status !== 'generate' || !first.lease) throw new Error('machine A should generate')
    let waiting = false
    const second = b.claim(entry.key, { onWait: () => (waiting = true) })
    await sleep(3_500) // the generation takes three and a half lease durations
    expect(waiting).toBe(true)
    expect(first.lease.lost).toBe(false)
    await a.putEntry(entry.sidecar, entry.images)
    await first.lease.release()
    const result = await second
    expect(result.status).toBe('hit')
  })

  it('clock skew: a lease expired by its holder’s clock is judged by the waiter’s own observation within the margin, and taken at once beyond it', async () => {
    const prefix = uniquePrefix()
    const holder = await openStore(servers, 's3', prefix)
    const attempt = await holder.tryAcquireLease('leases/k', { holder: 'machine A', ttlMs: 1_000 })
    if (!attempt.acquired) throw new Error('machine A should hold the lease')
    const lease = new KeyLease('k', attempt.lease) // alive: renews every third of a second
    // A waiter whose clock runs 5 minutes ahead sees the lease "expired" by the holder's clock, but within
    // the margin that counts for nothing: the holder keeps renewing, so the waiter never takes it.
    const aheadWithin = await openStore(servers, 's3', prefix, { ...FAST_RETRIES, now: () => Date.now() + 5 * 60_000 })
    for (let i = 0; i < 6; i++) {
      expect((await aheadWithin.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 1_000 })).acquired).toBe(false)
      await sleep(300)
    }
    lease.abandon()
    // A lease whose holder's clock says it expired longer ago than the margin is dead whatever we observed.
    const farAhead = await openStore(servers, 's3', prefix, { ...FAST_RETRIES, now: () => Date.now() + CLOCK_SKEW_MARGIN_MS + 5_000 })
    const taken = await farAhead.tryAcquireLease('leases/k', { holder: 'machine C', ttlMs: 1_000 })
    expect(taken.acquired).toBe(true)
    if (taken.acquired) expect(await attempt.lease.renew()).toBe(false)
  })

  it('a lease object that is garbage (not ours, too big) cannot block a key forever', async () => {
    const prefix = uniquePrefix()
    const raw = await rawObjects(servers, 's3')
    await raw.put(`${prefix}/leases/big`, Buffer.alloc(10_000, 0x41))
    await raw.put(`${prefix}/leases/text`, Buffer.from('not a lease'))
    const store = await openStore(servers, 's3', prefix)
    for (const name of ['leases/big', 'leases/text']) expect((await store.tryAcquireLease(name, { holder: 'machine B', ttlMs: 1_000 })).acquired).toBe(false)
    await sleep(1_100)
    for (const name of ['leases/big', 'leases/text']) expect((await store.tryAcquireLease(name, { holder: 'machine B', ttlMs: 1_000 })).acquired).toBe(true)
  })
})

describe('Azure leases (blob leases)', () => {
  it('a dead holder’s lease lapses by the service’s clock (15 s minimum) and the waiter takes the key over', async () => {
    const backend: Backend = 'azure'
    const prefix = uniquePrefix()
    const a = cacheOn(await openStore(servers, backend, prefix), 'machine A', 15_000)
    const b = cacheOn(await openStore(servers, backend, prefix), 'machine B', 15_000)
    const entry = await makeEntry('azure holder dies')
    const first = await a.claim(entry.key)
    if (first.status !== 'generate' || !first.lease) throw new Error('machine A should generate')
    first.lease.abandon()
    const started = Date.now()
    let waited = false
    const second = await b.claim(entry.key, { onWait: () => (waited = true) })
    expect(waited).toBe(true)
    expect(second.status === 'generate' && second.lease).toBeTruthy()
    expect(Date.now() - started).toBeGreaterThanOrEqual(13_000)
    if (second.status === 'generate') await second.lease!.release()
  }, 40_000)
})
