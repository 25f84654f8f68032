/**
 * RemoteCache on real stores (Azurite; s3rver behind the conditional-write proxy): machines with separate
 * clients share entries, a tampered or half-written entry is never handed out, signing refuses what it must,
 * and one key is generated once across machines.
 */
import { describe, expect, it } from 'vitest'
import { sha256 } from '../src/core/hash.js'
import { signatureOf } from '../src/core/cache/remote/envelope.js'
import { RemoteCache, type RemoteCacheSetup } from '../src/core/cache/remote/remote-cache.js'
import type { StoreOptions } from '../src/core/cache/remote/store-options.js'
import { makeEntry, standInCheck } from './helpers/remote-entries.js'
import { FAST_RETRIES, openStore, rawObjects, remoteServers, uniquePrefix, type Backend } from './helpers/remote.js'

const servers = remoteServers()
const SIGNING_KEY = 'test-signing-key-0123456789abcdef0123456789'
const OTHER_KEY = 'another-signing-key-0123456789abcdef012345'

interface Machine {
  cache: RemoteCache
  warnings: string[]
}

async function machine(
  backend: Backend,
  prefix: string,
  options: Partial<Pick<RemoteCacheSetup, 'signingKey' | 'mode' | 'holder'>> & { ttlMs?: number; storeOptions?: StoreOptions; through?: string } = {},
): Promise<Machine> {
  const store = await openStore(servers, backend, prefix, options.storeOptions ?? FAST_RETRIES, options.through)
  const warnings: string[] = []
  const cache = new RemoteCache({
    store,
    mode: options.mode ?? 'read-write',
    ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    check: standInCheck,
    warn: (message) => warnings.push(message),
    lease: { ttlMs: options.ttlMs ?? 15_000, pollMs: { min: 50, max: 200 } },
    ...(options.holder ? { holder: options.holder } : {}),
  })
  return { cache, warnings }
}

