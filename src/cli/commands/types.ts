/**
 * `ai-image types [--check]`: the TypeScript declaration file beside every spec file, so that
 * `import hero, { width } from './hero.<spec>'` type-checks (with `allowArbitraryExtensions`) before any
 * build has run, e.g. in `tsc && vite build`. The plugins write them at every build and dev server start;
 * this writes them on demand, and `--check` fails CI when one is missing or out of date.
 */
import path from 'node:path'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export async function types(project: Project, output: Output, options: { check: boolean }): Promise<number> {
  const report = await project.service.syncAllDeclarations({ dryRun: options.check })
  const label = (file: string) => path.relative(project.root, file).split(path.sep).join('/')
  const missing = report.written.length + report.removed.length
  for (const file of report.written) output.out(`${options.check ? output.style('red', '✗') : output.style('green', '✓')} ${label(file)}  ${options.check ? 'missing or out of date' : 'written'}`)
  for (const file of report.removed) output.out(`${options.check ? output.style('red', '✗') : output.style('green', '✓')} ${label(file)}  ${options.check ? 'its spec is gone' : 'removed (its spec is gone)'}`)
  for (const { file, reason } of report.refused) output.out(`${output.style('red', '✗')} ${label(file)}  ${reason}: left as it is`)
  const total = report.current + report.written.length + report.foreign.length + report.refused.length
  if (options.check) {
    if (missing + report.refused.length === 0) {
      output.out(`${output.style('green', '✓')} the declarations of all ${total} spec file${total === 1 ? ' are' : 's are'} up to date`)
      return EXIT.ok
    }
    output.out(`${missing + report.refused.length} declaration file${missing + report.refused.length === 1 ? ' needs' : 's need'} attention: run \`npx ai-image types\` and commit them`)
    return EXIT.problems
  }
  output.out(`${report.written.length} written, ${report.removed.length} removed, ${report.current} up to date${report.foreign.length ? `, ${report.foreign.length} of the project's own left as they are` : ''}`)
  return report.refused.length > 0 ? EXIT.problems : EXIT.ok
}
