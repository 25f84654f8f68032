/**
 * The gallery's state of a project (`types.ts`): every spec the command line finds, what it asks for, its
 * cache entry and candidates, where it is written and who imports it, and its earlier generations.
 * Built from a `ProjectView` only; never generates, spends or writes (images are handed to `imageSource`,
 * which decides where the page loads them from: a dev server URL, or a file beside the static sheet).
 */
import pLimit from 'p-limit'
import { GenerationIndex } from './history.js'
import { indexImports, type ImportIndex } from './importers.js'
import type { EntryImage, ProjectView, RawSpec, Sidecar, SidecarImage, ValidatedSpec, ViewSpec } from './project-view.js'
import {
  GALLERY_STATE_VERSION,
  type Candidate,
  type Cost,
  type EarlierGeneration,
  type EntryFacts,
  type GalleryMode,
  type GalleryState,
  type LiveProgress,
  type SpecCard,
  type SpecFacts,
  type SpecSnapshot,
  type SpecStatus,
} from './types.js'

/** A verified image of an entry, for `imageSource`. */
export interface VerifiedImage {
  key: string
  index: number
  record: SidecarImage
  data: Buffer
}

/** What the dev server knows of a spec that the cache does not say yet. */
export type LiveState = { status: 'generating'; progress: LiveProgress } | { status: 'failed'; error: string }

export interface StateOptions {
  mode: GalleryMode
  /** Where the page loads a verified image from; null shows none. Called once per image shown. */
  imageSource(image: VerifiedImage): Promise<string | null> | string | null
  /** List earlier generations (default: in dev). */
  history?: boolean
  /** The dev server's live state of a spec (by label and key). */
  live?(label: string, key: string | undefined): LiveState | undefined
  /** Kept across states by the dev server, so each state reads only new sidecars. */
  index?: GenerationIndex
  /**
   * Importers the bundler knows beyond those read from the sources (the dev server's module graph, which
   * follows aliases), root-relative.
   */
  importers?(ref: ViewSpec['ref']): readonly string[]
  now?: Date
  projectName: string
}

/** Cards are built a few at a time: each reads and hashes its images. */
const CARD_CONCURRENCY = 4

export async function buildGalleryState(view: ProjectView, options: StateOptions): Promise<GalleryState> {
  const context = await cardContext(view, options)
  const specs = await view.discover()
  const limit = pLimit(CARD_CONCURRENCY)
  const cards = await Promise.all(specs.map((spec) => limit(() => buildCard(view, spec, context))))
  return {
    version: GALLERY_STATE_VERSION,
    mode: options.mode,
    project: options.projectName,
    generatedAt: (options.now ?? new Date()).toISOString(),
    specs: cards,
    summary: summarize(cards),
  }
}

export interface CardContext {
  options: StateOptions
  imports: ImportIndex
  index: GenerationIndex | undefined
}

/** What every card of one state shares: the import index and the generation index. */
export async function cardContext(view: ProjectView, options: StateOptions): Promise<CardContext> {
  const imports = indexImports(await view.sources(), view.root, view.relative)
  const wantHistory = options.history ?? options.mode === 'dev'
  let index: GenerationIndex | undefined
  if (wantHistory) {
    index = options.index ?? new GenerationIndex(view)
    await index.refresh()
  }
  return { options, imports, index }
}

export function summarize(cards: readonly SpecCard[]): GalleryState['summary'] {
  const byStatus: Partial<Record<SpecStatus, number>> = {}
  let images = 0
  for (const card of cards) {
    byStatus[card.status] = (byStatus[card.status] ?? 0) + 1
    images += card.candidates.length
  }
  return { specs: cards.length, byStatus, images }
}

