/**
 * `ai-image generate --batch [globs...] [--wait] [--cancel] [--dry-run] [--interval <seconds>]` (#16): collect
 * finished batches into the cache, submit what is still missing to OpenAI's Batch API (half price, results
 * within 24 hours) and exit; `--wait` stays until everything is collected; `--cancel` cancels pending batches
 * and keeps what they finished; `--dry-run` prices the batch and sends nothing. Results on stdout, progress
 * on stderr.
 */
import { BATCH_PRICE_FACTOR, formatAge, formatUSD, type BatchEvent, type BatchRunReport } from '../../core/service.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export interface BatchCommandOptions {
  dryRun: boolean
  wait: boolean
  cancel: boolean
  /** Between two looks at pending batches while waiting. */
  intervalMs: number
  /** Globs narrowed the specs. */
  selection: boolean
}

export async function generateBatch(project: Project, output: Output, options: BatchCommandOptions): Promise<number> {
  const { service, specs } = project
  const mode = options.cancel ? 'cancel' : options.dryRun ? 'dry-run' : 'submit'
  const report = await service.batch(
    specs.map((s) => s.ref),
    { mode, wait: options.wait, intervalMs: options.intervalMs, selection: options.selection, onEvent: (event) => show(output, event, mode) },
  )
  if (mode === 'dry-run') return dryRunSummary(output, report)
  const { collected, submitted } = report
  const parts = [
    `${collected.written} collected${collected.cached ? ` (${collected.cached} already cached)` : ''}`,
    `${submitted.images} image${submitted.images === 1 ? '' : 's'} submitted in ${submitted.batches} batch${submitted.batches === 1 ? '' : 'es'}` +
      (submitted.batches > 0
        ? ` (estimated ${formatUSD(submitted.estimateUSD)} at batch prices${submitted.unpricedImages ? `, plus ${submitted.unpricedImages} image${submitted.unpricedImages === 1 ? '' : 's'} without a price` : ''})`
        : ''),
    `${report.pending.length} pending`,
  ]
  if (report.failed.length) parts.push(output.style('red', `${report.failed.length} failed`))
  output.out(parts.join(', '))
  if (collected.written > 0) {
    output.out(`collected cost ${formatUSD(collected.usd)} at batch prices${collected.estimated ? ' (estimated for models without per-token prices)' : ' (from usage)'}`)
  }
  if (report.pending.length > 0) {
    output.out(
      'Pending batches are recorded in the cache folder (commit it, batches/ included). Run `ai-image generate --batch` again later, ' +
        'on any machine with the key, to collect them (--wait to wait now).',
    )
  }
  return report.failed.length > 0 ? EXIT.problems : EXIT.ok
}

