/**
 * TypeScript declaration files beside spec files, so that `import hero, { width } from './hero.<spec>'`
 * type-checks in a TypeScript project whose `resolveJsonModule` is on (the default with
 * `"moduleResolution": "bundler"`), ordinary JSON imports staying typed as their content. TypeScript 5.0+
 * with `allowArbitraryExtensions` resolves an import of `x.json` to a declaration file `x.d.json.ts` beside
 * it before the JSON file itself. Each spec gets one, with the same text for every spec (the exports of an
 * image module), written by the plugins (build start, dev server) and by `ai-image types`; projects commit
 * them, so `tsc` passes on a fresh clone before any build.
 *
 * Written only where the project has a `tsconfig.json` in its root (a JavaScript project gets no files it
 * does not read), only when missing or out of date (no churn in git, no rebuild loops in watch mode), through
 * a temp file renamed into place (a committed link of that name is replaced, never written through); a file
 * of that name that is not ours, a link or no regular file is left alone and reported. A declaration whose
 * spec is gone is removed when it is ours.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { specDeclarationPath, specOfDeclaration } from '../spec-path.js'

/** First line of every declaration file this plugin writes: how it tells its own files from the project's. */
const MARKER = '// unplugin-ai-image:'

/** The text of every declaration file: the exports of an image module (as in `client.d.ts`). */
export const SPEC_DECLARATION = `${MARKER} the exports of this spec file's import, the same for every spec. Written by the plugin; commit it.
declare const src: string
/** URL of the emitted (picked) image. */
export default src
/** Pixel width of the picked image. */
export declare const width: number
/** Pixel height of the picked image. */
export declare const height: number
/** Alt text (the spec's \`alt\`, else its prompt). */
export declare const alt: string
/** \`"url 640w, url 1280w"\` when \`emit.widths\` is set, else \`""\`. */
export declare const srcset: string
/** Data URL of a tiny preview when \`emit.placeholder\` is set, else \`undefined\`. */
export declare const placeholder: string | undefined
/** Every candidate (n > 1). */
export declare const images: ReadonlyArray<{ src: string; width: number; height: number }>
/** The cache key of the request. */
export declare const key: string
`

export interface DeclarationReport {
  /** Declaration files written (new or out of date), absolute paths. */
  written: string[]
  /** Declarations of specs that are gone, removed. */
  removed: string[]
  /** Declarations already up to date. */
  current: number
  /** Files of a declaration's name the plugin could not (or must not) write: a link, no regular file, a read-only folder. */
  refused: Array<{ file: string; reason: string }>
  /** Declaration files of the project's own (not written by the plugin): left as they are. */
  foreign: string[]
}

/** Whether the project is a TypeScript project: a `tsconfig.json` in its root. */
export function wantsDeclarations(root: string): boolean {
  return existsSync(path.join(root, 'tsconfig.json'))
}

/**
 * Bring the declaration file of every spec of `specs` up to date, and remove those of `declarations` (found
 * in the project) whose spec file is gone. `dryRun`: change nothing, report what would change.
 */
export function syncDeclarations(specs: readonly string[], declarations: readonly string[] = [], options: { dryRun?: boolean } = {}): DeclarationReport {
  const report: DeclarationReport = { written: [], removed: [], current: 0, refused: [], foreign: [] }
  for (const spec of specs) {
    const file = specDeclarationPath(spec)
    const state = stateOf(file)
    if (state.kind === 'current') report.current++
    else if (state.kind === 'refused') report.refused.push({ file, reason: state.reason })
    else if (state.kind === 'foreign') report.foreign.push(file)
    else if (options.dryRun) report.written.push(file)
    else {
      try {
        writeAtomically(file, SPEC_DECLARATION)
        report.written.push(file)
      } catch (error) {
        // A read-only checkout: the build goes on; the report says which file could not be written.
        report.refused.push({ file, reason: `cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` })
      }
    }
  }
  for (const file of declarations) {
    const spec = specOfDeclaration(file)
    if (spec === undefined || existsSync(spec)) continue
    const state = stateOf(file)
    if (state.kind !== 'current' && state.kind !== 'outdated') continue
    try {
      if (!options.dryRun) unlinkSync(file)
      report.removed.push(file)
    } catch (error) {
      report.refused.push({ file, reason: `cannot be removed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` })
    }
  }
  return report
}

type DeclarationState = { kind: 'missing' | 'current' | 'outdated' | 'foreign' } | { kind: 'refused'; reason: string }

function stateOf(file: string): DeclarationState {
  let fd: number
  try {
    // No link followed, no FIFO waited on: the file is checked on the descriptor that is read. (Without
    // O_NOFOLLOW, on Windows, an lstat refuses the link first.)
    if (constants.O_NOFOLLOW === undefined && lstatSync(file).isSymbolicLink()) return { kind: 'refused', reason: 'is a symbolic link' }
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { kind: 'missing' }
    if (code === 'ELOOP' || code === 'EMLINK') return { kind: 'refused', reason: 'is a symbolic link' }
    return { kind: 'refused', reason: `cannot be read (${code ?? 'error'})` }
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return { kind: 'refused', reason: 'is not a regular file' }
    // Ours are a few hundred bytes; a larger file of that name is the project's own.
    if (stats.size > 64 * 1024) return { kind: 'foreign' }
    const text = readFileSync(fd, 'utf8')
    if (text === SPEC_DECLARATION) return { kind: 'current' }
    return text.startsWith(MARKER) ? { kind: 'outdated' } : { kind: 'foreign' }
  } catch (error) {
    return { kind: 'refused', reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` }
  } finally {
    closeSync(fd)
  }
}

/** A temp file of a fresh name (`wx`: never through a link), renamed over the target (which replaces a link, never follows it). */
function writeAtomically(file: string, text: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
  try {
    writeFileSync(temp, text, { flag: 'wx' })
    renameSync(temp, file)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}
