/**
 * The cache seam: the committed folder is one backend, and the tiers after it (a remote cache) plug in through
 * the registry's `openCache`. A backend kept in memory here stands for such a tier (its reads are checked
 * with the same rules the committed folder uses): a local miss is read from it and copied into the folder, a
 * generated entry is offered to it, a key is locked in every tier, and a tier that fails only warns.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { CacheBackend, HeldLock, Inspection, LockAttempt, NewEntry, SidecarLook } from '../src/core/cache/backend.js'
import { openCache } from '../src/core/cache/backends.js'
import { checkImageBytes, checkSidecar } from '../src/core/cache/entry.js'
import { computeKey, type KeyMaterial } from '../src/core/cache/key.js'
import type { RemoteConfig } from '../src/core/cache/remote/config.js'
import { sidecarFor, type Sidecar } from '../src/core/cache/store.js'
import { sha256 } from '../src/core/hash.js'
import { png } from './helpers/suite.js'

const folders: string[] = []
afterAll(() => Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true }))))

async function cacheDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ai-image-tiers-'))
  folders.push(dir)
  return path.join(dir, '.ai-image')
}

/** A whole-entry store in memory, verifying what it reads like the committed folder does. */
class MemoryTier implements CacheBackend {
  readonly name = 'memory://team'
  readonly entries = new Map<string, { sidecar: unknown; images: Buffer[] }>()
  readonly calls: string[] = []
  lockedBy: string | undefined
  failing = false
  lockFails = false
  /** A tier this machine only reads (a remote in mode 'read'). */
  writable = true

  async inspect(key: string): Promise<Inspection> {
    this.calls.push(`inspect ${key.slice(0, 6)}`)
    if (this.failing) throw new Error('the store is unreachable')
    const stored = this.entries.get(key)
    if (!stored) return { status: 'miss' }
    const checked = checkSidecar(stored.sidecar, key)
    if (!checked.ok) return { status: 'corrupt', reason: checked.reason }
    const images = []
    for (const [i, record] of checked.value.images.entries()) {
      const data = stored.images[i]!
      const problem = checkImageBytes(record, data)
      if (problem) return { status: 'corrupt', reason: `image ${i} ${problem}` }
      images.push({ ...record, data })
    }
    return { status: 'hit', entry: { key, sidecar: checked.value, images } }
  }

  async write({ sidecar, images }: NewEntry): Promise<'written' | 'exists'> {
    this.calls.push(`write ${sidecar.key.slice(0, 6)}`)
    if (this.entries.has(sidecar.key)) return 'exists'
    this.entries.set(sidecar.key, { sidecar: structuredClone(sidecar), images: images.map((data) => Buffer.from(data)) })
    return 'written'
  }

  async remove(key: string): Promise<boolean> {
    return this.entries.delete(key)
  }

  async readSidecar(key: string): Promise<SidecarLook> {
    this.calls.push(`look ${key.slice(0, 6)}`)
    const stored = this.entries.get(key)
    if (!stored) return { status: 'miss' }
    const checked = checkSidecar(stored.sidecar, key)
    return checked.ok ? { status: 'ok', sidecar: checked.value } : { status: 'corrupt', reason: checked.reason }
  }

  /** Content-addressed: any entry's image of the same SHA-256 serves. */
  async imagesOf(sidecar: Sidecar): Promise<Buffer[] | undefined> {
    this.calls.push(`images ${sidecar.key.slice(0, 6)}`)
    const bySha = new Map([...this.entries.values()].flatMap((e) => (e.sidecar as Sidecar).images.map((record, i) => [record.sha256, e.images[i]!] as const)))
    const images = sidecar.images.map((record) => bySha.get(record.sha256))
    return images.every((image, i) => image && !checkImageBytes(sidecar.images[i]!, image)) ? (images as Buffer[]) : undefined
  }

  async keys(): Promise<string[]> {
    return [...this.entries.keys()].sort()
  }

  async tryLock(key: string): Promise<LockAttempt> {
    this.calls.push(`lock ${key.slice(0, 6)}`)
    if (this.lockFails) throw new Error('the lease store is down')
    if (this.lockedBy) return { holder: this.lockedBy }
    this.lockedBy = 'this machine'
    const lock: HeldLock = { release: async () => void (this.lockedBy = undefined) }
    return { lock }
  }
}