function show(output: Output, event: BatchEvent, mode: 'submit' | 'cancel' | 'dry-run'): void {
  const { style } = output
  switch (event.type) {
    case 'status': {
      const done = event.counts.total > 0 ? `, ${event.counts.completed + event.counts.failed} of ${event.counts.total} requests done` : ''
      output.err(style('dim', `${event.batch}: ${event.status}${done} (submitted ${formatAge(event.ageSeconds)} ago)`))
      return
    }
    case 'entry':
      if (event.outcome === 'written') output.out(`${style('green', '✓')} ${event.label}  collected from ${event.batch}`)
      else if (event.outcome === 'cached') output.out(`${style('dim', '·')} ${event.label}  already in the cache (collected by another process): nothing written`)
      else output.out(`${style('yellow', '…')} ${event.label}  ${event.images} image${event.images === 1 ? '' : 's'} written from ${event.batch}; the others of this spec are still missing`)
      return
    case 'line-error':
      output.out(`${style('red', '✗')} ${event.label}  ${describeError(event.error)} (batch ${event.batch})`)
      return
    case 'not-done':
      output.out(`${style('yellow', '↻')} ${event.label}  not finished by ${event.batch} (${event.reason}): ${mode === 'cancel' ? 'no longer pending, a build or `ai-image generate` makes it now' : 'submitted again'}`)
      return
    case 'collected': {
      const cost = event.written > 0 ? `; ${formatUSD(event.usd)} at batch prices${event.estimated ? ' (estimated for models without per-token prices)' : ' (from usage)'}` : ''
      const parts = [`${event.written} entr${event.written === 1 ? 'y' : 'ies'} written`]
      if (event.cached) parts.push(`${event.cached} already cached`)
      if (event.errors) parts.push(`${event.errors} failed`)
      if (event.notDone) parts.push(`${event.notDone} not finished`)
      output.out(`batch ${event.batch} ${event.status}: ${parts.join(', ')}${cost}`)
      return
    }
    case 'batch-error':
      output.err(
        style(event.retrying ? 'yellow' : 'red', `batch ${event.batch}: ${describeError(event.error)}`) +
          (event.retrying
            ? style('dim', ' (tried again later)')
            : style('dim', ` (its record is ${event.record}: run again with the key that submitted it, or delete that file to give up on the batch)`)),
      )
      return
    case 'cancelled':
      output.out(`cancel asked of batch ${event.batch} (${event.status}): what it finished is kept`)
      return
    case 'refused':
      output.out(`${style('red', '✗')} ${event.label}  ${describeError(event.error)}`)
      return
    case 'submitted': {
      const unpriced = event.unpricedImages ? ` (plus ${event.unpricedImages} image${event.unpricedImages === 1 ? '' : 's'} without a price)` : ''
      output.out(
        `submitted batch ${event.batch} (${event.endpoint}): ${event.requests} request${event.requests === 1 ? '' : 's'}, ` +
          `${event.images} image${event.images === 1 ? '' : 's'} for ${event.specs.length} spec${event.specs.length === 1 ? '' : 's'}, ` +
          `estimated ${formatUSD(event.estimateUSD)} at batch prices${unpriced}`,
      )
      for (const label of event.specs) output.out(`  ${style('cyan', '⧗')} ${label}`)
      return
    }
    case 'waiting':
      output.err(style('dim', `waiting for ${event.batches} batch${event.batches === 1 ? '' : 'es'}; next look in ${formatAge(event.nextInMs / 1000)}`))
      return
  }
}

function dryRunSummary(output: Output, report: BatchRunReport): number {
  const { style } = output
  let total = 0
  let images = 0
  let unpriced = 0
  const submit = report.plan.filter((row) => row.status === 'submit')
  for (const row of report.plan) {
    switch (row.status) {
      case 'submit': {
        const estimate = row.estimate!
        images += row.images ?? 0
        if (estimate.usd === undefined) unpriced += row.images ?? 0
        else total += estimate.usd
        const cost = estimate.usd === undefined ? 'no price' : formatUSD(estimate.usd)
        output.out(`  ${row.label}  ${row.images} image${row.images === 1 ? '' : 's'}  ${cost}  ${style('dim', estimate.basis)}`)
        break
      }
      case 'pending':
        output.out(`  ${row.label}  ${style('cyan', `pending in batch ${row.pending!.batch}, submitted ${formatAge(row.pending!.ageSeconds)} ago`)}`)
        break
      case 'same':
        output.out(`  ${row.label}  ${style('dim', `the same request as ${row.sameAs}: no extra image`)}`)
        break
      case 'upstream':
        output.out(`  ${row.label}  ${style('dim', `waits for ${row.upstream}: submitted once its image is in the cache`)}`)
        break
      case 'refused':
        output.out(`${style('red', '✗')} ${row.label}  ${describeError(row.error)}`)
        break
      case 'hit':
      case 'skipped':
        break
    }
  }
  output.out(
    `${submit.length} of ${report.plan.length} spec${report.plan.length === 1 ? '' : 's'} to submit, ${images} image${images === 1 ? '' : 's'}, ` +
      `estimated total ${formatUSD(total)} at batch prices (${BATCH_PRICE_FACTOR * 100}% of the synchronous price)` +
      `${unpriced ? ` (plus ${unpriced} image${unpriced === 1 ? '' : 's'} without a price: see the \`prices\` option)` : ''}; ` +
      `${report.pending.length} pending; dry run: nothing was sent`,
  )
  return report.failed.length > 0 ? EXIT.problems : EXIT.ok
}
