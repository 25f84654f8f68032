/**
 * The gallery's one door into the rest of the plugin. Everything the gallery needs from the project (its
 * specs, their validation and keys, the cache's entries, prices, source files, the generations running) is
 * asked here and nowhere else, so the gallery follows the core through one small interface when it moves.
 *
 * The cache is read through the image service's front door and so through the cache's tiers (the committed
 * folder, then a remote): the gallery knows keys, sidecars and verified images, never a folder or a file.
 * Cache entries are untrusted input, read with the cache's own checks: no link is followed, each image is
 * sized before it is read and verified (SHA-256, header format and dimensions) before the gallery shows it.
 *
 * Reads only, but for `generate`, which asks the front door for a spec's image (the dev server's gallery,
 * after its page asked with the server's token): the normal path, with the cache, the lock and the budget.
 */
import path from 'node:path'
import fg from 'fast-glob'
import { CONFIG_FILE_NAMES, loadConfigFile } from '../config-file.js'
import { SOURCE_GLOB, SOURCE_MAX_BYTES, WALK, discoveryIgnores } from '../discover.js'
import type { AiImageErrorCode } from '../errors.js'
import { readFileInsideRoot } from '../read-inside-root.js'
import { redactSecrets } from '../secrets.js'
import type { LogSink } from '../log.js'
import type { Env } from '../options.js'
import {
  ImageService,
  isEntryFilePath,
  type GenerationState,
  type ImageLook,
  type PartialImage,
  type PreparedSpec,
  type Sidecar,
  type SidecarImage,
  type SpecRef,
} from '../service.js'
import { SPEC_FIELDS } from '../spec/fields.js'
import { GENERIC_LIMITS, modelCapabilities } from '../spec/models.js'
import { SPEC_FILE_MAX_BYTES, parseSpecJson, relativeLabel, type RawSpec } from '../spec/source.js'
import { validateSpec, type ValidatedSpec } from '../spec/validate.js'
import type { Estimate, SpecOrigin } from './types.js'

export type { RawSpec, SpecRef, ValidatedSpec, Sidecar, SidecarImage, GenerationState, PartialImage }
export { isEntryFilePath }

export interface ViewSpec {
  ref: SpecRef
  label: string
}

/** The key of a spec, its chained inputs read from the cache only (the gallery never generates to learn a key). */
export type KeyResult =
  | { ok: true; key: string; lineage: string }
  /** A chained input (another spec) has no cached image yet: the key cannot be known before it exists. */
  | { ok: false; upstream: string }

/** One image of an entry as read: verified bytes, or why not. */
export type EntryImage = ImageLook

/** Why spending now is refused (frozen generation, or the budget), with the error code to report it under. */
export interface SpendRefusal {
  code: Extract<AiImageErrorCode, 'CACHE_MISS_FROZEN' | 'BUDGET_EXCEEDED'>
  reason: string
}

export type EntryRead =
  | { status: 'miss' }
  /** The sidecar itself is unusable (or its folder is a link): nothing of the entry is shown. */
  | { status: 'unreadable'; reason: string }
  | { status: 'read'; sidecar: Sidecar; images: EntryImage[] }

export interface SourceFile {
  /** Absolute path. */
  file: string
  text: string
}

