/**
 * The spec files of a project, and the folders a search of it leaves out. One answer for the check every
 * build makes at its start, the dev server, and the `ai-image` command (`discover.ts`), so they all see the
 * same specs.
 *
 * Left out: `node_modules`, `.git` and `dist` folders at any depth, the cache folder, and the output folders
 * the project's builds recorded (`cache/build-record.ts`). Nothing else is: a folder named `build/` or
 * `coverage/` may hold sources. Linked folders are not entered (a link to `/` would send the search over the
 * whole disk); a linked spec file is found, and its reader refuses it when it leads out of the root.
 *
 * With the default `include` and `exclude`, the project is walked here, synchronously: a warm build checks
 * every spec at its start, and loading fast-glob (with micromatch and picomatch) costs more than the walk of
 * a project's source folders. The project's own globs go to fast-glob, loaded then.
 */
import { readdirSync, type Dirent } from 'node:fs'
import path from 'node:path'
import { readBuildRecords } from '../cache/build-record.js'
import { DEFAULTS, type ResolvedOptions } from '../options.js'
import { SPEC_DECLARATION_SUFFIX, isSpecPath, specOfDeclaration } from '../spec-path.js'
import { relativeLabel } from '../spec/source.js'

/** Folder names never searched, at any depth: dependencies, git, the default output folder of Vite, webpack and Rspack. */
export const ALWAYS_SKIPPED = ['node_modules', '.git', 'dist'] as const

/** Absolute paths of the folders a search of the project leaves out besides `ALWAYS_SKIPPED`: the cache, recorded outputs. */
export async function skippedFolders(options: ResolvedOptions): Promise<string[]> {
  return [options.cacheDir, ...(await recordedOutputs(options))]
}

export interface ProjectFiles {
  /** Spec files that `include`/`exclude` select (absolute paths, sorted). */
  specs: string[]
  /** Declaration files of specs (`service/spec-types.ts`), whatever their spec (absolute paths, sorted). */
  declarations: string[]
}

/** Every spec file of the project (absolute paths, sorted) that `include`/`exclude` select. */
export async function findSpecFiles(options: ResolvedOptions): Promise<string[]> {
  return (await findProjectFiles(options)).specs
}

/** The spec files of the project and the declaration files beside specs, in one search. */
export async function findProjectFiles(options: ResolvedOptions): Promise<ProjectFiles> {
  const skipped = await skippedFolders(options)
  const found = usesDefaultGlobs(options) ? walkForSpecs(options.root, new Set(skipped)) : await globSpecs(options, skipped)
  return { specs: found.specs.filter((file) => options.isSpecFile(file)).sort(), declarations: found.declarations.sort() }
}

function usesDefaultGlobs(options: ResolvedOptions): boolean {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((glob, i) => glob === b[i])
  return same(options.includeGlobs, DEFAULTS.include) && same(options.excludeGlobs, DEFAULTS.exclude)
}

/** Files named like specs (and their declarations) below `root`, folders of `skipped` (absolute) and `ALWAYS_SKIPPED` left out. */
function walkForSpecs(root: string, skipped: ReadonlySet<string>): ProjectFiles {
  const found: ProjectFiles = { specs: [], declarations: [] }
  const folders = [root]
  const never = new Set<string>(ALWAYS_SKIPPED)
  while (folders.length > 0) {
    const folder = folders.pop()!
    let entries: Dirent[]
    try {
      entries = readdirSync(folder, { withFileTypes: true })
    } catch {
      // A folder that cannot be listed (removed meanwhile, no permission) holds no spec we could read.
      continue
    }
    for (const entry of entries) {
      const full = path.join(folder, entry.name)
      if (entry.isDirectory()) {
        if (!never.has(entry.name) && !skipped.has(full)) folders.push(full)
      } else if (isSpecPath(entry.name)) {
        // A file, or a link, FIFO or device of that name: the spec reader refuses what is no regular file inside the root.
        found.specs.push(full)
      } else if (specOfDeclaration(entry.name) !== undefined) {
        found.declarations.push(full)
      }
    }
  }
  return found
}

async function globSpecs(options: ResolvedOptions, skipped: readonly string[]): Promise<ProjectFiles> {
  const { default: fg } = await import('fast-glob')
  const ignore = [...ALWAYS_SKIPPED.map((name) => `**/${name}/**`), ...skipped.map((folder) => `${fg.escapePath(relativeLabel(options.root, folder))}/**`)]
  // As the walk: linked folders are not entered, and a linked spec file is found (and judged by its reader).
  const settings = { cwd: options.root, absolute: true, dot: true, followSymbolicLinks: false, onlyFiles: false, markDirectories: true }
  const [specs, declarations] = await Promise.all([
    fg([...options.includeGlobs], { ...settings, ignore: [...ignore, ...options.excludeGlobs] }),
    fg(`**/*${SPEC_DECLARATION_SUFFIX}`, { ...settings, ignore }),
  ])
  const files = (entries: string[]) => entries.filter((entry) => !entry.endsWith('/'))
  return { specs: files(specs), declarations: files(declarations) }
}

/** The output folders the project's builds recorded, those inside the root (never the root itself), as absolute paths. */
async function recordedOutputs(options: ResolvedOptions): Promise<string[]> {
  const { records } = await readBuildRecords(options.cacheDir).catch(() => ({ records: [] }))
  const folders = new Set<string>()
  for (const { output } of records) {
    const normalized = path.posix.normalize(output)
    if (normalized === '.' || normalized.startsWith('../') || normalized === '..' || path.posix.isAbsolute(normalized)) continue
    folders.add(path.join(options.root, ...normalized.split('/')))
  }
  return [...folders]
}
