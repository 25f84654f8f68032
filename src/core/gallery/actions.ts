/**
 * The gallery's actions on a spec file, each turned into field edits (`spec-edit.ts`): pick a candidate,
 * another one (a new `seed`), more candidates (a larger `n`), restore an earlier generation (its `seed` and
 * `n`), save the edit form (any fields). Requests come from a browser: their bodies are untrusted, checked
 * here field by field, and name specs by label only (never a path), which is looked up among the specs the
 * project's discovery finds. Named specs and virtual imports are read-only.
 *
 * An action whose result is not in the cache spends money once written (the dev server generates it), so
 * it is written only with `confirm: true`; without it, the answer is the plan with its estimate, and
 * nothing is written. An action that lands on a cached entry (a pick, a restore, an edit of `alt`) is free
 * and written at once. An action that would spend while generation is frozen, or past the budget of the
 * session, is refused before anything is written. `generate` writes nothing: it asks for the image of a spec
 * file as it is (missing, or failed), with the same confirmation.
 */
import { randomInt } from 'node:crypto'
import { AiImageError } from '../errors.js'
import { lineageOfSidecar } from './history.js'
import type { ProjectView, ValidatedSpec } from './project-view.js'
import { planSpecEdit, writePlannedEdit, type FieldChange, type FieldEdits, type JsonValue } from './spec-edit.js'
import type { Estimate } from './types.js'

export type GalleryAction =
  | { action: 'pick'; spec: string; index: number }
  | { action: 'another'; spec: string }
  | { action: 'more'; spec: string; n?: number }
  | { action: 'restore'; spec: string; key: string }
  | { action: 'save'; spec: string; fields: Record<string, JsonValue | null> }
  | { action: 'generate'; spec: string }

export const ACTIONS = ['pick', 'another', 'more', 'restore', 'save', 'generate'] as const
export type ActionName = (typeof ACTIONS)[number]

export interface ActionResult {
  spec: string
  /** What the edit changes (or changed). */
  changes: FieldChange[]
  /** The key the spec asks for once edited; null while a chained input has no image. */
  key: string | null
  /** The edited spec's entry is in the cache, every image verified: nothing to generate. */
  cached: boolean
  /** What generating the edited spec would cost; null when it is cached. */
  estimate: Estimate | null
  /** The file was written. False for a plan (no `confirm` for an action that spends) or an edit that changes nothing. */
  written: boolean
  /** Written with `confirm`, and the edited spec asks for a key the cache lacks: the dev server generates it now. */
  generate: boolean
}

/** Longest prompt-sized text a save may carry; the validator applies each model's own limit after. */
const MAX_BODY_STRING = 64 * 1024

/** Check a request body for `action` (untrusted JSON from the page). Throws SPEC_INVALID naming the problem. */
export function parseAction(action: string, body: unknown): GalleryAction {
  if (!(ACTIONS as readonly string[]).includes(action)) throw badRequest(`"${printable(action)}" is no gallery action (${ACTIONS.join(', ')})`)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object')
  const value = body as Record<string, unknown>
  const spec = value.spec
  if (typeof spec !== 'string' || spec.length === 0 || spec.length > 4096) throw badRequest('"spec" must be the label of a spec')
  switch (action as ActionName) {
    case 'pick':
      if (!Number.isInteger(value.index) || (value.index as number) < 0 || (value.index as number) > 9) throw badRequest('"index" must be a candidate index from 0 to 9', spec)
      return { action: 'pick', spec, index: value.index as number }
    case 'another':
      return { action: 'another', spec }
    case 'more':
      if (value.n !== undefined && (!Number.isInteger(value.n) || (value.n as number) < 2 || (value.n as number) > 10)) throw badRequest('"n" must be an integer from 2 to 10', spec)
      return { action: 'more', spec, ...(value.n === undefined ? {} : { n: value.n as number }) }
    case 'restore':
      if (typeof value.key !== 'string' || !/^[0-9a-f]{64}$/.test(value.key)) throw badRequest('"key" must be a cache key (64 hex digits)', spec)
      return { action: 'restore', spec, key: value.key }
    case 'generate':
      return { action: 'generate', spec }
    case 'save': {
      const fields = value.fields
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw badRequest('"fields" must be an object of spec fields', spec)
      const checked: Record<string, JsonValue | null> = Object.create(null)
      for (const [name, field] of Object.entries(fields)) {
        if (typeof field === 'string' && field.length > MAX_BODY_STRING) throw badRequest(`field "${printable(name)}" is too long`, spec)
        checked[name] = field as JsonValue | null
      }
      return { action: 'save', spec, fields: checked }
    }
  }
}

/**
 * Plan `action` and, when it is free or `confirm` is set, write it. `random` is the source of new seeds
 * (a test seam).
 */
