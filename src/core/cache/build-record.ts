/**
 * Which cache entries the builds of a project use, kept beside the entries so that `ai-image prune`, on
 * any machine, never removes one of them: a build knows specs the command cannot see (named specs and
 * `defaults` given inline to a bundler's plugin, which change keys; imports discovery does not follow).
 *
 *   <cacheDir>/builds/<bundler>[.<environment>].<output folder>.txt
 *
 * One small text file per kind of build (bundler, Vite environment, output folder), committed with the
 * cache: a header of `# field: value` lines, then the keys the build used, one per line, sorted. It is
 * written by a build that succeeded, only when its content changes (so it causes no churn in git), and
 * a colleague's prune on another machine reads the same file. Its keys only ever keep entries; a record
 * that cannot be read stops prune rather than letting it guess.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { showValue } from '../errors.js'
import { ensureCacheFolder, writeFailure } from './cache-folder.js'
import { isKey, type Checked } from './entry.js'
import { describeFileProblem, readRegularFile, safeFolder } from './safe-fs.js'
import { atomicWrite } from './store.js'

export const BUILDS_DIR = 'builds'
const EXTENSION = '.txt'
/** Room for about 200,000 keys: far more than any project has images. */
const RECORD_MAX_BYTES = 16 * 1024 * 1024
const NAME_PART = /^[A-Za-z0-9_-]{1,64}$/
const FIELD = /^# (bundler|environment|output): (.*)$/

export interface BuildIdentity {
  /** unplugin's framework name: vite, rollup, rolldown, webpack, rspack, esbuild. */
  bundler: string
  /** Vite's environment (`client`, `ssr`, …); none for other bundlers. */
  environment?: string
  /** The build's output folder, relative to the project root, with `/` separators. */
  output: string
}

export interface BuildRecord extends BuildIdentity {
  /** Path of the record file. */
  file: string
  keys: string[]
}

export function recordFileName(identity: BuildIdentity): string {
  const parts = [identity.bundler, ...(identity.environment ? [identity.environment] : []), encodeURIComponent(identity.output)]
  return `${parts.join('.')}${EXTENSION}`
}

/** The record's text: deterministic for a given identity and set of keys. */
export function renderRecord(identity: BuildIdentity, keys: Iterable<string>): string {
  const sorted = [...new Set(keys)].sort()
  return [
    '# unplugin-ai-image: the cache entries one build of this project uses; `ai-image prune` keeps them.',
    '# Rewritten by that build when the set changes: commit it with the cache.',
    `# bundler: ${identity.bundler}`,
    ...(identity.environment ? [`# environment: ${identity.environment}`] : []),
    `# output: ${identity.output}`,
    ...sorted,
    '',
  ].join('\n')
}

/** Parse a record's text (`file` names it in reasons). */
export function parseRecord(text: string, file: string): Checked<BuildRecord> {
  const fields: Partial<Record<'bundler' | 'environment' | 'output', string>> = {}
  const keys: string[] = []
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line === '') continue
    const field = FIELD.exec(line)
    if (field) fields[field[1] as 'bundler'] = field[2]!
    else if (line.startsWith('#')) continue
    else if (isKey(line)) keys.push(line)
    else return { ok: false, reason: `${file}, line ${i + 1}: ${showValue(line)} is not a cache key (64 hex digits)` }
  }
  const { bundler, environment, output } = fields
  if (!bundler || !NAME_PART.test(bundler) || (environment !== undefined && !NAME_PART.test(environment)) || output === undefined || output.includes('\0')) {
    return { ok: false, reason: `${file}: the "# bundler:", "# environment:" and "# output:" lines are missing or malformed` }
  }
  return { ok: true, value: { bundler, ...(environment ? { environment } : {}), output, file, keys } }
}

/**
 * Write the record of one build. `replace`: the build saw every module, its keys are the whole set;
 * `merge`: a rebuild in watch mode, which loads only what changed, adds its keys. A build with no key
 * creates no record (a placeholder-only build writes nothing to the cache). Returns whether the file changed.
 */
export async function writeBuildRecord(cacheDir: string, identity: BuildIdentity, keys: ReadonlySet<string>, mode: 'replace' | 'merge'): Promise<boolean> {
  const file = path.join(cacheDir, BUILDS_DIR, recordFileName(identity))
  // A link or a file in place of `builds/` is never read or written through (this throws the error naming it).
  const folder = await safeFolder(cacheDir, BUILDS_DIR)
  if (!folder.ok && folder.state !== 'missing') await ensureCacheFolder(cacheDir, BUILDS_DIR)
  const existing = await readRegularFile(file, { maxBytes: RECORD_MAX_BYTES })
  const before = existing.ok ? existing.data.toString('utf8') : undefined
  if (before === undefined && keys.size === 0) return false
  const previous = before === undefined ? undefined : parseRecord(before, file)
  const all = mode === 'merge' && previous?.ok ? [...previous.value.keys, ...keys] : [...keys]
  const text = renderRecord(identity, all)
  if (text === before) return false
  await ensureCacheFolder(cacheDir, BUILDS_DIR)
  await atomicWrite(file, text).catch((error: unknown) => {
    throw writeFailure(error, path.dirname(file))
  })
  return true
}

/** Every record of the cache folder, and what could not be read (a problem stops prune). */
export async function readBuildRecords(cacheDir: string): Promise<{ records: BuildRecord[]; problems: string[] }> {
  const records: BuildRecord[] = []
  const problems: string[] = []
  const folder = await safeFolder(cacheDir, BUILDS_DIR).catch(() => undefined)
  if (!folder) return { records, problems: [`${path.join(cacheDir, BUILDS_DIR)} cannot be read`] }
  if (!folder.ok) {
    if (folder.state !== 'missing') problems.push(`${folder.at} is ${folder.state === 'symlink' ? 'a symbolic link' : 'not a folder inside the cache'}`)
    return { records, problems }
  }
  for (const entry of (await readdir(folder.dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.name.endsWith(EXTENSION)) continue
    const file = path.join(folder.dir, entry.name)
    const read = await readRegularFile(file, { maxBytes: RECORD_MAX_BYTES })
    if (!read.ok) {
      problems.push(`${file} ${describeFileProblem(read.problem)}`)
      continue
    }
    const parsed = parseRecord(read.data.toString('utf8'), file)
    if (parsed.ok) records.push(parsed.value)
    else problems.push(parsed.reason)
  }
  return { records, problems }
}

/** A build's output folder as a record names it: relative to the root, `/`-separated. */
export function outputLabel(root: string, outputDir: string): string {
  const relative = path.relative(root, path.resolve(root, outputDir))
  return relative === '' ? '.' : relative.split(path.sep).join('/')
}
