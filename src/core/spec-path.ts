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

/**
 * The TypeScript declaration file beside a spec (`hero` + this suffix, next to the spec file): with
 * `allowArbitraryExtensions`, TypeScript types an import of the spec by it, before the JSON content.
 */
export const SPEC_DECLARATION_SUFFIX = SPEC_SUFFIX.replace(/\.json$/, '.d.json.ts')

/** The declaration file of a spec file (same folder, same stem). */
export function specDeclarationPath(specFile: string): string {
  return `${specFile.slice(0, -SPEC_SUFFIX.length)}${SPEC_DECLARATION_SUFFIX}`
}

/** The spec file a declaration file belongs to; undefined for any other file. */
export function specOfDeclaration(file: string): string | undefined {
  return file.endsWith(SPEC_DECLARATION_SUFFIX) ? `${file.slice(0, -SPEC_DECLARATION_SUFFIX.length)}${SPEC_SUFFIX}` : undefined
}
