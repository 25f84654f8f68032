/**
 * The gallery sees the cache through its seam, as builds do: an entry that only a later tier (a remote
 * cache) holds is shown as cached (read, verified and copied into the committed folder by the tiers), and
 * the earlier generations of a spec are listed from every tier whose backend offers a sidecar-only read; a
 * whole-entry store is never read whole to make that list. A tier stands in memory here, checking what it
 * reads with the cache's own rules.
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CacheBackend, HeldLock, Inspection, LockAttempt, NewEntry, SidecarLook } from '../src/core/cache/backend.js'
import { checkImageBytes, checkSidecar } from '../src/core/cache/entry.js'
import { projectView } from '../src/core/gallery/project-view.js'
import { buildGalleryState } from '../src/core/gallery/state.js'
import { ImageService } from '../src/core/service.js'
import { fillCache } from './helpers/dev-gallery.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const silent = { info() {}, warn() {}, error() {} }
const FOX = { prompt: 'a fox', model: 'gpt-image-2', size: '1024x1024' }

class MemoryTier implements CacheBackend {
  readonly name = 'memory://team'
  readonly entries = new Map<string, { sidecar: unknown; images: Buffer[] }>()
  readonly calls: string[] = []
  readSidecar?: (key: string) => Promise<SidecarLook>

  constructor(sidecarReads: boolean) {
    if (sidecarReads) {
      this.readSidecar = async (key) => {
        this.calls.push(`readSidecar ${key.slice(0, 6)}`)
        const stored = this.entries.get(key)
        if (!stored) return { status: 'miss' }
        const checked = checkSidecar(stored.sidecar, key)
        return checked.ok ? { status: 'ok', sidecar: checked.value } : { status: 'corrupt', reason: checked.reason }
      }
    }
  }

  async inspect(key: string): Promise<Inspection> {
    this.calls.push(`inspect ${key.slice(0, 6)}`)
    const stored = this.entries.get(key)
    if (!stored) return { status: 'miss' }
    const checked = checkSidecar(stored.sidecar, key)
    if (!checked.ok) return { status: 'corrupt', reason: checked.reason }
    const images = []
    for (const [i, record] of checked.value.images.entries()) {
      const problem = checkImageBytes(record, stored.images[i]!)
      if (problem) return { status: 'corrupt', reason: `image ${i} ${problem}` }
      images.push({ ...record, data: stored.images[i]! })
    }
    return { status: 'hit', entry: { key, sidecar: checked.value, images } }
  }

  async write({ sidecar, images }: NewEntry): Promise<'written' | 'exists'> {
    this.entries.set(sidecar.key, { sidecar: structuredClone(sidecar), images: images.map((data) => Buffer.from(data)) })
    return 'written'
  }

  async remove(key: string): Promise<boolean> {
    return this.entries.delete(key)
  }

  async keys(): Promise<string[]> {
    this.calls.push('keys')
    return [...this.entries.keys()].sort()
  }

  async tryLock(): Promise<LockAttempt> {
    const lock: HeldLock = { release: async () => {} }
    return { lock }
  }
}

/** Two generations of the fox (seed 1, then seed 2) made through the emulator, moved into `tier`: the folder holds none. */
async function remoteOnly(tier: MemoryTier) {
  const project = await suite.project({ 'src/fox.imgprompt.json': spec({ ...FOX, seed: 1 }) })
  await fillCache(project.root, suite.openaiEnv())
  await project.write('src/fox.imgprompt.json', spec({ ...FOX, seed: 2 }))
  await fillCache(project.root, suite.openaiEnv())
  const local = new ImageService({ frozen: true }, { root: project.root, sink: silent })
  const keys = await local.cacheKeys()
  expect(keys).toHaveLength(2)
  for (const key of keys) {
    const found = await local.inspectEntry(key)
    if (found.status !== 'hit') throw new Error(`entry ${key} is not there`)
    await tier.write({ sidecar: found.entry.sidecar, images: found.entry.images.map((image) => image.data) })
  }
  await rm(path.join(project.root, '.ai-image'), { recursive: true })
  const seeds = new Map(keys.map((key) => [(tier.entries.get(key)!.sidecar as { seed: string }).seed, key]))
  return { project, first: seeds.get('1')!, second: seeds.get('2')! }
}

function galleryOf(root: string, tier: MemoryTier) {
  const service = new ImageService({ provider: 'openai', frozen: true }, { root, sink: silent, tiers: [{ name: 'memory', open: async () => tier }] })
  return { service, view: projectView(service) }
}

describe('the gallery through the cache tiers', () => {
  it('shows an entry only a later tier holds, and lists earlier generations from a tier that reads sidecars alone', async () => {
    const tier = new MemoryTier(true)
    const { project, first, second } = await remoteOnly(tier)
    const { service, view } = galleryOf(project.root, tier)
    expect(await service.cacheKeys()).toEqual([first, second].sort())

    const state = await buildGalleryState(view, { mode: 'dev', projectName: 'p', imageSource: ({ key, index }) => `/img/${key}-${index}` })
    const [card] = state.specs
    expect(card).toMatchObject({ label: 'src/fox.imgprompt.json', status: 'cached', key: second, candidates: [{ index: 0, src: `/img/${second}-0` }] })
    expect(card!.history.map((generation) => [generation.key, generation.seed, generation.complete])).toEqual([[first, '1', true]])
    expect(card!.history[0]!.candidates[0]!.src).toBe(`/img/${first}-0`)
    // The tiers copied what was shown into the committed folder, as a build's read does.
    const files = await project.list('.ai-image')
    expect(files).toEqual(expect.arrayContaining([`${second.slice(0, 2)}/${second}.json`, `${first.slice(0, 2)}/${first}.json`]))
  })

  it('never reads a whole entry of a tier without a sidecar-only read to list earlier generations', async () => {
    const tier = new MemoryTier(false)
    const { project, first, second } = await remoteOnly(tier)
    const { view } = galleryOf(project.root, tier)
    const state = await buildGalleryState(view, { mode: 'dev', projectName: 'p', imageSource: () => null })
    expect(state.specs[0]).toMatchObject({ status: 'cached', key: second, history: [] })
    expect(tier.calls.filter((call) => call.startsWith('inspect'))).toEqual([`inspect ${second.slice(0, 6)}`])
    expect(tier.calls).not.toContain(`inspect ${first.slice(0, 6)}`)
  })
})
