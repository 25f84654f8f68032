/**
 * `ai-image gallery --since <ref>`: the specs whose images changed since a git commit, old and new side by
 * side: what a reviewer of a pull request needs.
 *
 * The old side is the project as it was at the ref, read by the same code as the new one: the files that
 * decide it (the config file and the modules and JSON files it may import, spec files, source files with
 * virtual imports, input images, and the cache's entries) are checked out of git into a temp folder through a temporary index (`git read-tree`,
 * `git checkout-index`: the user's index and work tree are never touched), and a frozen, read-only project
 * is opened there. So a spec resolves to the key it resolved to then, by the rules (defaults, chains,
 * inputs) in force then, and its entry is verified like any cache entry (a link, a bad hash or a sidecar
 * committed without images shows as such). The temp folder sits in `node_modules/.cache/unplugin-ai-image/`
 * when the project has `node_modules`, so a TypeScript config file at the ref still imports its packages.
 *
 * A spec changed when its status, key, candidates (their SHA-256) or pick differ; added when it exists now
 * only; removed when it existed at the ref only. git runs with argument lists, never a shell; the ref is
 * resolved with `rev-parse --verify --end-of-options <ref>^{commit}`.
 */
import { mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import picomatch from 'picomatch'
import { AiImageError } from '../errors.js'
import type { LogSink } from '../log.js'
import type { Env } from '../options.js'
import { git, GitError } from './git.js'
import { CONFIG_FILES, isEntryFilePath, openProjectView, SOURCE_FILES, type ProjectView } from './project-view.js'
import { buildGalleryState, type VerifiedImage } from './state.js'
import type { SpecCard, SpecSnapshot } from './types.js'

export interface SinceContext {
  env: Env
  sink: LogSink
}

export interface SinceResult {
  /** The commit the ref resolved to. */
  commit: string
  /** Changed, added and removed specs, each with `since`. */
  cards: SpecCard[]
  /** The entries the cards show, with the project view that reads each (now, or at the ref). */
  entries: Array<{ view: ProjectView; key: string }>
  /** Remove the temp folder. */
  close(): Promise<void>
}

const REF_MAX_LENGTH = 256

interface TreeEntry {
  mode: string
  /** Relative to the repository's top level. */
  path: string
}

export async function changedSince(
  view: ProjectView,
  options: SinceContext & { ref: string; imageSource(image: VerifiedImage): string | null },
): Promise<SinceResult> {
  const { ref } = options
  const usage = (problem: string) => new AiImageError('SPEC_INVALID', `--since ${printable(ref)}: ${problem}`, { file: 'ai-image gallery' })
  if (ref.length === 0 || ref.length > REF_MAX_LENGTH || /[\0-\x1f\x7f]/.test(ref)) throw usage('is not a git revision')

  const root = await realpath(view.root)
  const toplevel = await gitText(['rev-parse', '--show-toplevel'], root).catch(() => {
    throw usage(`the project (${path.basename(root)}) is not in a git repository`)
  })
  const top = await realpath(toplevel)
  const prefix = path.relative(top, root).split(path.sep).join('/')
  const commit = await gitText(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], root).catch(() => {
    throw usage('names no commit of this repository')
  })

  const tree = await listTree(commit, root)
  const temp = await mkdtemp(path.join(await tempBase(root), 'since-'))
  const treeDir = path.join(temp, 'tree')
  const projectDir = prefix ? path.join(treeDir, ...prefix.split('/')) : treeDir
  let closeOld: () => Promise<void> = async () => {}
  const close = async () => {
    await closeOld()
    await rm(temp, { recursive: true, force: true })
  }
  try {
    await mkdir(projectDir, { recursive: true })
    const checkout = checkoutInto(commit, root, temp, treeDir)
    const atRoot = (rel: string) => (prefix ? `${prefix}/${rel}` : rel)
    const fromRoot = (entry: TreeEntry) => (prefix ? (entry.path.startsWith(`${prefix}/`) ? entry.path.slice(prefix.length + 1) : undefined) : entry.path)

    // The config file first (it says which files are specs, and where the cache is), with what it may
    // import: source modules and JSON files (spec files among them), outside dependencies and build output.
    const isSource = picomatch(SOURCE_FILES, { dot: true })
    const configDependency = picomatch(['**/*.json', '**/*.json5'], { dot: true })
    const skipped = picomatch(['**/node_modules/**', '**/.git/**', '**/dist/**'], { dot: true })
    const first: string[] = CONFIG_FILES.map(atRoot).filter((p) => tree.has(p))
    for (const entry of tree.values()) {
      const rel = fromRoot(entry)
      if (rel !== undefined && !skipped(rel) && (isSource(rel) || configDependency(rel))) first.push(entry.path)
    }
    await checkout(first)
    let opened: ReturnType<typeof openProjectView>
    try {
      opened = openProjectView(projectDir, options.env, options.sink)
    } catch (error) {
      throw usage(`the project's config file at that commit cannot be read: ${error instanceof Error ? error.message : String(error)}`)
    }
    closeOld = opened.close
    const old = opened.view
    const ignored = picomatch(await old.specFiles.ignoredGlobs(), { dot: true })
    const cacheRel = path.relative(projectDir, opened.options.cacheDir).split(path.sep).join('/')
    const wanted: string[] = []
    for (const entry of tree.values()) {
      const rel = fromRoot(entry)
      if (rel === undefined) continue
      if (!cacheRel.startsWith('..') && rel.startsWith(`${cacheRel}/`)) {
        if (isEntryFilePath(rel.slice(cacheRel.length + 1))) wanted.push(entry.path)
        continue
      }
      if (ignored(rel)) continue
      if (opened.options.isSpecFile(path.join(projectDir, rel))) wanted.push(entry.path)
    }
    await checkout(wanted)

    // Input images and masks that the specs of that commit name.
    const inputs: string[] = []
    for (const spec of await old.discover()) {
      const raw = await old.readRaw(spec.ref).catch(() => undefined)
      if (!raw) continue
      for (const value of [raw.fields.image, raw.fields.mask].flat()) {
        if (typeof value !== 'string') continue
        const rel = path.relative(treeDir, path.resolve(raw.dir, value)).split(path.sep).join('/')
        if (!rel.startsWith('..') && tree.has(rel)) inputs.push(rel)
      }
    }
    await checkout(inputs)

    const state = { mode: 'sheet' as const, history: false, projectName: '', imageSource: options.imageSource }
    const [before, after] = await Promise.all([buildGalleryState(old, state), buildGalleryState(view, state)])
    const cards: SpecCard[] = []
    const entries: SinceResult['entries'] = []
    const oldByLabel = new Map(before.specs.map((card) => [card.label, card]))
    for (const card of after.specs) {
      const was = oldByLabel.get(card.label)
      oldByLabel.delete(card.label)
      if (was && fingerprint(was) === fingerprint(card)) continue
      cards.push({ ...card, since: was ? { change: 'changed', before: snapshotOf(was) } : { change: 'added' } })
      if (card.key) entries.push({ view, key: card.key })
      if (was?.key) entries.push({ view: old, key: was.key })
    }
    for (const was of oldByLabel.values()) {
      cards.push({ ...was, status: 'removed', error: undefined, key: undefined, entry: undefined, candidates: [], importers: [], since: { change: 'removed', before: snapshotOf(was) } })
      if (was.key) entries.push({ view: old, key: was.key })
    }
    return { commit, cards, entries, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** What the reviewer compares: the entry a spec resolves to and the pixels it ships. */
function fingerprint(card: SpecSnapshot): string {
  return JSON.stringify([card.status, card.key ?? null, card.candidates.map((c) => c.sha256), card.pick, card.error ?? null])
}

function snapshotOf(card: SpecCard): SpecSnapshot {
  const { status, error, key, spec, entry, candidates, pick } = card
  return { status, ...(error ? { error } : {}), ...(key ? { key } : {}), ...(spec ? { spec } : {}), ...(entry ? { entry } : {}), candidates, pick }
}

async function gitText(args: string[], cwd: string): Promise<string> {
  return (await git(args, { cwd, maxBytes: 64 * 1024 })).toString('utf8').trim()
}

/** Regular files and links of the commit's tree, by path from the top level (submodules left out). */
async function listTree(commit: string, cwd: string): Promise<Map<string, TreeEntry>> {
  const out = await git(['ls-tree', '-r', '-z', '--full-tree', commit], { cwd, maxBytes: 512 * 1024 * 1024 })
  const entries = new Map<string, TreeEntry>()
  for (const line of out.toString('utf8').split('\0')) {
    const match = /^(\d{6}) (\w+) [0-9a-f]+\t(.+)$/s.exec(line)
    if (!match || match[2] !== 'blob') continue
    entries.set(match[3]!, { mode: match[1]!, path: match[3]! })
  }
  return entries
}

/** Check files of `commit` out into `treeDir` through an index of their own, in the temp folder. */
function checkoutInto(commit: string, cwd: string, temp: string, treeDir: string): (paths: readonly string[]) => Promise<void> {
  const env = { GIT_INDEX_FILE: path.join(temp, 'index') }
  let indexed: Promise<unknown> | undefined
  return async (paths) => {
    if (paths.length === 0) return
    await (indexed ??= git(['read-tree', commit], { cwd, env }))
    try {
      await git(['checkout-index', '--force', `--prefix=${treeDir}${path.sep}`, '-z', '--stdin'], { cwd, env, input: `${[...new Set(paths)].join('\0')}\0` })
    } catch (error) {
      if (error instanceof GitError) throw new AiImageError('SPEC_INVALID', `could not read the files of commit ${commit.slice(0, 12)}: ${error.message}`, { file: 'ai-image gallery' })
      throw error
    }
  }
}

/** Beside the derived cache when the project has `node_modules` (packages resolve from there), else the OS temp folder. */
async function tempBase(root: string): Promise<string> {
  const modules = path.join(root, 'node_modules')
  const isFolder = await stat(modules).then((s) => s.isDirectory(), () => false)
  if (!isFolder) return tmpdir()
  const base = path.join(modules, '.cache', 'unplugin-ai-image')
  await mkdir(base, { recursive: true })
  return base
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean
}
