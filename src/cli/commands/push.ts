/**
 * `ai-image push`: upload every entry of the cache folder that the remote cache lacks, each verified first
 * (a corrupt entry is reported, never pushed). Images go first, content-addressed, the sidecar last; nothing
 * the remote has is overwritten.
 */
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'
import { progressLine, transferFailure } from './remote-progress.js'

export async function push(project: Project, output: Output): Promise<number> {
  const { service } = project
  let report
  try {
    report = await service.pushToRemote({ onProgress: progressLine(output, 'pushed') })
  } catch (error) {
    return transferFailure(output, error)
  }
  const remote = service.remoteCache()!.display
  for (const { key, reason } of report.skipped) output.out(`${output.style('red', '✗')} ${key.slice(0, 12)}  not pushed: ${reason}`)
  const pushed = report.pushed.length
  const line = `${pushed} entr${pushed === 1 ? 'y' : 'ies'} pushed to ${remote}, ${report.already} already there`
  if (report.skipped.length === 0) {
    output.out(`${output.style('green', '✓')} ${line}`)
    return EXIT.ok
  }
  output.out(`${line}; ${report.skipped.length} not pushed (run \`npx ai-image check\`, and \`npx ai-image generate\` where an API key is available)`)
  return EXIT.problems
}
