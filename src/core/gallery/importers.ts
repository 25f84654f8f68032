/**
 * Which source files import which spec, found by reading the sources the way discovery does (the same
 * globs, size limit and refusal of links out of the root), without a bundler: `import … from '…'`,
 * `export … from '…'`, `import '…'`, `import('…')`, `require('…')`.
 *
 * A spec file is matched when the specifier resolves to it: relative (`./hero.imgprompt.json`) or
 * root-absolute (`/src/hero.imgprompt.json`, as Vite resolves it), with any query. Aliases (`@/…`) need the
 * bundler's resolver and are not followed here; the dev server knows them from its module graph.
 */
import path from 'node:path'
import type { SourceFile } from './project-view.js'

const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'`]([^"'`\s]+)["'`]/g
const VIRTUAL_NAMED = 'virtual:ai-image/'
const VIRTUAL_QUERY = 'virtual:ai-image?'

export interface ImportIndex {
  /** Root-relative importers of the spec file `file` (absolute). */
  ofFile(file: string): string[]
  /** Importers of the named spec `name`. */
  ofNamed(name: string): string[]
  /** Importers of the virtual query `id`; `dir` narrows to sources in that folder (queries with relative inputs). */
  ofQuery(id: string, dir?: string): string[]
}

export function indexImports(sources: readonly SourceFile[], root: string, relative: (file: string) => string): ImportIndex {
  const files = new Map<string, Set<string>>()
  const named = new Map<string, Set<string>>()
  const queries = new Map<string, Set<string>>()
  const add = (map: Map<string, Set<string>>, key: string, source: string) => {
    const set = map.get(key) ?? new Set<string>()
    set.add(source)
    map.set(key, set)
  }
  for (const { file: source, text } of sources) {
    for (const match of text.matchAll(IMPORT_SPECIFIER)) {
      const specifier = match[1]!
      if (specifier.startsWith(VIRTUAL_QUERY)) add(queries, specifier, source)
      else if (specifier.startsWith(VIRTUAL_NAMED)) add(named, decodeName(specifier.slice(VIRTUAL_NAMED.length)), source)
      else {
        const target = resolveSpecifier(specifier, source, root)
        if (target) add(files, target, source)
      }
    }
  }
  const list = (set: Set<string> | undefined, keep: (source: string) => boolean = () => true) =>
    [...(set ?? [])].filter(keep).map(relative).sort()
  return {
    ofFile: (file) => list(files.get(path.resolve(file))),
    ofNamed: (name) => list(named.get(name)),
    ofQuery: (id, dir) => list(queries.get(id), dir === undefined ? undefined : (source) => path.dirname(source) === dir),
  }
}

/** The file a relative or root-absolute specifier names (query and hash cut off); undefined for bare names and aliases. */
function resolveSpecifier(specifier: string, source: string, root: string): string | undefined {
  const bare = specifier.replace(/[?#].*$/, '')
  if (bare.startsWith('./') || bare.startsWith('../')) return path.resolve(path.dirname(source), bare)
  if (bare.startsWith('/') && !bare.startsWith('//')) return path.join(root, bare)
  return undefined
}

function decodeName(text: string): string {
  const bare = text.replace(/[?#].*$/, '')
  try {
    return decodeURIComponent(bare)
  } catch {
    return bare
  }
}
