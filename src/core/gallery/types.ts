/**
 * The gallery's view of a project: one plain, JSON-serializable object that the page is rendered from,
 * in the dev server (`/__ai-image/`) and in the static contact sheet (`ai-image gallery --out`). Every
 * string in it may come from a user or from the committed cache (prompts, revised prompts, file names,
 * errors): the page escapes all of it, and nothing here is trusted as markup.
 *
 * Paths are relative to the project root with `/` separators: a sheet is an artifact others open, so it
 * never carries an absolute path of the machine that made it.
 */

export const GALLERY_STATE_VERSION = 1

/** `dev`: the dev server's page, with actions. `sheet`: the static contact sheet, read-only. */
export type GalleryMode = 'dev' | 'sheet'

export interface GalleryState {
  version: typeof GALLERY_STATE_VERSION
  mode: GalleryMode
  /** The project folder's name (never its absolute path). */
  project: string
  /** ISO time the state was made. */
  generatedAt: string
  specs: SpecCard[]
  summary: GallerySummary
  /** Set for `--since <ref>`: the commit the old side was read from. */
  since?: { ref: string; commit: string }
}

export interface GallerySummary {
  specs: number
  /** Cards by status. */
  byStatus: Partial<Record<SpecStatus, number>>
  /** Images shown, candidates of every spec. */
  images: number
}

export type SpecKind = 'file' | 'named' | 'query'

/**
 * - `cached`: the cache has the entry and every candidate passed verification.
 * - `sidecar-only`: the entry's sidecar is there, its images are not (committed without images, as with
 *   `remote.commitImages: false`): the facts are shown, the pixels are not.
 * - `corrupt`: an entry is there but fails verification (the reason says why); a build treats it as a miss.
 * - `missing`: no entry; a build generates it (or fails in CI).
 * - `invalid`: the spec itself is invalid (the error says which field).
 * - `pending`: the key cannot be known yet: a chained input is itself missing.
 * - `generating`, `failed`: live states of the dev server.
 * - `removed`: `--since` only: the spec existed at the ref and no longer does.
 */
export type SpecStatus = 'cached' | 'sidecar-only' | 'corrupt' | 'missing' | 'invalid' | 'pending' | 'generating' | 'failed' | 'removed'

/** Where a spec is written. */
export type SpecOrigin =
  | { kind: 'file'; file: string }
  /** An entry of the plugin option `images`: in `ai-image.config.*` (`file`), or given inline to the bundler plugin. */
  | { kind: 'option'; name: string; file?: string }
  /** A `virtual:ai-image?…` import, written in these source files. */
  | { kind: 'import'; files: string[] }

export interface SpecFacts {
  endpoint: 'generations' | 'edits' | 'variations'
  prompt: string | null
  model: string
  size: string | null
  quality: string | null
  n: number
  seed: string | null
  background: string | null
  outputFormat: string | null
  /** Input images and mask, relative to the root (edits, variations). */
  inputs: string[]
  mask: string | null
  alt: string
  /** Whether the model is in the capability table (else it passed with generic checks only). */
  knownModel: boolean
  /** Most candidates the model takes (`n`). */
  maxN: number
}

export interface Candidate {
  index: number
  width: number
  height: number
  mime: string
  bytes: number
  sha256: string
  /** Where the page loads it: a dev server URL, or a path relative to the sheet. Null when the file is not there. */
  src: string | null
  revisedPrompt: string | null
}

/** What an entry's sidecar records, beyond its candidates. */
export interface EntryFacts {
  /** Unix seconds, from the API answer. */
  created: number
  provider: string
  deployment: string | null
  revisedPrompt: string | null
  /** Token counts the API reported (`usage`), numbers only. */
  usage: Record<string, number> | null
  /** USD: recorded by the sidecar (`basis` as recorded), or estimated from the price table (`estimate`). */
  cost: Cost | null
}

export interface Cost {
  usd: number
  basis: 'usage' | 'estimate'
}

export interface Estimate {
  /** Images that would be requested. */
  images: number
  /** Estimated USD; null when the model has no price (set the `prices` option). */
  usd: number | null
  /** How the figure was reached, e.g. "gpt-image-1.5 medium 1024x1024, estimate". */
  basis: string
}

/** One state of a spec: what it asks for, its entry and its candidates. */
export interface SpecSnapshot {
  status: SpecStatus
  /** Why it is invalid, corrupt, pending or failed (already free of secrets). */
  error?: string
  key?: string
  spec?: SpecFacts
  entry?: EntryFacts
  candidates: Candidate[]
  /** The candidate the default export uses. */
  pick: number
}

/** An earlier generation of a spec still in the cache: the same request but for `seed` and `n`. */
export interface EarlierGeneration {
  key: string
  seed: string | null
  n: number
  created: number
  candidates: Candidate[]
  /** Whether every image of the entry is there and verified (only then can it be restored for free). */
  complete: boolean
}

export interface LiveProgress {
  /** Candidates done of `total`. */
  done: number
  total: number
  /** Latest partial preview per candidate (dev server URLs). */
  partials: Array<{ index: number; src: string }>
}

export interface SpecCard extends SpecSnapshot {
  /** `data-spec`: the path relative to the root, `virtual:ai-image/<name>`, or the query id. */
  label: string
  kind: SpecKind
  origin: SpecOrigin
  /** Spec files only: the gallery writes them. Named specs and virtual imports are read-only. */
  editable: boolean
  /** The spec file's own fields, as written (editable cards only), for the edit form. */
  fields?: Record<string, unknown>
  /** Source files that import it, relative to the root. */
  importers: string[]
  /** What each spending action would cost (editable cards in dev only). */
  estimates?: { another?: Estimate; more?: Estimate; generate?: Estimate }
  history: EarlierGeneration[]
  progress?: LiveProgress
  /** `--since` only. */
  since?: { change: 'added' | 'removed' | 'changed'; before?: SpecSnapshot }
}