export interface ProjectView {
  readonly root: string
  readonly cacheDir: string
  /** Every spec, as `ai-image` finds them (files, named specs, virtual imports in sources). */
  discover(): Promise<ViewSpec[]>
  /** A spec's fields as written; throws the build's AiImageError (SPEC_INVALID). */
  readRaw(ref: SpecRef): Promise<RawSpec>
  /** Validate with the build's rules and the project's `defaults`; throws the build's AiImageError. */
  validate(raw: RawSpec): ValidatedSpec
  /** The cache key (and lineage, see `history.ts`); throws the build's AiImageError for a bad input. */
  keyOf(spec: ValidatedSpec): Promise<KeyResult>
  /** An entry, each image verified on its own (through the cache's tiers). */
  readEntry(key: string): Promise<EntryRead>
  /** The checked sidecar of an entry (no image read), or undefined when it is missing or refused. */
  readSidecar(key: string): Promise<Sidecar | undefined>
  /** Keys of the cache's entries, in every tier (a listing: nothing verified). */
  entryKeys(): Promise<string[]>
  /** Why generating `spec` now would be refused (frozen, or the budget of the session), or undefined. */
  spendRefusal(spec: ValidatedSpec, images?: number): SpendRefusal | undefined
  /**
   * Obtain the image of a spec through the front door: a cache hit, or a generation (its lock, its budget,
   * shared with a load of the same key in flight). Resolves with its key; rejects with the build's error.
   */
  generate(ref: SpecRef): Promise<string>
  /** Generations running now, and those that failed lately, by key. */
  generations(): GenerationState[]
  /** Follow generations (start, progress, end, failure); returns the unsubscribe. */
  onGeneration(listener: (state: GenerationState) => void): () => void
  /** Follow streamed partial frames, by key; returns the unsubscribe. */
  onPartial(listener: (key: string, frame: PartialImage) => void): () => void
  estimate(spec: Pick<ValidatedSpec, 'model' | 'request'>, images?: number): Estimate
  /** Most candidates (`n`) a model takes. */
  maxCandidates(model: string): number
  /** Source files that may import specs (discovery's globs and limits; links out of the root are skipped). */
  sources(): Promise<SourceFile[]>
  /** Where the named spec `name` is written. */
  namedOrigin(name: string): SpecOrigin
  /** Root-relative label of an absolute path. */
  relative(file: string): string
  /** An error as one line for the page: the plugin's message without its prefix, free of any known secret. */
  describeError(error: unknown): string
  /** The spec-file rules of the project, for `spec-edit.ts`. */
  specFiles: SpecFileRules
}

/** What makes a file a spec file of this project, and how one is read and checked. */
export interface SpecFileRules {
  root: string
  cacheDir: string
  /** Matched by `include` / `exclude`. */
  isSpecFile(file: string): boolean
  /** Globs discovery never searches (node_modules, .git, dist, the cache, build outputs). */
  ignoredGlobs(): Promise<string[]>
  maxBytes: number
  /** Spec fields in the order of the field table: where a new field goes among those present. */
  fieldOrder: readonly string[]
  /** The build's JSON reading: an AiImageError with line and column, or the fields. */
  parse(text: string, label: string): Record<string, unknown>
  /** The build's validation of a spec file holding `fields` (inputs resolved from its folder). */
  validate(file: string, fields: Record<string, unknown>): ValidatedSpec
  /** The bytes of a regular file whose real path is inside the root, or why not. */
  readInsideRoot(file: string): Promise<{ ok: true; data: Buffer } | { ok: false; reason: string }>
}

/** Source files that may import specs (discovery's glob). */
export const SOURCE_FILES: string = SOURCE_GLOB

/** Names of the project's config file (`ai-image.config.*`), in the order they are looked for. */
export const CONFIG_FILES: readonly string[] = CONFIG_FILE_NAMES

/**
 * A view of the project in `root` as the command line opens it (its config file, no inline options), for
 * reading only: it is frozen, so nothing it could be asked would generate. `close` releases it.
 */
export function openProjectView(root: string, env: Env, sink: LogSink): { view: ProjectView; options: { isSpecFile(file: string): boolean; cacheDir: string }; close(): Promise<void> } {
  const config = loadConfigFile(root)
  const service = new ImageService({ ...config.options, frozen: true }, { root, env, sink })
  return { view: projectView(service), options: { isSpecFile: service.options.isSpecFile, cacheDir: service.options.cacheDir }, close: () => service.close() }
}

