/**
 * Earlier generations of a spec: cache entries that ask for the same request but for `seed` and `n`
 * ("another one" and "more candidates" make new keys, and the old entries stay in the cache until pruned).
 *
 * Finding them cheaply: one pass over the cache folder's sidecars (a few kilobytes each, checked like any
 * entry: the recorded request must hash to its key) groups keys by lineage, the canonical form of a request
 * without `seed` and `n` (`lineageOf`). A spec's lineage comes from its own key material, so a lookup is
 * one map access. The index remembers the sidecars it has read: a key's request never changes (it is the
 * key), so a refresh reads only the sidecars that appeared since, and forgets those that went away.
 *
 * Restoring one writes its `seed` and `n` back into the spec file (`actions.ts`), which makes the spec ask
 * for exactly that key again: a cache hit, nothing spent.
 */
import { lineageOf, type ProjectView, type Sidecar } from './project-view.js'

export interface LineageEntry {
  key: string
  seed: string | null
  n: number
  created: number
}

export class GenerationIndex {
  private readonly byKey = new Map<string, { lineage: string; entry: LineageEntry }>()

  constructor(private readonly view: Pick<ProjectView, 'entryKeys' | 'readSidecar'>) {}

  /** Read the sidecars that appeared since the last refresh; forget those that are gone. */
  async refresh(): Promise<void> {
    const keys = new Set(await this.view.entryKeys())
    for (const key of this.byKey.keys()) if (!keys.has(key)) this.byKey.delete(key)
    for (const key of keys) {
      if (this.byKey.has(key)) continue
      const sidecar = await this.view.readSidecar(key)
      if (sidecar) this.byKey.set(key, { lineage: lineageOfSidecar(sidecar), entry: entryOf(sidecar) })
    }
  }

  /** Entries of `lineage` other than `except`, newest first. */
  generationsOf(lineage: string, except?: string): LineageEntry[] {
    const found: LineageEntry[] = []
    for (const { lineage: l, entry } of this.byKey.values()) if (l === lineage && entry.key !== except) found.push(entry)
    return found.sort((a, b) => b.created - a.created || (a.key < b.key ? -1 : 1))
  }

  get size(): number {
    return this.byKey.size
  }
}

export function lineageOfSidecar(sidecar: Sidecar): string {
  return lineageOf({ endpoint: sidecar.endpoint, request: sidecar.request, inputs: sidecar.inputs, mask: sidecar.mask })
}

function entryOf(sidecar: Sidecar): LineageEntry {
  return { key: sidecar.key, seed: sidecar.seed, n: Number(sidecar.request.n), created: sidecar.created }
}
