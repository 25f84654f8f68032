/**
 * `ai-image prune [--dry-run]`: remove cache entries no build of the project can use (paid images nobody
 * imports any more), leftovers of interrupted runs, and derived files of images that are gone.
 *
 * An entry is kept when a spec the command finds uses it, or when a build recorded it (`cache/build-record.ts`:
 * builds know specs the command cannot see, such as named specs and `defaults` given inline to a plugin).
 * An invalid spec or an unreadable build record stops it: their entries could not be told apart from
 * unused ones. An entry another process is generating right now (its lock is held) is left alone, and so
 * is anything behind a symbolic link inside the cache folder: prune never deletes outside it.
 */
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { readBuildRecords } from '../../core/cache/build-record.js'
import { cleanLeftovers, entryFolders } from '../../core/cache/housekeeping.js'
import { ENTRY_FILE } from '../../core/cache/store.js'
import { tidyWorkDir } from '../../core/cache/workdir.js'
import { DerivedCache } from '../../core/emit/derived-cache.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export async function prune(project: Project, output: Output, options: { dryRun: boolean }): Promise<number> {
  const { service } = project
  const plan = await service.plan(project.specs.map((s) => s.ref))
  const invalid = plan.filter((p) => p.status === 'invalid')
  if (invalid.length > 0) {
    for (const entry of invalid) output.out(`${output.style('red', '✗')} ${entry.label}  ${describeError(entry.error)}`)
    output.out('nothing pruned: fix the invalid specs first (their entries cannot be told apart from unused ones)')
    return EXIT.problems
  }
  const { records, problems } = await readBuildRecords(service.options.cacheDir)
  if (problems.length > 0) {
    for (const problem of problems) output.out(`${output.style('red', '✗')} ${problem}`)
    output.out(
      'nothing pruned: a build record cannot be read (the entries that build uses cannot be told apart from unused ones). ' +
        'Fix or delete it: the next build of that kind writes it again',
    )
    return EXIT.problems
  }
  const discovered = new Set(plan.flatMap((p) => (p.key ? [p.key] : [])))
  const used = new Set([...discovered, ...records.flatMap((r) => r.keys)])
  const told = new Set<string>()
  const skipped = (message: string) => {
    if (told.has(message)) return
    told.add(message)
    output.err(output.style('yellow', `skipped ${message}`))
  }
  const unused = [...(await cachedFiles(service.store.dir, skipped)).entries()].filter(([key]) => !used.has(key))

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
      // Files of a real entry folder (`cachedFiles`); a name that is a link loses the link, not its target.
      for (const file of files) await rm(file, { force: true })
    } finally {
      await lock.release()
    }
    output.out(`removed ${shown}`)
    removed++
  }
  if (!options.dryRun) {
    await cleanLeftovers(service.store, service.engine.locks, skipped)
    await tidyWorkDir(service.options.cacheDir)
  }
  // Derived files (node_modules/.cache) of images that are no longer in a used entry.
  const keep = new Set<string>()
  for (const key of used) for (const image of (await service.store.read(key).catch(() => undefined))?.images ?? []) keep.add(image.sha256)
  const derived = await new DerivedCache(service.options.derivedCacheDir).prune(keep, options.dryRun)

  const verb = options.dryRun ? 'would remove' : 'removed'
  output.out(
    `${verb} ${removed} unused entr${removed === 1 ? 'y' : 'ies'} and ${derived.length} stale derived set${derived.length === 1 ? '' : 's'}; ` +
      `${used.size} in use${options.dryRun ? ' (dry run: nothing was removed)' : ''}`,
  )
  const onlyRecorded = [...used].filter((key) => !discovered.has(key)).length
  if (onlyRecorded > 0) {
    output.out(
      output.style(
        'dim',
        `(${onlyRecorded} of them used by builds only, as their records in ${path.join(service.options.cacheDir, 'builds')} say: specs this command cannot see)`,
      ),
    )
  }
  return EXIT.ok
}

/**
 * Every file of the committed cache, by the key it belongs to (sidecars, images, orphans of a failed run),
 * from real entry folders only: a link named like one is reported and never entered.
 */
async function cachedFiles(dir: string, skipped: (message: string) => void): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>()
  for (const folder of await entryFolders(dir, skipped)) {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const match = ENTRY_FILE.exec(entry.name)
      if (!match || entry.isDirectory()) continue
      const files = byKey.get(match[1]!) ?? []
      files.push(path.join(folder, entry.name))
      byKey.set(match[1]!, files)
    }
  }
  return byKey
}