describe.each<Backend>(['azure', 's3'])('RemoteCache on %s', (backend) => {
  it('two machines share an entry: pushed by one, read verified by the other; a second push changes nothing', async () => {
    const prefix = uniquePrefix()
    const a = await machine(backend, prefix)
    const b = await machine(backend, prefix)
    const entry = await makeEntry('a lighthouse at dusk', 2)
    expect(await b.cache.getEntry(entry.key)).toEqual({ status: 'miss' })
    expect(await a.cache.putEntry(entry.sidecar, entry.images)).toBe('created')
    const read = await b.cache.getEntry(entry.key)
    expect(read.status).toBe('hit')
    if (read.status !== 'hit') return
    expect(read.value.sidecar).toEqual(entry.sidecar)
    expect(read.value.images.map((i) => i.data)).toEqual(entry.images)
    // Another machine's later push of the same key (another generation) is not written over the first.
    const other = await makeEntry('a lighthouse at dusk', 2)
    const changed = { ...other.sidecar, revised_prompt: 'a different answer' }
    expect(await b.cache.putEntry(changed, other.images)).toBe('exists')
    const again = await a.cache.getEntry(entry.key)
    expect(again.status === 'hit' && again.value.sidecar.revised_prompt).toBe(null)
    expect([...a.warnings, ...b.warnings]).toEqual([])
    const keys: string[] = []
    for await (const key of b.cache.keys()) keys.push(key)
    expect(keys).toEqual([entry.key])
  })

  it('a tampered image is never returned: changed bytes of the same size, a bigger blob', async () => {
    const prefix = uniquePrefix()
    const raw = await rawObjects(servers, backend)
    const a = await machine(backend, prefix)
    const entry = await makeEntry('tamper with me')
    await a.cache.putEntry(entry.sidecar, entry.images)
    const imageObject = `${prefix}/images/${entry.sidecar.images[0]!.sha256}`
    const original = entry.images[0]!

    const flipped = Buffer.from(original)
    flipped[flipped.length - 5]! ^= 0xff
    await raw.put(imageObject, flipped)
    const reader = await machine(backend, prefix)
    const result = await reader.cache.getEntry(entry.key)
    expect(result).toEqual({ status: 'invalid', reason: expect.stringContaining('does not match its SHA-256') })
    expect(reader.warnings).toEqual([expect.stringMatching(new RegExp(`^remote cache .*: entry ${entry.key} is ignored: image 0 .*SHA-256.*miss`))])

    await raw.put(imageObject, Buffer.concat([original, Buffer.alloc(10_000)]))
    expect(await reader.cache.getEntry(entry.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('larger than its sidecar says') })

    // Put the right bytes back: the same entry reads again (nothing was cached from the bad reads).
    await raw.put(imageObject, original)
    expect((await reader.cache.getEntry(entry.key)).status).toBe('hit')
  })

  it('a tampered sidecar (its request no longer hashes to the key) or a sidecar that is not JSON is a miss with a warning', async () => {
    const prefix = uniquePrefix()
    const raw = await rawObjects(servers, backend)
    const entry = await makeEntry('honest prompt')
    const forged = { ...entry.sidecar, request: { ...entry.sidecar.request, prompt: 'something else entirely' } }
    await raw.put(`${prefix}/entries/${entry.key}.json`, Buffer.from(JSON.stringify({ v: 1, sidecar: forged })))
    const reader = await machine(backend, prefix)
    expect(await reader.cache.getEntry(entry.key)).toEqual({ status: 'invalid', reason: 'its recorded request does not hash to its key' })
    await raw.put(`${prefix}/entries/${entry.key}.json`, Buffer.from('{"v":1,"sidecar":'))
    expect(await reader.cache.getEntry(entry.key)).toEqual({ status: 'invalid', reason: 'its sidecar is not valid JSON' })
    await raw.put(`${prefix}/entries/${entry.key}.json`, Buffer.alloc(2 * 1024 * 1024, 0x20))
    expect(await reader.cache.getEntry(entry.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('larger than') })
    expect(reader.warnings).toHaveLength(3)
  })

  it('a half-written upload (sidecar without its image) is a miss; pushing the entry again completes it', async () => {
    const prefix = uniquePrefix()
    const raw = await rawObjects(servers, backend)
    const a = await machine(backend, prefix)
    const entry = await makeEntry('half written', 2)
    await a.cache.putEntry(entry.sidecar, entry.images)
    await raw.remove(`${prefix}/images/${entry.sidecar.images[1]!.sha256}`)
    const b = await machine(backend, prefix)
    expect(await b.cache.getEntry(entry.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('image 1 (') })
    expect(b.warnings[0]).toContain('is missing from the remote')
    expect(await a.cache.putEntry(entry.sidecar, entry.images)).toBe('exists')
    expect((await b.cache.getEntry(entry.key)).status).toBe('hit')
  })

  it('signing: signed entries are accepted with the key (and without one); unsigned, mis-signed and re-signed-by-another-key are refused', async () => {
    const prefix = uniquePrefix()
    const raw = await rawObjects(servers, backend)
    const signer = await machine(backend, prefix, { signingKey: SIGNING_KEY })
    const verifier = await machine(backend, prefix, { signingKey: SIGNING_KEY })
    const unkeyed = await machine(backend, prefix)
    const wrongKey = await machine(backend, prefix, { signingKey: OTHER_KEY })

    const signed = await makeEntry('signed entry')
    await signer.cache.putEntry(signed.sidecar, signed.images)
    expect((await verifier.cache.getEntry(signed.key)).status).toBe('hit')
    expect((await unkeyed.cache.getEntry(signed.key)).status).toBe('hit')
    expect(await wrongKey.cache.getEntry(signed.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('signature does not match') })

    const unsigned = await makeEntry('unsigned entry')
    await unkeyed.cache.putEntry(unsigned.sidecar, unsigned.images)
    expect(await verifier.cache.getEntry(unsigned.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('unsigned') })
    expect(verifier.warnings.join('\n')).toContain(`entry ${unsigned.key} is ignored: it is unsigned`)

    // Someone with write access changes a signed entry's revised prompt and keeps its signature.
    const envelopeName = `${prefix}/entries/${signed.key}.json`
    const reader = await machine(backend, prefix, { signingKey: SIGNING_KEY })
    const goodSignature = signatureOf(signed.key, signed.sidecar, SIGNING_KEY)
    await raw.put(envelopeName, Buffer.from(JSON.stringify({ v: 1, sidecar: { ...signed.sidecar, revised_prompt: 'injected' }, 'hmac-sha256': goodSignature })))
    expect(await reader.cache.getEntry(signed.key)).toEqual({ status: 'invalid', reason: expect.stringContaining('signature does not match') })
    // The same entry signed by the right key again reads fine: the refusal was the signature, nothing else.
    await raw.put(envelopeName, Buffer.from(JSON.stringify({ v: 1, sidecar: signed.sidecar, 'hmac-sha256': goodSignature })))
    expect((await reader.cache.getEntry(signed.key)).status).toBe('hit')
  })

  it("in mode 'read' nothing is pushed and no lease is taken", async () => {
    const reader = await machine(backend, uniquePrefix(), { mode: 'read' })
    const entry = await makeEntry('read only')
    await expect(reader.cache.putEntry(entry.sidecar, entry.images)).rejects.toMatchObject({ code: 'SPEC_INVALID', field: 'remote.mode' })
    await expect(reader.cache.claim(entry.key)).rejects.toMatchObject({ code: 'SPEC_INVALID', field: 'remote.mode' })
  })

  it('four machines claiming the same 20 cold keys at once generate each key exactly once, and all get every entry', async () => {
    const prefix = uniquePrefix()
    const machines = await Promise.all([0, 1, 2, 3].map((i) => machine(backend, prefix, { holder: `machine ${i}` })))
    const entries = await Promise.all(Array.from({ length: 20 }, (_, i) => makeEntry(`cold spec ${i}`)))
    const generated = new Map<string, number>()
    const results = await Promise.all(
      machines.map((m) =>
        Promise.all(
          entries.map(async (entry) => {
            const claim = await m.cache.claim(entry.key)
            if (claim.status === 'hit') return claim.entry.images.map((i) => sha256(i.data))
            expect(claim.lease).toBeDefined()
            generated.set(entry.key, (generated.get(entry.key) ?? 0) + 1)
            await new Promise((resolve) => setTimeout(resolve, 100)) // the paid call
            await m.cache.putEntry(entry.sidecar, entry.images)
            await claim.lease!.release()
            return entry.sidecar.images.map((i) => i.sha256)
          }),
        ),
      ),
    )
    expect(generated.size).toBe(20)
    expect([...generated.values()].every((count) => count === 1)).toBe(true)
    for (const perMachine of results) expect(perMachine).toEqual(entries.map((e) => e.sidecar.images.map((i) => i.sha256)))
    expect(machines.flatMap((m) => m.warnings)).toEqual([])
  })
})

describe('a store that ignores conditional writes', () => {
  it('is found out before the first push, with a warning that names the remote', async () => {
    const m = await machine('s3rver', uniquePrefix())
    const entry = await makeEntry('probe')
    await m.cache.putEntry(entry.sidecar, entry.images)
    expect(m.warnings).toEqual([expect.stringMatching(/^remote cache s3:\/\/ai-image-cache\/t-\w+ at http:\/\/127\.0\.0\.1:\d+: the store ignores conditional writes/)])
  })
})
