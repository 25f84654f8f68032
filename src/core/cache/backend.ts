/**
 * The seam of the cache: what a cache backend offers, whatever it stores entries in (the committed folder,
 * `local.ts`; an object store, a remote tier), and the shapes its reads give. Nothing outside `cache/` knows
 * where a backend keeps an entry, how it tells a file unchanged, or how it locks a key: a read gives checked
 * values, and freshness is an opaque token that callers only compare.
 */
import type { Sidecar, SidecarImage } from './entry.js'

/**
 * The state of one stored image as its backend sees it now (the committed folder: the file's stamp). Two
 * equal tokens mean the image is as it was when the first was taken: if its content was verified then, it
 * still holds. Opaque to callers, who store and compare tokens and nothing else.
 */
export type FreshnessToken = string

export interface CachedImage extends SidecarImage {
  data: Buffer
  /** The image's token when these bytes were read and verified (`FreshnessToken`). */
  token?: FreshnessToken
}

export interface CacheEntry {
  key: string
  sidecar: Sidecar
  images: CachedImage[]
}

export type Inspection =
  | { status: 'hit'; entry: CacheEntry }
  | { status: 'miss' }
  | { status: 'corrupt'; reason: string }

/** A cheap look at an entry: its checked sidecar, and the token of each image (none read or hashed). */
export interface WarmEntry {
  sidecar: Sidecar
  /** One per image of the sidecar, in order. */
  tokens: FreshnessToken[]
}

/** The checked sidecar of an entry alone (no image read), or why there is none. */
export type SidecarLook = { status: 'ok'; sidecar: Sidecar } | { status: 'miss' } | { status: 'corrupt'; reason: string }

/** One image of an entry looked at on its own: its verified bytes, or why not (`missing`: no file at all). */
export type ImageLook = { record: SidecarImage; data: Buffer } | { record: SidecarImage; problem: string; missing: boolean }

/**
 * An entry looked at image by image (the gallery): the checked sidecar and each image verified on its own, so
 * one broken or absent image does not hide the others. `inspect` is the all-or-nothing read builds use.
 */
export type EntryLook = { status: 'miss' } | { status: 'corrupt'; reason: string } | { status: 'read'; sidecar: Sidecar; images: ImageLook[] }

/** A complete entry to store: the sidecar and the bytes of each of its images, in order. */
export interface NewEntry {
  sidecar: Sidecar
  images: readonly Uint8Array[]
}

/** Waits between looks at a key whose lock another process holds: from `min`, doubling, up to `max` (ms). */
export const LOCK_POLL_MS = { min: 50, max: 500 } as const

export interface HeldLock {
  release(): Promise<void>
}

/** A lock attempt: held, or refused because `holder` (for messages: `pid 123`) holds it. */
export interface LockAttempt {
  lock?: HeldLock
  holder?: string
}

export interface CacheBackend {
  /** Where it keeps entries, for messages (a folder; a URL without secrets). */
  readonly name: string
  /**
   * Read and verify an entry: every sidecar field, the request against the key, and each image's bytes.
   * Anything wrong is `corrupt` with a reason naming the file at fault, never a crash or a raw error.
   */
  inspect(key: string): Promise<Inspection>
  /**
   * The checked sidecar of an entry whose images are all present, with their tokens, without reading or
   * hashing them (the warm path); undefined otherwise. Backends without a cheap look leave it out.
   */
  completeSidecar?(key: string): Promise<WarmEntry | undefined>
  /**
   * The checked sidecar of an entry, no image read: what a listing of many entries reads (the gallery's
   * earlier generations). Backends without a cheap one leave it out, and listings pass over their entries.
   */
  readSidecar?(key: string): Promise<SidecarLook>
  /** Store a complete entry; `exists` when the backend already has a valid one (it is not replaced). */
  write(entry: NewEntry): Promise<'written' | 'exists'>
  /** Remove an entry; false when it could not be removed safely (and was left alone). */
  remove(key: string): Promise<boolean>
  /** Keys of the entries it holds (sidecars present; not verified). */
  keys(): Promise<string[]>
  /** Lock a key across processes (and, for a shared backend, machines) while generating it. */
  tryLock(key: string): Promise<LockAttempt>
}