/** A view of the project an ImageService (the plugin's, or the command's) was opened on. */
export function projectView(service: ImageService): ProjectView {
  const options = service.options
  const { root, cacheDir } = options
  const config = loadConfigFileQuietly(root)
  const validate = (raw: RawSpec) =>
    validateSpec(raw, { root, defaults: options.defaults, warn: (message) => service.log.warnOnce(message) })

  const keyOf = async (spec: ValidatedSpec, chain: readonly string[] = []): Promise<KeyResult> => {
    try {
      const prepared: PreparedSpec = await service.prepare(spec, chain, async (upstream, here) => {
        const found = await keyOf(upstream, here)
        if (!found.ok) throw new UpstreamPending(found.upstream)
        const hit = await service.inspectEntry(found.key)
        if (hit.status !== 'hit') throw new UpstreamPending(upstream.label)
        return hit.entry.images[upstream.pick] ?? hit.entry.images[0]!
      })
      return { ok: true, key: prepared.key, lineage: lineageOf(prepared.material) }
    } catch (error) {
      if (error instanceof UpstreamPending) return { ok: false, upstream: error.upstream }
      throw error
    }
  }

  const specFiles: SpecFileRules = {
    root,
    cacheDir,
    isSpecFile: (file) => options.isSpecFile(file),
    ignoredGlobs: () => discoveryIgnores(options),
    maxBytes: SPEC_FILE_MAX_BYTES,
    fieldOrder: Object.keys(SPEC_FIELDS),
    parse: parseSpecJson,
    validate: (file, fields) => validate({ source: { kind: 'file', file }, label: relativeLabel(root, file), dir: path.dirname(file), fields }),
    async readInsideRoot(file) {
      const read = await readFileInsideRoot(file, root, SPEC_FILE_MAX_BYTES)
      return read.ok ? { ok: true, data: read.data } : { ok: false, reason: read.reason }
    },
  }

  return {
    root,
    cacheDir,
    specFiles,
    discover: () => service.discover(),
    readRaw: (ref) => service.readSpec(ref),
    validate,
    keyOf: (spec) => keyOf(spec),
    async readEntry(key) {
      const look = await service.browseEntry(key)
      return look.status === 'corrupt' ? { status: 'unreadable', reason: look.reason } : look
    },
    async readSidecar(key) {
      const look = await service.entrySidecar(key)
      return look.status === 'ok' ? look.sidecar : undefined
    },
    entryKeys: () => service.cacheKeys(),
    spendRefusal(spec, images) {
      const reason = service.spendRefusal(spec, images)
      if (reason === undefined) return undefined
      return { code: options.frozen ? 'CACHE_MISS_FROZEN' : 'BUDGET_EXCEEDED', reason }
    },
    async generate(ref) {
      return (await service.resolve(await service.loadSpec(ref))).key
    },
    generations: () => service.generations(),
    onGeneration(listener) {
      service.events.on('generation', listener)
      return () => void service.events.off('generation', listener)
    },
    onPartial(listener) {
      service.events.on('partial', listener)
      return () => void service.events.off('partial', listener)
    },
    estimate(spec, images) {
      const estimate = service.estimate(spec, images)
      return { images: estimate.images, usd: estimate.usd ?? null, basis: estimate.basis }
    },
    maxCandidates: (model) => modelCapabilities(model)?.maxN ?? GENERIC_LIMITS.maxN,
    async sources() {
      const ignore = await discoveryIgnores(options)
      const files = await fg(SOURCE_GLOB, { ...WALK, cwd: root, ignore, absolute: true })
      const sources: SourceFile[] = []
      for (const file of files.sort()) {
        const read = await readFileInsideRoot(file, root, SOURCE_MAX_BYTES)
        if (read.ok) sources.push({ file, text: read.data.toString('utf8') })
      }
      return sources
    },
    namedOrigin(name) {
      const inFile = config.file !== undefined && hasOwn(config.images, name)
      return { kind: 'option', name, ...(inFile ? { file: relativeLabel(root, config.file!) } : {}) }
    },
    relative: (file) => relativeLabel(root, file),
    describeError(error) {
      const message = error instanceof Error ? error.message : String(error)
      return redactSecrets(message).replace(/^\[ai-image\] /, '')
    },
  }
}

/**
 * What an entry asks for, but for `seed` and `n`: entries of one lineage are generations of one request
 * ("another one", "more candidates"), which the gallery lists as earlier generations of a spec.
 */
export function lineageOf(material: { endpoint: string; request: Readonly<Record<string, string | number>>; inputs: readonly string[]; mask: string | null }): string {
  const { n: _n, ...request } = material.request
  return JSON.stringify([material.endpoint, Object.entries(request).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), material.inputs, material.mask])
}

class UpstreamPending extends Error {
  constructor(readonly upstream: string) {
    super(`waits for ${upstream}, which has no cached image yet`)
  }
}

function hasOwn(object: unknown, key: string): boolean {
  return typeof object === 'object' && object !== null && Object.prototype.hasOwnProperty.call(object, key)
}

/** The config file's name and named specs; a config that does not load leaves the origin unknown, never fails the view. */
function loadConfigFileQuietly(root: string): { file?: string; images?: unknown } {
  try {
    const loaded = loadConfigFile(root)
    return { ...(loaded.file ? { file: loaded.file } : {}), images: loaded.options.images }
  } catch {
    return {}
  }
}
