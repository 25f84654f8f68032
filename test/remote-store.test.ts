/**
 * The ObjectStore contract, against real servers: Azurite (connection string and SAS URL), s3rver behind the
 * conditional-write proxy (answers If-None-Match / If-Match as AWS S3 does), and s3rver alone (which ignores
 * them: reads, writes and listing only).
 */
import { describe, expect, it } from 'vitest'
import { ObjectTooLargeError, readBounded, type ObjectStore } from '../src/core/cache/remote/object-store.js'
import { openStore, remoteServers, uniquePrefix, type Backend } from './helpers/remote.js'

const servers = remoteServers()

const CONDITIONAL: Backend[] = ['azure', 'azure-sas', 's3']

describe.each<Backend>(['azure', 'azure-sas', 's3', 's3rver'])('ObjectStore on %s', (backend) => {
  const open = (prefix: string) => openStore(servers, backend, prefix)

  it('reads back what it wrote; an absent name is undefined', async () => {
    const store = await open(uniquePrefix())
    expect(await store.get('entries/none.json', 1024)).toBeUndefined()
    const data = Buffer.from('{"hello":"remote"}')
    expect(await store.putIfAbsent('entries/a.json', data, 'application/json')).toBe('created')
    expect(await store.get('entries/a.json', 1024)).toEqual(data)
  })

  it('refuses a body over maxBytes without returning it', async () => {
    const store = await open(uniquePrefix())
    await store.putIfAbsent('images/big', Buffer.alloc(5000, 7), 'application/octet-stream')
    const error = await store.get('images/big', 4999).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ObjectTooLargeError)
    expect((error as ObjectTooLargeError).declaredBytes).toBe(5000)
    expect(await store.get('images/big', 5000)).toHaveLength(5000)
  })

  it('lists names under a prefix, relative to its root, across pages; other prefixes stay apart', async () => {
    const prefix = uniquePrefix()
    const store = await openStore(servers, backend, prefix, { maxTries: 2, listPageSize: 2 })
    const other = await open(`${prefix}-other`)
    await other.putIfAbsent('entries/not-mine.json', Buffer.from('x'), 'application/json')
    const names = ['entries/1.json', 'entries/2.json', 'entries/3.json', 'entries/4.json', 'entries/5.json', 'images/abc']
    for (const name of names) await store.putIfAbsent(name, Buffer.from(name), 'application/octet-stream')
    const listed: string[] = []
    for await (const name of store.list('entries/')) listed.push(name)
    expect(listed.sort()).toEqual(names.filter((n) => n.startsWith('entries/')))
  })

  it('describes itself without any secret', async () => {
    const store = await open('site')
    const shown = store.describe()
    expect(shown).toMatch(/(azure:\/\/ai-image-cache\/site|\/devstoreaccount1\/ai-image-cache\/site|s3:\/\/ai-image-cache\/site)/)
    expect(shown).not.toMatch(/sig=|AccountKey|Eby8|S3RVER|\?/)
  })

  if (CONDITIONAL.includes(backend)) {
    it('first writer wins: an existing object is never overwritten, even by writers racing', async () => {
      const store = await open(uniquePrefix())
      expect(await store.putIfAbsent('entries/k.json', Buffer.from('first'), 'application/json')).toBe('created')
      expect(await store.putIfAbsent('entries/k.json', Buffer.from('second'), 'application/json')).toBe('exists')
      expect((await store.get('entries/k.json', 100))!.toString()).toBe('first')

      const racers = await Promise.all([1, 2, 3, 4, 5].map(async (i) => ({ i, result: await store.putIfAbsent('entries/race.json', Buffer.from(`writer ${i}`), 'application/json') })))
      const winners = racers.filter((r) => r.result === 'created')
      expect(winners).toHaveLength(1)
      expect((await store.get('entries/race.json', 100))!.toString()).toBe(`writer ${winners[0]!.i}`)
    })

    it('leases: one holder at a time; released, the next one takes it; a taken-over holder cannot renew', async () => {
      const prefix = uniquePrefix()
      const a = await open(prefix)
      const b = await open(prefix)
      const first = await a.tryAcquireLease('leases/k', { holder: 'machine A', ttlMs: 15_000 })
      expect(first.acquired).toBe(true)
      const second = await b.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 15_000 })
      expect(second.acquired).toBe(false)
      if (backend === 's3') expect(second).toMatchObject({ holder: 'machine A' })
      if (!first.acquired) return
      expect(await first.lease.renew()).toBe(true)
      expect((await b.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 15_000 })).acquired).toBe(false)
      await first.lease.release()
      const third = await b.tryAcquireLease('leases/k', { holder: 'machine B', ttlMs: 15_000 })
      expect(third.acquired).toBe(true)
      // A's lease is gone: renewing it must not succeed (B holds the key now).
      expect(await first.lease.renew()).toBe(false)
      if (third.acquired) await third.lease.release()
    })

    it('leases on different keys are independent, and racing acquirers get one lease', async () => {
      const prefix = uniquePrefix()
      const stores = await Promise.all([1, 2, 3, 4].map(() => open(prefix)))
      const attempts = await Promise.all(stores.map((store, i) => store.tryAcquireLease('leases/race', { holder: `m${i}`, ttlMs: 15_000 })))
      expect(attempts.filter((a) => a.acquired)).toHaveLength(1)
      expect((await stores[0]!.tryAcquireLease('leases/other', { holder: 'm0', ttlMs: 15_000 })).acquired).toBe(true)
    })
  }
})

describe('s3rver alone', () => {
  it('ignores If-None-Match (so it is tested behind the conditional proxy): a second put overwrites', async () => {
    const store: ObjectStore = await openStore(servers, 's3rver', uniquePrefix())
    expect(await store.putIfAbsent('x', Buffer.from('1'), 'text/plain')).toBe('created')
    expect(await store.putIfAbsent('x', Buffer.from('2'), 'text/plain')).toBe('created')
    expect((await store.get('x', 10))!.toString()).toBe('2')
  })
})

describe('readBounded', () => {
  it('stops a body that passes the limit while it arrives (no declared length), destroying the stream', async () => {
    let produced = 0
    let destroyed = false
    const endless = {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          produced++
          yield new Uint8Array(1000)
        }
      },
      destroy() {
        destroyed = true
      },
    }
    await expect(readBounded(endless, 'images/x', 10_000, undefined)).rejects.toBeInstanceOf(ObjectTooLargeError)
    expect(produced).toBe(11)
    expect(destroyed).toBe(true)
  })
})
