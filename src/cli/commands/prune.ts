/**
 * `ai-image prune [--dry-run]`: remove cache entries no current spec uses (paid images nobody imports any
 * more), leftovers of interrupted runs, and derived files of images that are gone. An entry another process
 * is generating right now (its lock is held) is left alone.
 */
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { cleanLeftovers } from '../../core/cache/housekeeping.js'
import { tidyWorkDir } from '../../core/cache/workdir.js'
import { DerivedCache } from '../../core/emit/derived-cache.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

const ENTRY_FOLDER = /^[0-9a-f]{2}$/
const ENTRY_FILE = /^([0-9a-f]{64})(?:\.json|-\d+\.[a-z0-9]+)$/

export async function prune(project: Project, output: Output, options: { dryRun: boolean }): Promise<number> {
  const { service } = project
  const plan = await service.plan(project.specs.map((s) => s.ref))
  const invalid = plan.filter((p) => p.status === 'invalid')
  if (invalid.length > 0) {
    for (const entry of invalid) output.out(`${output.style('red', '✗')} ${entry.label}  ${describeError(entry.error)}`)
    output.out('nothing pruned: fix the invalid specs first (their entries cannot be told apart from unused ones)')
    return EXIT.problems
  }
  const used = new Set(plan.flatMap((p) => (p.key ? [p.key] : [])))
  const unused = [...(await cachedFiles(service.store.dir)).entries()].filter(([key]) => !used.has(key))

  let removed = 0
  for (const [key, files] of unused) {
    const shown = `${key.slice(0, 12)} (${files.length} file${files.length === 1 ? '' : 's'})`
    if (options.dryRun) {
      output.out(`would remove ${shown}`)
      removed++
      continue
    }
    // Never pull an entry from under a process that is generating it.
    const { lock } = await service.engine.locks.tryAcquire(key)
    if (!lock) {
      output.out(output.style('yellow', `kept ${shown}: another process is generating it`))
      continue
    }
    try {
      await service.store.remove(key)
      await service.engine.journal.remove(key)
      for (const file of files) await rm(file, { force: true })
    } finally {
      await lock.release()
    }
    output.out(`removed ${shown}`)
    removed++
  }
  if (!options.dryRun) {
    await cleanLeftovers(service.store, service.engine.locks)
    await tidyWorkDir(service.options.cacheDir)
  }
  // Derived files (node_modules/.cache) of images that are no longer in a used entry.
  const keep = new Set<string>()
  for (const key of used) for (const image of (await service.store.read(key))?.images ?? []) keep.add(image.sha256)
  const derived = await new DerivedCache(service.options.derivedCacheDir).prune(keep, options.dryRun)

  const verb = options.dryRun ? 'would remove' : 'removed'
  output.out(
    `${verb} ${removed} unused entr${removed === 1 ? 'y' : 'ies'} and ${derived.length} stale derived set${derived.length === 1 ? '' : 's'}; ` +
      `${used.size} in use${options.dryRun ? ' (dry run: nothing was removed)' : ''}`,
  )
  return EXIT.ok
}

/** Every file of the committed cache, by the key it belongs to (sidecars, images, orphans of a failed run). */
async function cachedFiles(dir: string): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>()
  for (const folder of (await readdir(dir).catch(() => [])).filter((name) => ENTRY_FOLDER.test(name))) {
    for (const name of await readdir(path.join(dir, folder)).catch(() => [])) {
      const match = ENTRY_FILE.exec(name)
      if (!match) continue
      const files = byKey.get(match[1]!) ?? []
      files.push(path.join(dir, folder, name))
      byKey.set(match[1]!, files)
    }
  }
  return byKey
}