/** A real entry: its request hashes to its key, its image is the PNG its record describes. */
async function entry(prompt: string): Promise<{ key: string; sidecar: Sidecar; image: Buffer }> {
  const material: KeyMaterial = { endpoint: 'generations', request: { model: 'm', n: 1, prompt }, inputs: [], mask: null, seed: null }
  const key = computeKey(material)
  const image = await png(3, 2, [prompt.length * 20, 80, 160])
  const record = { file: `${key}-0.png`, sha256: sha256(image), bytes: image.length, width: 3, height: 2, mime: 'image/png' }
  const sidecar = sidecarFor(key, material, { provider: { kind: 'openai' }, created: 1, revised_prompt: null, usage: null, request_id: null, images: [record] })
  return { key, sidecar, image }
}

/** `commitImages: false`: the project commits only sidecars (a remote's `remote.commitImages`). */
function tiered(dir: string, tier: MemoryTier, warnings: string[], { commitImages = true } = {}) {
  let opened = 0
  const remote = commitImages ? undefined : ({ commitImages: false } as RemoteConfig)
  const cache = openCache({ cacheDir: dir, remote }, { warn: (m) => void warnings.push(m) }, [
    {
      name: 'memory',
      open: async () => {
        opened++
        return tier
      },
    },
  ])
  return { cache, opened: () => opened }
}

