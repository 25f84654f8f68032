/**
 * `ai-image generate [globs...] [--dry-run]`: generate every miss ahead of a build through the same engine
 * the plugins use, or, with --dry-run, list the misses with their estimated cost and send nothing. A key a
 * batch is making is never generated here (#16): it is reported as pending. `--batch` is `batch.ts`.
 */
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'
import { AiImageError } from '../../core/errors.js'
import { SPEC_SUFFIX, formatAge, formatUSD } from '../../core/service.js'

export async function generate(project: Project, output: Output, options: { dryRun: boolean }): Promise<number> {
  const { service, specs } = project
  if (specs.length === 0) {
    output.out(`no specs found (looked for *${SPEC_SUFFIX} files, the \`images\` option and virtual:ai-image imports)`)
    return EXIT.ok
  }
  return options.dryRun ? dryRun(project, output) : run(project, output)

  async function run(project: Project, output: Output): Promise<number> {
    const provider = service.options.provider
    if (provider.kind === 'placeholder') {
      const error = new AiImageError(
        'AUTH',
        provider.explicit
          ? 'the placeholder provider writes nothing to the cache: set provider to openai or azure to generate'
          : 'no API key: set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT and a key or credential) to generate images',
      )
      output.err(output.style('red', describeError(error)))
      return EXIT.problems
    }
    const report = await service.generateAll(
      specs.map((s) => s.ref),
      {
        onResult(outcome) {
          if (outcome.status === 'generated') output.out(`${output.style('green', '✓')} ${outcome.label}  generated`)
          else if (outcome.status === 'pending') {
            const { batch, ageSeconds } = outcome.pending!
            output.out(
              `${output.style('cyan', '⧗')} ${outcome.label}  pending in batch ${batch}, submitted ${formatAge(ageSeconds)} ago: not generated (it would be paid twice); ` +
                'collect it with `ai-image generate --batch`, or cancel the batch with `ai-image generate --batch --cancel`',
            )
          } else if (outcome.status === 'failed' || outcome.status === 'invalid') {
            output.out(`${output.style('red', '✗')} ${outcome.label}  ${describeError(outcome.error)}`)
          }
        },
      },
    )
    await service.close()
    const count = (status: string) => report.results.filter((r) => r.status === status).length
    const failed = count('failed') + count('invalid')
    const pending = count('pending')
    output.out(
      `${count('generated')} generated, ${count('hit')} already cached${pending ? `, ${pending} pending in a batch` : ''}${failed ? `, ${output.style('red', `${failed} failed`)}` : ''}`,
    )
    if (report.budgetError) output.err(output.style('red', describeError(report.budgetError)))
    return failed > 0 || pending > 0 || report.budgetError ? EXIT.problems : EXIT.ok
  }

  async function dryRun(project: Project, output: Output): Promise<number> {
    const plan = await service.plan(project.specs.map((s) => s.ref))
    const misses = plan.filter((p) => p.status === 'miss' || p.status === 'corrupt')
    const invalid = plan.filter((p) => p.status === 'invalid')
    const pending = plan.filter((p) => p.status === 'pending')
    let total = 0
    let unpriced = 0
    for (const entry of misses) {
      const estimate = entry.estimate!
      if (estimate.usd === undefined) unpriced += entry.images
      else total += estimate.usd
      if (entry.sameAs) {
        output.out(`  ${entry.label}  ${output.style('dim', `the same request as ${entry.sameAs}: no extra image`)}`)
        continue
      }
      const cost = estimate.usd === undefined ? 'no price' : `${formatUSD(estimate.usd)}`
      const note = entry.note ? output.style('dim', ` (${entry.note})`) : ''
      output.out(`  ${entry.label}  ${entry.images} image${entry.images === 1 ? '' : 's'}  ${cost}  ${output.style('dim', estimate.basis)}${note}`)
    }
    for (const entry of pending) {
      output.out(`  ${entry.label}  ${output.style('cyan', `pending in batch ${entry.pending!.batch}, submitted ${formatAge(entry.pending!.ageSeconds)} ago: not generated`)}`)
    }
    for (const entry of invalid) output.out(`${output.style('red', '✗')} ${entry.label}  ${describeError(entry.error)}`)
    const images = misses.reduce((sum, m) => sum + m.images, 0)
    output.out(
      `${misses.length} of ${plan.length} spec${plan.length === 1 ? '' : 's'} to generate, ${images} image${images === 1 ? '' : 's'}, ` +
        `estimated total ${formatUSD(total)}${unpriced ? ` (plus ${unpriced} image${unpriced === 1 ? '' : 's'} without a price: see the \`prices\` option)` : ''}; ` +
        'dry run: nothing was sent',
    )
    return invalid.length > 0 ? EXIT.problems : EXIT.ok
  }
}
