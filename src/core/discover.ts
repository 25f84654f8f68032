/**
 * Every spec of a project, found without a bundler: spec files matched by `include`/`exclude`, the named
 * specs of the `images` option, and `virtual:ai-image?…` imports written in source files. The CLI uses it
 * to generate ahead of a build, check a commit, and prune the cache; the service imports it on first use
 * (a build never needs it).
 *
 * Skipped: `node_modules`, `.git`, the cache folder, and the output of builds: `dist` (the default output
 * folder of Vite, webpack and Rspack) and every output folder a build of the project recorded
 * (`cache/build-record.ts`). Nothing else is: a folder named `build/` or `coverage/` may hold sources.
 */
import path from 'node:path'
import fg from 'fast-glob'
import { readBuildRecords } from './cache/build-record.js'
import { globMatcher, type ResolvedOptions } from './options.js'
import { readFileInsideRoot } from './read-inside-root.js'
import { VIRTUAL_PREFIX, relativeLabel, type SpecRef } from './spec/source.js'

export interface DiscoveredSpec {
  ref: SpecRef
  /** How messages name it: a root-relative path or the virtual id. */
  label: string
}

/** Source files that may import `virtual:ai-image?…` (and spec files: the gallery lists their importers). */
export const SOURCE_GLOB = '**/*.{js,jsx,ts,tsx,mjs,cjs,mts,cts,vue,svelte,astro,mdx,html}'
const ALWAYS_IGNORED = ['**/node_modules/**', '**/.git/**', '**/dist/**']
/**
 * How discovery walks a project: a link to a folder is never followed (a pull request can add `l -> .`, which
 * would list every spec forty times, or two, which make the walk exponential; or a link out of the project).
 */
export const WALK = { followSymbolicLinks: false } as const
/** `import … from '…'`, `export … from '…'`, `import '…'`, `import('…')`, `require('…')`: not any string that looks like one. */
const VIRTUAL_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'`](virtual:ai-image\?[^"'`\s]+)["'`]/g
/** Larger sources are bundles or data, not modules that import images; they are not read. */
export const SOURCE_MAX_BYTES = 16 * 1024 * 1024

export async function discoverSpecs(options: ResolvedOptions, filter: readonly string[] = []): Promise<DiscoveredSpec[]> {
  const { root } = options
  const ignore = await discoveryIgnores(options)
  const files = await fg([...options.includeGlobs], { ...WALK, cwd: root, ignore: [...ignore, ...options.excludeGlobs], absolute: true, dot: true })
  const specs: DiscoveredSpec[] = files
    .filter((file) => options.isSpecFile(file))
    .sort()
    .map((file) => ({ ref: { kind: 'file', file }, label: relativeLabel(root, file) }))

  // Globs on the command line narrow the run to those spec files.
  if (filter.length > 0) {
    const wanted = globMatcher(filter)
    return specs.filter((s) => wanted(s.label))
  }

  for (const name of Object.keys(options.images).sort()) {
    specs.push({ ref: { kind: 'named', name }, label: `${VIRTUAL_PREFIX}/${name}` })
  }
  const seen = new Set<string>()
  const sources = await fg(SOURCE_GLOB, { ...WALK, cwd: root, ignore, absolute: true })
  for (const source of sources.sort()) {
    // A source that links out of the project, is no regular file or is huge is not read (a pull request
    // can add any of them); it is none of the project's own modules.
    const read = await readFileInsideRoot(source, root, SOURCE_MAX_BYTES)
    if (!read.ok) continue
    const text = read.data.toString('utf8')
    for (const match of text.matchAll(VIRTUAL_IMPORT)) {
      const id = match[1]!
      const dir = path.dirname(source)
      // Relative input paths make the same query a different spec per folder.
      const identity = /[?&](image|mask)=/.test(id) ? `${dir}\0${id}` : id
      if (seen.has(identity)) continue
      seen.add(identity)
      specs.push({ ref: { kind: 'query', query: id.slice(VIRTUAL_PREFIX.length + 1), dir, id }, label: id })
    }
  }
  return specs
}

/** Globs (relative to the root) of what discovery never searches: dependencies, git, the cache, build outputs. */
export async function discoveryIgnores(options: ResolvedOptions): Promise<string[]> {
  return [...ALWAYS_IGNORED, `${relativeLabel(options.root, options.cacheDir)}/**`, ...(await recordedOutputs(options))]
}

/** Globs of the output folders the project's builds recorded, those inside the root (never the root itself). */
async function recordedOutputs(options: ResolvedOptions): Promise<string[]> {
  const { records } = await readBuildRecords(options.cacheDir).catch(() => ({ records: [] }))
  const globs = new Set<string>()
  for (const { output } of records) {
    const normalized = path.posix.normalize(output)
    if (normalized === '.' || normalized.startsWith('../') || normalized === '..' || path.posix.isAbsolute(normalized)) continue
    globs.add(`${fg.escapePath(normalized)}/**`)
  }
  return [...globs]
}
