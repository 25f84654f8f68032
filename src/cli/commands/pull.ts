/**
 * `ai-image pull [--all]`: download from the remote cache every entry the project uses (or, with `--all`,
 * every entry of the remote) that the cache folder lacks or holds without its images, each verified before
 * it is written (signature, sidecar, every image's SHA-256 and header).
 */
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'
import { progressLine, remoteFailure, transferFailure } from './remote-progress.js'

export async function pull(project: Project, output: Output, options: { all: boolean }): Promise<number> {
  const { service } = project
  const remote = service.remoteCache()
  let problems = 0
  let keys: string[] | 'all' = 'all'
  const labels = new Map<string, string>()
  try {
    // Without a remote there is nothing to plan for: the pull itself says what to set.
    if (!options.all && remote !== undefined) {
      const plan = await service.plan(project.specs.map((s) => s.ref))
      const unreachable = remoteFailure(plan)
      if (unreachable) throw unreachable
      for (const entry of plan) {
        if (entry.key) {
          if (!labels.has(entry.key)) labels.set(entry.key, entry.label)
        } else {
          problems++
          const why = entry.status === 'invalid' ? `invalid: ${describeError(entry.error)}` : `not pulled: ${entry.note ?? 'its key is not known yet'}`
          output.out(`${output.style('red', '✗')} ${entry.label}  ${why}`)
        }
      }
      // Entries only a build knows (named specs given inline to a plugin) are listed by its build record.
      const { records } = await service.buildRecords()
      for (const record of records) for (const key of record.keys) if (!labels.has(key)) labels.set(key, `entry ${key.slice(0, 12)} of a build record`)
      keys = [...labels.keys()]
    }
    const report = await service.pullFromRemote(keys, { onProgress: progressLine(output, 'pulled') })
    const name = (key: string) => labels.get(key) ?? key.slice(0, 12)
    for (const key of report.missing) output.out(`${output.style('red', '✗')} ${name(key)}  missing: not in ${remote!.display} (key ${key.slice(0, 12)})`)
    for (const { key, reason } of report.refused) output.out(`${output.style('red', '✗')} ${name(key)}  refused: ${reason}`)
    problems += report.missing.length + report.refused.length
    const pulled = report.pulled.length
    const line = `${pulled} entr${pulled === 1 ? 'y' : 'ies'} pulled from ${remote!.display}, ${report.present} already here`
    if (problems === 0) {
      output.out(`${output.style('green', '✓')} ${line}`)
      return EXIT.ok
    }
    output.out(`${line}; ${problems} need${problems === 1 ? 's' : ''} attention`)
    return EXIT.problems
  } catch (error) {
    return transferFailure(output, error)
  }
}