/** One spec's card (the dev server rebuilds single cards as they change). */
export async function buildCard(view: ProjectView, { ref, label }: ViewSpec, context: CardContext): Promise<SpecCard> {
  const { options, imports } = context
  const kind = ref.kind
  const scanned =
    ref.kind === 'file' ? imports.ofFile(ref.file) : ref.kind === 'named' ? imports.ofNamed(ref.name) : imports.ofQuery(ref.id, /[?&](image|mask)=/.test(ref.id) ? ref.dir : undefined)
  const importers = [...new Set([...scanned, ...(options.importers?.(ref) ?? [])])].sort()
  const origin = ref.kind === 'file' ? { kind: 'file' as const, file: label } : ref.kind === 'named' ? view.namedOrigin(ref.name) : { kind: 'import' as const, files: importers }
  const editable = ref.kind === 'file'
  const base = { label, kind, origin, editable, importers, history: [] as EarlierGeneration[] }

  let raw: RawSpec
  try {
    raw = await view.readRaw(ref)
  } catch (error) {
    return { ...base, status: 'invalid', error: view.describeError(error), candidates: [], pick: 0 }
  }
  const fields = editable ? plainFields(raw.fields) : undefined
  const withFields = { ...base, ...(fields ? { fields } : {}) }

  let spec: ValidatedSpec
  try {
    spec = view.validate(raw)
  } catch (error) {
    return { ...withFields, status: 'invalid', error: view.describeError(error), candidates: [], pick: 0 }
  }
  const facts = specFacts(view, spec)
  const estimates = options.mode === 'dev' && editable ? actionEstimates(view, spec, facts) : undefined

  let snapshot: SpecSnapshot
  let lineage: string | undefined
  try {
    const key = await view.keyOf(spec)
    if (!key.ok) {
      snapshot = { status: 'pending', error: `waits for ${key.upstream}, which has no cached image yet`, spec: facts, candidates: [], pick: spec.pick }
    } else {
      lineage = key.lineage
      snapshot = await snapshotOf(view, key.key, spec, facts, options)
    }
  } catch (error) {
    snapshot = { status: 'invalid', error: view.describeError(error), spec: facts, candidates: [], pick: spec.pick }
  }

  const live = options.live?.(label, snapshot.key)
  if (live && snapshot.status !== 'cached') {
    snapshot = live.status === 'failed' ? { ...snapshot, status: 'failed', error: live.error } : { ...snapshot, status: 'generating' }
  }
  const history = context.index && lineage ? await earlierGenerations(view, context.index, lineage, snapshot.key, options) : []
  return {
    ...withFields,
    ...snapshot,
    history,
    ...(live?.status === 'generating' && snapshot.status === 'generating' ? { progress: live.progress } : {}),
    ...(estimates ? { estimates: { ...estimates, ...(snapshot.status === 'missing' || snapshot.status === 'corrupt' || snapshot.status === 'failed' ? { generate: view.estimate(spec) } : {}) } } : {}),
  }
}

/** The spec's entry as the page shows it: verified candidates, or why there are none. */
export async function snapshotOf(view: ProjectView, key: string, spec: ValidatedSpec | undefined, facts: SpecFacts | undefined, options: Pick<StateOptions, 'imageSource'>): Promise<SpecSnapshot> {
  const pick = spec?.pick ?? 0
  const base = { key, ...(facts ? { spec: facts } : {}), pick }
  const read = await view.readEntry(key)
  if (read.status === 'miss') return { ...base, status: 'missing', candidates: [] }
  if (read.status === 'unreadable') return { ...base, status: 'corrupt', error: read.reason, candidates: [] }
  const { candidates, problems, missing } = await candidatesOf(key, read.images, options)
  const status: SpecStatus = problems.length === 0 ? 'cached' : missing === read.images.length ? 'sidecar-only' : 'corrupt'
  return {
    ...base,
    status,
    ...(status === 'corrupt' ? { error: problems.join('; ') } : {}),
    entry: entryFacts(view, read.sidecar, spec),
    candidates,
  }
}