describe('cache tiers', () => {
  it('reads a local miss from the next tier and copies it into the committed folder; local hits never ask it', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const warnings: string[] = []
    const { cache, opened } = tiered(dir, tier, warnings)
    const { key, sidecar, image } = await entry('a lighthouse')

    const first = await cache.inspect(key)
    expect(first.status).toBe('miss')
    expect(opened()).toBe(1)

    await tier.write({ sidecar, images: [image] })
    tier.calls.length = 0
    const found = await cache.inspect(key)
    expect(found.status).toBe('hit')
    expect(found.status === 'hit' && found.entry.images[0]!.data.equals(image)).toBe(true)
    // Copied into the folder, with a freshness token of its own there (the warm path can use it).
    expect((await cache.local.inspect(key)).status).toBe('hit')
    expect((await cache.completeSidecar(key))?.tokens).toHaveLength(1)

    tier.calls.length = 0
    expect((await cache.inspect(key)).status).toBe('hit')
    expect(tier.calls).toEqual([])
    expect(await cache.local.keys()).toEqual([key])
    expect(warnings).toEqual([])
  })

  it('offers a generated entry to the next tier once committed, and locks a key in every tier', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const { cache } = tiered(dir, tier, [])
    const { key, sidecar, image } = await entry('a red door')

    const held = await cache.tryLock(key)
    expect(held.lock).toBeDefined()
    expect(tier.lockedBy).toBe('this machine')
    // Another process of this machine is refused by the folder's lock before the tier is asked.
    const second = await openCache({ cacheDir: dir }, { warn: () => {} }, []).tryLock(key)
    expect(second.lock).toBeUndefined()

    const draft = await cache.draft(key)
    await draft.prepare()
    const { record, token } = await draft.writeCandidate(0, image, { mime: 'image/png', width: 3, height: 2 })
    expect(record).toEqual(sidecar.images[0])
    expect(token).toEqual(expect.any(String))
    await draft.commit(sidecar)
    await held.lock!.release()

    expect(tier.entries.has(key)).toBe(true)
    expect((await tier.inspect(key)).status).toBe('hit')
    expect(tier.lockedBy).toBeUndefined()
  })

  it('is refused the lock (and holds none) when a later tier holds the key; a failing tier fails the lookup with its own error', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const warnings: string[] = []
    const { cache } = tiered(dir, tier, warnings)
    const { key } = await entry('a blue door')

    tier.lockedBy = 'machine B'
    const refused = await cache.tryLock(key)
    expect(refused).toEqual({ holder: 'machine B' })
    // The folder's own lock was given back: another process may take it.
    const local = await openCache({ cacheDir: dir }, { warn: () => {} }, []).tryLock(key)
    expect(local.lock).toBeDefined()
    await local.lock!.release()

    // A tier that cannot be asked is not a miss: a build must say the shared cache is out of reach (issue #14),
    // never blame missing specs or pay for what that tier may hold.
    tier.failing = true
    await expect(cache.inspect(key)).rejects.toThrow('the store is unreachable')
    // The folder's lock is given back when a tier's lock fails.
    tier.lockFails = true
    await expect(cache.tryLock(key)).rejects.toThrow('the lease store is down')
    const again = await openCache({ cacheDir: dir }, { warn: () => {} }, []).tryLock(key)
    expect(again.lock).toBeDefined()
    await again.lock!.release()
    expect(warnings).toEqual([])
  })

  it('does not take a tampered entry from the next tier', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const warnings: string[] = []
    const { cache } = tiered(dir, tier, warnings)
    const { key, sidecar, image } = await entry('a green door')
    const flipped = Buffer.from(image)
    flipped[flipped.length - 10] = flipped[flipped.length - 10]! ^ 0xff
    tier.entries.set(key, { sidecar, images: [flipped] })

    expect((await cache.inspect(key)).status).toBe('miss')
    expect((await cache.local.inspect(key)).status).toBe('miss')
    expect(warnings.join('\n')).toMatch(/entry [0-9a-f]{12} is not usable \(image 0 does not match its SHA-256\)/)
  })

  it('copies a hit with the token the warm path will see, so the next build of it is warm (its images hashed once)', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const { cache } = tiered(dir, tier, [])
    const { key, sidecar, image } = await entry('a yellow door')
    await tier.write({ sidecar, images: [image] })
    const found = await cache.inspect(key)
    expect(found.status === 'hit' && found.entry.images[0]!.token).toBe((await cache.completeSidecar(key))!.tokens[0])
    expect(cache.counts).toMatchObject({ imagesWritten: 1 })
  })

  it('a sidecar committed without its images (commitImages: false) gets them by SHA-256 from a content-addressed tier; the committed sidecar stays byte for byte', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const warnings: string[] = []
    const { cache } = tiered(dir, tier, warnings, { commitImages: false })
    const { key, sidecar, image } = await entry('a sidecar in git')
    // Another machine's entry holds the same image bytes: content-addressed, it serves this one too.
    const other = await entry('a sidecar in git, elsewhere')
    tier.entries.set(other.key, { sidecar: { ...other.sidecar, images: [{ ...other.sidecar.images[0]!, sha256: sidecar.images[0]!.sha256, bytes: image.length }] }, images: [image] })
    const committed = `${JSON.stringify(sidecar, null, 4)}\n`
    await mkdir(path.join(dir, key.slice(0, 2)), { recursive: true })
    await writeFile(path.join(dir, key.slice(0, 2), `${key}.json`), committed)

    expect(await cache.locate(key)).toEqual({ status: 'corrupt', reason: expect.stringContaining(`${key}-0.png is missing`) })
    const found = await cache.inspect(key)
    expect(found.status).toBe('hit')
    expect(tier.calls.filter((c) => c.startsWith('inspect'))).toEqual([])
    expect((await readFile(path.join(dir, key.slice(0, 2), `${key}.json`), 'utf8'))).toBe(committed)
    expect((await cache.local.inspect(key)).status).toBe('hit')
    expect((await readFile(path.join(dir, '.gitignore'), 'utf8'))).toMatch(/^# unplugin-ai-image: remote\.commitImages is false/)
    expect(warnings).toEqual([])
  })

  it('locate says where an entry is without fetching an image: local, remote (its sidecar only), or corrupt with the tier\'s reason', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    const { cache } = tiered(dir, tier, [])
    const here = await entry('here')
    const there = await entry('there')
    const forged = await entry('forged')
    await cache.local.write({ sidecar: here.sidecar, images: [here.image] })
    await tier.write({ sidecar: there.sidecar, images: [there.image] })
    tier.entries.set(forged.key, { sidecar: { ...forged.sidecar, request: { ...forged.sidecar.request, prompt: 'other' } }, images: [forged.image] })
    tier.calls.length = 0
    expect(await cache.locate(here.key)).toMatchObject({ status: 'hit', where: 'local' })
    expect(await cache.locate(there.key)).toEqual({ status: 'hit', where: 'remote', tier: 'memory://team', sidecar: there.sidecar })
    expect(await cache.locate(forged.key)).toEqual({ status: 'corrupt', reason: expect.stringMatching(/^in memory:\/\/team: .*does not hash to the key/) })
    expect(await cache.locate((await entry('nowhere')).key)).toEqual({ status: 'miss' })
    expect(tier.calls.every((c) => c.startsWith('look'))).toBe(true)
    expect((await cache.local.inspect(there.key)).status).toBe('miss')
  })

  it('a tier this machine only reads is neither locked nor offered entries', async () => {
    const dir = await cacheDir()
    const tier = new MemoryTier()
    tier.writable = false
    const { cache } = tiered(dir, tier, [])
    const { key, sidecar, image } = await entry('read only')
    const held = await cache.tryLock(key)
    expect(held.lock).toBeDefined()
    const draft = await cache.draft(key)
    await draft.prepare()
    await draft.writeCandidate(0, image, { mime: 'image/png', width: 3, height: 2 })
    await draft.commit(sidecar)
    await held.lock!.release()
    expect(tier.calls.filter((c) => c.startsWith('lock') || c.startsWith('write'))).toEqual([])
    expect(tier.entries.size).toBe(0)
  })
})
