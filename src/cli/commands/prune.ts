/**
 * `ai-image prune [--dry-run]`: remove cache entries no build of the project can use (paid images nobody
 * imports any more), leftovers of interrupted runs, and derived files of images that are gone.
 *
 * An entry is kept when a spec the command finds uses it, or when a build recorded it (build records:
 * builds know specs the command cannot see, such as named specs and `defaults` given inline to a plugin).
 * An invalid spec or an unreadable build record stops it: their entries could not be told apart from
 * unused ones. The file work is the cache's (`service.prune`): an entry another process is generating right
 * now (its lock is held) is left alone, and so is anything behind a symbolic link inside the cache folder.
 */
import path from 'node:path'
import { describeErrorOf } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export async function prune(project: Project, output: Output, options: { dryRun: boolean }): Promise<number> {
  const { service } = project
  const plan = await service.plan(project.specs.map((s) => s.ref))
  const invalid = plan.filter((p) => p.status === 'invalid')
  if (invalid.length > 0) {
    for (const entry of invalid) output.out(`${output.style('red', '✗')} ${entry.label}  ${describeErrorOf(entry.label, entry.error)}`)
    output.out('nothing pruned: fix the invalid specs first (their entries cannot be told apart from unused ones)')
    return EXIT.problems
  }
  const { records, problems } = await service.buildRecords()
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
  const { removed, derived } = await service.prune({
    keep: used,
    dryRun: options.dryRun,
    report: {
      entry(key, files, outcome) {
        const shown = `${key.slice(0, 12)} (${files} file${files === 1 ? '' : 's'})`
        if (outcome === 'would-remove') output.out(`would remove ${shown}`)
        else if (outcome === 'removed') output.out(`removed ${shown}`)
        else output.out(output.style('yellow', `kept ${shown}: another process is generating it`))
      },
      skipped(message) {
        if (told.has(message)) return
        told.add(message)
        output.err(output.style('yellow', `skipped ${message}`))
      },
    },
  })

  const verb = options.dryRun ? 'would remove' : 'removed'
  output.out(
    `${verb} ${removed} unused entr${removed === 1 ? 'y' : 'ies'} and ${derived} stale derived set${derived === 1 ? '' : 's'}; ` +
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
