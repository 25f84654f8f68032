/**
 * The suffix that makes a file a spec, spelled here and nowhere else in `src/`: matching, globs, bundler
 * filters and messages are all built from it.
 */
import path from 'node:path'

export const SPEC_SUFFIX = '.imgprompt.json'

/** `SPEC_SUFFIX` as regular-expression source (dots escaped), for filters such as esbuild's (Go syntax). */
export const SPEC_SUFFIX_SOURCE = SPEC_SUFFIX.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The default `include` glob: every spec file under the root. */
export const SPEC_GLOB = `**/*${SPEC_SUFFIX}`

/** Whether a path names a spec file (an input image of that name is a chain). */
export function isSpecPath(file: string): boolean {
  return file.endsWith(SPEC_SUFFIX)
}

/** `hero` for `src/hero.imgprompt.json`; the base name of any other file. */
export function specStem(file: string): string {
  const base = path.basename(file)
  return isSpecPath(base) ? base.slice(0, -SPEC_SUFFIX.length) : base
}
