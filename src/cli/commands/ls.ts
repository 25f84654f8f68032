/**
 * `ai-image ls [--json]`: every spec with its key, model, size, status and cost; a key a batch is making
 * shows as `pending`, with its batch and age (#16).
 */
import { formatAge, formatUSD, type PendingBatch } from '../../core/service.js'
import { describeErrorOf } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'
import type { Project } from '../project.js'

export interface ListedSpec {
  file: string
  key: string | null
  model: string | null
  size: string | null
  n: number | null
  /** `pending`: a batch is making it (see `batch`). */
  status: 'hit' | 'miss' | 'corrupt' | 'invalid' | 'pending'
  /** The batch making it (status `pending`): its id, when it was submitted (unix seconds) and its age in seconds. */
  batch?: { id: string; submitted: number; ageSeconds: number }
  /**
   * Estimated USD of the spec's images and streamed previews (for a miss: what generating it would cost),
   * rounded to 6 decimals (a millionth of a dollar: no float noise such as 0.026999999999999996); null when unpriced.
   */
  estimatedUSD: number | null
  /** Output tokens the API reported, from the sidecar (hits). */
  recordedTokens: number | null
  /** What the entry cost, from the sidecar (hits): from the answers' usage, or estimated where they had none (#12). */
  recordedCost: { usd: number; basis: 'usage' | 'estimate' } | null
  note?: string
}

export async function list(project: Project, output: Output, options: { json: boolean }): Promise<number> {
  const { service } = project
  const plan = await service.plan(project.specs.map((s) => s.ref))
  const rows: ListedSpec[] = []
  for (const [i, entry] of plan.entries()) {
    if (entry.status === 'invalid') {
      rows.push({ file: entry.label, key: null, model: null, size: null, n: null, status: 'invalid', estimatedUSD: null, recordedTokens: null, recordedCost: null, note: describeErrorOf(entry.label, entry.error) })
      continue
    }
    const spec = await service.loadSpec(project.specs[i]!.ref)
    // A hit only in the remote cache is described by its sidecar there: listing fetches no image.
    const found = entry.status === 'hit' && entry.key ? await service.locateEntry(entry.key) : undefined
    const sidecar = found?.status === 'hit' ? found.sidecar : undefined
    const tokens = sidecar?.usage?.output_tokens
    rows.push({
      file: entry.label,
      key: entry.key ?? null,
      model: spec.model,
      size: String(spec.request.size ?? 'auto'),
      n: Number(spec.request.n),
      status: entry.status,
      estimatedUSD: roundUSD(service.estimate(spec).usd),
      recordedTokens: typeof tokens === 'number' ? tokens : null,
      recordedCost: sidecar?.cost ? { ...sidecar.cost } : null,
      ...(entry.pending ? { batch: batchOf(entry.pending) } : {}),
      ...(entry.note || entry.pending ? { note: entry.note ?? `pending in batch ${entry.pending!.batch}, submitted ${formatAge(entry.pending!.ageSeconds)} ago` } : {}),
    })
  }

  // A listing that found an invalid spec or a corrupt entry exits 1, like `check` (a miss is no problem here).
  const exit = rows.some((r) => r.status === 'invalid' || r.status === 'corrupt') ? EXIT.problems : EXIT.ok
  if (options.json) {
    output.out(JSON.stringify(rows, null, 2))
    return exit
  }
  const colour = { hit: 'green', miss: 'yellow', corrupt: 'red', invalid: 'red', pending: 'cyan' } as const
  const table = rows.map((r) => [
    r.file,
    r.key ? r.key.slice(0, 12) : '-',
    r.model ?? '-',
    r.size ?? '-',
    r.status,
    r.estimatedUSD === null ? (r.status === 'invalid' ? '-' : 'no price') : `${formatUSD(r.estimatedUSD)} est.`,
    [r.recordedTokens === null ? '' : `${r.recordedTokens} tokens`, r.recordedCost ? `${formatUSD(r.recordedCost.usd)} ${r.recordedCost.basis === 'usage' ? 'from usage' : 'est.'}` : '']
      .filter(Boolean)
      .join(', '),
  ])
  const header = ['SPEC', 'KEY', 'MODEL', 'SIZE', 'STATUS', 'COST', 'RECORDED']
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c]!.length)))
  const line = (cells: string[], paint?: (cell: string, c: number) => string) =>
    cells.map((cell, c) => (paint ? paint(cell.padEnd(widths[c]!), c) : cell.padEnd(widths[c]!))).join('  ').trimEnd()
  output.out(output.style('bold', line(header)))
  table.forEach((cells, r) => output.out(line(cells, (cell, c) => (c === 4 ? output.style(colour[rows[r]!.status], cell) : cell))))
  for (const row of rows.filter((r) => r.note)) output.out(output.style('dim', `${row.file}: ${row.note}`))
  return exit
}

/** Dollars to a millionth: what an estimate can mean, without binary floating-point noise in the JSON. */
function roundUSD(usd: number | undefined): number | null {
  return usd === undefined ? null : Math.round(usd * 1e6) / 1e6
}

function batchOf(pending: PendingBatch): NonNullable<ListedSpec['batch']> {
  return { id: pending.batch, submitted: pending.submitted, ageSeconds: pending.ageSeconds }
}
