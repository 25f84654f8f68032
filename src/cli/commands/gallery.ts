/**
 * `ai-image gallery --out <dir> [--since <ref>]`: the static contact sheet of the project's images, from
 * the cache alone (no key, no request): every spec with its candidates, or, with `--since`, only the specs
 * whose images changed since a git commit, old and new side by side.
 */
import path from 'node:path'
import { isAiImageError } from '../../core/errors.js'
import { projectView, writeSheet } from '../../core/gallery/index.js'
import type { Env } from '../../core/service.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export async function gallery(project: Project, output: Output, options: { out: string | undefined; since: string | undefined; cwd: string; env: Env }): Promise<number> {
  if (options.out === undefined || options.out === '') {
    output.err(output.style('red', 'ai-image gallery needs --out <dir>: the folder to write index.html and images/ into'))
    return EXIT.usage
  }
  const outDir = path.resolve(options.cwd, options.out)
  let result
  try {
    result = await writeSheet(projectView(project.service), {
      outDir,
      projectName: path.basename(project.root),
      ...(options.since !== undefined ? { since: { ref: options.since, env: options.env, sink: output.sink } } : {}),
    })
  } catch (error) {
    output.err(output.style('red', describeError(error)))
    // A bad --out or --since, or no git repository: bad usage. Anything else: the sheet could not be made.
    return isAiImageError(error) && error.file === 'ai-image gallery' ? EXIT.usage : EXIT.problems
  }
  const { summary, since } = result.state
  const counts = Object.entries(summary.byStatus).map(([status, count]) => `${count} ${status}`)
  const what = since ? `${summary.specs} spec${summary.specs === 1 ? '' : 's'} changed since ${since.ref}` : `${summary.specs} spec${summary.specs === 1 ? '' : 's'}`
  output.out(`wrote ${path.relative(options.cwd, result.file) || result.file}: ${what}${counts.length ? ` (${counts.join(', ')})` : ''}, ${result.images} image file${result.images === 1 ? '' : 's'}`)
  return EXIT.ok
}
