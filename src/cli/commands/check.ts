/**
 * `ai-image check`: is every spec's image in the cache and intact? No key, no request: for CI and hooks. A key
 * a batch is making is reported as pending, with its batch and age (#16).
 * Entries only a build uses (its record in `<cacheDir>/builds/` lists them; specs the command cannot see,
 * such as named specs given inline to a plugin) are verified too, so what `prune` keeps is what `check` checks.
 */
import path from 'node:path'
import { formatAge } from '../../core/service.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export async function check(project: Project, output: Output): Promise<number> {
  const plan = await project.service.plan(project.specs.map((s) => s.ref))
  const problems = plan.filter((entry) => entry.status !== 'hit')
  for (const entry of problems) {
    const what =
      entry.status === 'invalid'
        ? `invalid: ${describeError(entry.error)}`
        : entry.status === 'corrupt'
          ? `corrupt: ${entry.note} (key ${entry.key!.slice(0, 12)})`
          : entry.status === 'pending'
            ? `pending in batch ${entry.pending!.batch}, submitted ${formatAge(entry.pending!.ageSeconds)} ago (key ${entry.key!.slice(0, 12)})`
            : `missing${entry.key ? ` (key ${entry.key.slice(0, 12)})` : ''}${entry.note ? `: ${entry.note}` : ''}`
    output.out(`${entry.status === 'pending' ? output.style('cyan', '⧗') : output.style('red', '✗')} ${entry.label}  ${what}`)
  }
  const recorded = await recordedProblems(project, new Set(plan.flatMap((p) => (p.key ? [p.key] : []))))
  for (const line of recorded) output.out(`${output.style('red', '✗')} ${line}`)
  if (problems.length + recorded.length === 0) {
    output.out(`${output.style('green', '✓')} all ${plan.length} spec${plan.length === 1 ? ' is' : 's are'} cached and verified`)
    return EXIT.ok
  }
  const fixable = problems.some((p) => p.status !== 'invalid' && p.status !== 'pending') || recorded.length > 0
  const pending = problems.filter((p) => p.status === 'pending').length
  const parts: string[] = []
  if (problems.length > 0) {
    parts.push(`${problems.length} of ${plan.length} spec${plan.length === 1 ? '' : 's'} ${problems.length === 1 ? 'needs' : 'need'} attention`)
  }
  if (recorded.length > 0) parts.push(`${recorded.length} entr${recorded.length === 1 ? 'y only a build uses needs' : 'ies only builds use need'} attention`)
  output.out(
    `${parts.join('; ')}.` +
      (fixable ? ` Run \`npx ai-image generate\`${recorded.length > 0 ? ' (or the build, for specs only it knows)' : ''} with an API key, then commit the cache folder.` : '') +
      (pending > 0 ? ` ${pending} pending in a batch: collect with \`npx ai-image generate --batch\` once it is done (--wait to wait), then commit the cache folder.` : ''),
  )
  return EXIT.problems
}

/** Entries build records list that no spec found here uses, and that are missing or fail verification. */
async function recordedProblems(project: Project, discovered: ReadonlySet<string>): Promise<string[]> {
  const { service } = project
  const { records, problems } = await service.buildRecords()
  const lines = problems.map((problem) => `${problem} (a build record)`)
  const seen = new Set(discovered)
  for (const record of records) {
    const label = path.relative(project.root, record.file).split(path.sep).join('/')
    for (const key of record.keys) {
      if (seen.has(key)) continue
      seen.add(key)
      const found = await service.inspectEntry(key).catch((error: unknown) => ({ status: 'corrupt' as const, reason: describeError(error) }))
      if (found.status === 'corrupt') lines.push(`${label}  entry ${key.slice(0, 12)} of this build is corrupt: ${found.reason}`)
      else if (found.status === 'miss') lines.push(`${label}  entry ${key.slice(0, 12)} of this build is missing`)
    }
  }
  return lines
}