async function candidatesOf(
  key: string,
  images: readonly EntryImage[],
  options: Pick<StateOptions, 'imageSource'>,
): Promise<{ candidates: Candidate[]; problems: string[]; missing: number }> {
  const candidates: Candidate[] = []
  const problems: string[] = []
  let missing = 0
  for (const [index, image] of images.entries()) {
    const { record } = image
    let src: string | null = null
    if ('data' in image) src = await options.imageSource({ key, index, record, data: image.data })
    else {
      problems.push(image.problem)
      if (image.missing) missing++
    }
    candidates.push({
      index,
      width: record.width,
      height: record.height,
      mime: record.mime,
      bytes: record.bytes,
      sha256: record.sha256,
      src,
      revisedPrompt: record.revised_prompt ?? null,
    })
  }
  return { candidates, problems, missing }
}

async function earlierGenerations(view: ProjectView, index: GenerationIndex, lineage: string, current: string | undefined, options: StateOptions): Promise<EarlierGeneration[]> {
  const generations: EarlierGeneration[] = []
  for (const entry of index.generationsOf(lineage, current)) {
    const read = await view.readEntry(entry.key)
    if (read.status !== 'read') continue
    const { candidates, problems } = await candidatesOf(entry.key, read.images, options)
    generations.push({ key: entry.key, seed: entry.seed, n: entry.n, created: entry.created, candidates, complete: problems.length === 0 })
  }
  return generations
}

function specFacts(view: ProjectView, spec: ValidatedSpec): SpecFacts {
  const text = (value: unknown) => (typeof value === 'string' ? value : null)
  return {
    endpoint: spec.endpoint,
    prompt: text(spec.request.prompt),
    model: spec.model,
    size: text(spec.request.size),
    quality: text(spec.request.quality),
    n: Number(spec.request.n),
    seed: spec.seed,
    background: text(spec.request.background),
    outputFormat: text(spec.request.output_format),
    inputs: spec.inputs.map(view.relative),
    mask: spec.mask === undefined ? null : view.relative(spec.mask),
    alt: spec.alt,
    knownModel: spec.knownModel,
    maxN: view.maxCandidates(spec.model),
  }
}

function actionEstimates(view: ProjectView, spec: ValidatedSpec, facts: SpecFacts): NonNullable<SpecCard['estimates']> {
  return {
    another: view.estimate(spec),
    // `n` is part of the key: more candidates is a new generation of all of them.
    ...(facts.n < facts.maxN ? { more: view.estimate({ model: spec.model, request: { ...spec.request, n: facts.n + 1 } }) } : {}),
  }
}

function entryFacts(view: ProjectView, sidecar: Sidecar, spec: ValidatedSpec | undefined): EntryFacts {
  const usage: Record<string, number> = {}
  for (const [name, value] of Object.entries(sidecar.usage ?? {})) if (typeof value === 'number' && Number.isFinite(value)) usage[name] = value
  return {
    created: sidecar.created,
    provider: sidecar.provider.kind,
    deployment: sidecar.provider.deployment ?? null,
    revisedPrompt: sidecar.revised_prompt ?? sidecar.images.find((image) => image.revised_prompt)?.revised_prompt ?? null,
    usage: Object.keys(usage).length > 0 ? usage : null,
    cost: recordedCost(sidecar) ?? estimatedCost(view, sidecar, spec),
  }
}

/** The sidecar's own `cost`, when the cache records one (a checked `{ usd, basis }`). */
function recordedCost(sidecar: Sidecar): Cost | null {
  const cost = (sidecar as Sidecar & { cost?: unknown }).cost
  if (typeof cost !== 'object' || cost === null) return null
  const { usd, basis } = cost as { usd?: unknown; basis?: unknown }
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) return null
  return { usd, basis: basis === 'usage' ? 'usage' : 'estimate' }
}

function estimatedCost(view: ProjectView, sidecar: Sidecar, spec: ValidatedSpec | undefined): Cost | null {
  const model = typeof sidecar.request.model === 'string' ? sidecar.request.model : spec?.model
  if (!model) return null
  const usd = view.estimate({ model, request: sidecar.request }).usd
  return usd === null ? null : { usd, basis: 'estimate' }
}

/** A spec file's fields as JSON values only (the edit form shows them). */
function plainFields(fields: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>
}

