/**
 * `ai-image check`: is every spec's image in the cache and intact? No key, no request: for CI and hooks.
 */
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
          : `missing${entry.key ? ` (key ${entry.key.slice(0, 12)})` : ''}${entry.note ? `: ${entry.note}` : ''}`
    output.out(`${output.style('red', '✗')} ${entry.label}  ${what}`)
  }
  if (problems.length === 0) {
    output.out(`${output.style('green', '✓')} all ${plan.length} spec${plan.length === 1 ? ' is' : 's are'} cached and verified`)
    return EXIT.ok
  }
  const fixable = problems.some((p) => p.status !== 'invalid')
  output.out(
    `${problems.length} of ${plan.length} spec${plan.length === 1 ? '' : 's'} ${problems.length === 1 ? 'needs' : 'need'} attention.` +
      (fixable ? ' Run `npx ai-image generate` with an API key, then commit the cache folder.' : ''),
  )
  return EXIT.problems
}