export async function performAction(
  view: ProjectView,
  action: GalleryAction,
  options: { confirm?: boolean; dryRun?: boolean; random?: () => number } = {},
): Promise<ActionResult> {
  const file = await editableFile(view, action.spec)
  const current = view.validate(await view.readRaw({ kind: 'file', file }))
  if (action.action === 'generate') return planGeneration(view, action.spec, current, options.confirm === true && !options.dryRun)
  const edits = await editsFor(view, action, current, options.random ?? (() => randomInt(1, 2 ** 31 - 1)))
  const planned = await planSpecEdit(view.specFiles, file, edits)
  const key = await view.keyOf(planned.spec)
  if (action.action === 'restore' && (!key.ok || key.key !== action.key)) {
    throw new AiImageError(
      'SPEC_INVALID',
      `restoring entry ${action.key.slice(0, 12)} would make the spec ask for ${key.ok ? `key ${key.key.slice(0, 12)}` : 'another key'}: its seed or n comes from the plugin option \`defaults\`. Nothing was written`,
      { file: action.spec },
    )
  }
  const cached = key.ok ? await isCached(view, key.key) : false
  const estimate = cached ? null : view.estimate(planned.spec)
  // A new key that the cache lacks is paid for once written (the app imports the spec; the gallery
  // generates it): only with `confirm`. An edit that keeps the key (pick, alt, emit) spends nothing new.
  const spends = !cached && keyChanges(current, planned.spec)
  if (spends && !options.dryRun) refuseSpending(view, action.spec, planned.spec)
  const write = !options.dryRun && (options.confirm === true || !spends)
  const written = write ? (await writePlannedEdit(view.specFiles, planned)).written : false
  return {
    spec: action.spec,
    changes: planned.changes,
    key: key.ok ? key.key : null,
    cached,
    estimate,
    written,
    generate: written && spends,
  }
}

/** `generate`: the spec's image as the file asks for it now; to be generated only when confirmed and not cached. */
async function planGeneration(view: ProjectView, label: string, spec: ValidatedSpec, confirm: boolean): Promise<ActionResult> {
  const key = await view.keyOf(spec)
  if (!key.ok) throw new AiImageError('SPEC_INVALID', `waits for ${key.upstream}, which has no cached image yet: generate that one first`, { file: label })
  const cached = await isCached(view, key.key)
  if (!cached) refuseSpending(view, label, spec)
  return { spec: label, changes: [], key: key.key, cached, estimate: cached ? null : view.estimate(spec), written: false, generate: confirm && !cached }
}

/** Throws when generating `spec` now is refused (frozen, the budget): before anything is written or sent. */
function refuseSpending(view: ProjectView, label: string, spec: ValidatedSpec): void {
  const refused = view.spendRefusal(spec)
  if (refused) throw new AiImageError(refused.code, `not generated: ${refused.reason}. Nothing was written`, { file: label })
}

/** The spec file with this label, when it is one the gallery may write; else why not. */
async function editableFile(view: ProjectView, label: string): Promise<string> {
  const found = (await view.discover()).find((spec) => spec.label === label)
  if (!found) throw new AiImageError('SPEC_INVALID', 'the project has no spec of this name (reload the gallery)', { file: label })
  if (found.ref.kind !== 'file') {
    const where = found.ref.kind === 'named' ? 'the plugin option `images`' : 'the source files that import it'
    throw new AiImageError('SPEC_INVALID', `is read-only in the gallery: it is defined in ${where}. Edit it there`, { file: label })
  }
  return found.ref.file
}

async function editsFor(view: ProjectView, action: GalleryAction, current: ValidatedSpec, random: () => number): Promise<FieldEdits> {
  const n = Number(current.request.n)
  switch (action.action) {
    case 'pick':
      return { pick: action.index }
    case 'another': {
      let seed = random()
      while (String(seed) === current.seed) seed = random()
      return { seed }
    }
    case 'more': {
      const wanted = action.n ?? n + 1
      if (wanted <= n) throw new AiImageError('SPEC_INVALID', `field "n" is already ${n}; more candidates means a larger n`, { file: action.spec, field: 'n' })
      return { n: wanted }
    }
    case 'restore': {
      const sidecar = await view.readSidecar(action.key)
      if (!sidecar) throw new AiImageError('SPEC_INVALID', `entry ${action.key.slice(0, 12)} is not in the cache (or fails its checks)`, { file: action.spec })
      const key = await view.keyOf(current)
      if (!key.ok || lineageOfSidecar(sidecar) !== key.lineage) {
        throw new AiImageError('SPEC_INVALID', `entry ${action.key.slice(0, 12)} is not an earlier generation of this spec (its request differs in more than seed and n)`, { file: action.spec })
      }
      const restoredN = Number(sidecar.request.n)
      return {
        ...(sidecar.seed === current.seed ? {} : { seed: sidecar.seed }),
        ...(restoredN === n ? {} : { n: restoredN }),
        ...(current.pick < restoredN ? {} : { pick: 0 }),
      }
    }
    case 'save':
      return action.fields
    case 'generate':
      return {}
  }
}

async function isCached(view: ProjectView, key: string): Promise<boolean> {
  const read = await view.readEntry(key)
  return read.status === 'read' && read.images.every((image) => 'data' in image)
}

/** Whether the edit changes what is requested (a new key), rather than how it is used (pick, alt, emit). */
function keyChanges(before: ValidatedSpec, after: ValidatedSpec): boolean {
  return JSON.stringify([before.endpoint, before.request, before.inputs, before.mask ?? null, before.seed]) !== JSON.stringify([after.endpoint, after.request, after.inputs, after.mask ?? null, after.seed])
}

function badRequest(problem: string, spec = 'gallery request'): AiImageError {
  return new AiImageError('SPEC_INVALID', problem, { file: spec })
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 60 ? `${clean.slice(0, 57)}...` : clean
}
