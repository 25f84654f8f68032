/**
 * Attacks on the cache folder itself: committed symbolic links inside `.ai-image/` that would make
 * housekeeping, `prune` or the end-of-build tidy-up delete or overwrite files outside the cache, a
 * `cacheDir` that is the project root or above it, a cache path that is a file, and a read-only cache.
 * Nothing outside the cache is ever touched, and each problem is an AiImageError naming the folder and
 * the fix, or a warning when the plugin can go on without that folder.
 */
import { spawn } from 'node:child_process'
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isAiImageError } from '../../src/core/errors.js'
import { resolveOptions } from '../../src/core/options.js'
import { ImageService } from '../../src/core/service.js'
import { makeProject, spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'
import { aiImageCli, committedEntry, tryViteBuild } from './helpers.js'

const suite = emulatorSuite()
const HOUR_AGO = new Date(Date.now() - 60 * 60_000)
/** Above Linux's largest pid: a process that cannot be alive. */
const DEAD_PID = 4_194_305

/** A folder outside the project with files the cache must never touch, all old enough to look stale. */
async function outsideFolder(files: Record<string, string>): Promise<TempProject> {
  const outside = suite.keep(await makeProject(files))
  for (const name of Object.keys(files)) await utimes(path.join(outside.root, name), HOUR_AGO, HOUR_AGO)
  return outside
}

async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isFile()) out[entry.name] = await readFile(path.join(dir, entry.name), 'utf8')
  }
  return out
}

async function cachedProject(): Promise<TempProject> {
  const project = await suite.project({
    'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
    'src/a.imgprompt.json': spec({ prompt: 'a guarded folder', model: 'gpt-image-2', size: '1024x1024' }),
  })
  const first = await tryViteBuild(project.root, suite.openaiEnv())
  expect(first.error).toBeUndefined()
  suite.emulator.reset()
  return project
}

describe('committed symbolic links inside the cache folder', () => {
  it('.work/locks linked to a folder of lock files: prune and a generating build delete none of them', async () => {
    const outside = await outsideFolder({ 'yarn.lock': '# yarn lockfile v1\n', 'Cargo.lock': 'version = 3\n', [`${'e'.repeat(64)}.lock`]: '{}' })
    const before = await contents(outside.root)
    const project = await cachedProject()
    await mkdir(path.join(project.root, '.ai-image/.work'), { recursive: true })
    await symlink(outside.root, path.join(project.root, '.ai-image/.work/locks'))

    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(await contents(outside.root)).toEqual(before)
    expect(pruned.stderr).toMatch(/\.work[/\\]locks.*symbolic link/)

    // A build that generates needs a lock: it refuses the linked folder before any request is paid.
    await writeFile(path.join(project.root, 'src/a.imgprompt.json'), spec({ prompt: 'a new prompt', model: 'gpt-image-2', size: '1024x1024' }))
    const build = await tryViteBuild(project.root, suite.openaiEnv())
    expect(build.error?.message).toMatch(/SPEC_INVALID/)
    expect(build.error?.message).toMatch(/\.work[/\\]locks is a symbolic link/)
    expect(build.error?.message).toMatch(/[Rr]emove/)
    expect(suite.emulator.requests).toHaveLength(0)
    expect(await contents(outside.root)).toEqual(before)
  })

  it('an entry folder linked elsewhere: prune and housekeeping delete nothing there, and read no entry from it', async () => {
    const key = `ab${'0'.repeat(62)}`
    const outside = await outsideFolder({ [`${key}.json`]: '{"mine": true}', [`${key}-0.png`]: 'my bytes', [`notes.txt.tmp-${DEAD_PID}-ab12`]: 'my draft' })
    const before = await contents(outside.root)
    const project = await cachedProject()
    await symlink(outside.root, path.join(project.root, '.ai-image/ab'))

    const dry = await aiImageCli(project.root, ['prune', '--dry-run'])
    expect(dry.stdout).not.toContain(key.slice(0, 12))
    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.stderr).toMatch(/\.ai-image[/\\]ab.*symbolic link/)
    expect(await contents(outside.root)).toEqual(before)

    // The same link to the project root itself.
    await writeFile(path.join(project.root, `${key}.json`), 'a project file named like an entry')
    await writeFile(path.join(project.root, `draft.tmp-${DEAD_PID}-cd`), 'a project file named like a temp file')
    const root = await contents(project.root)
    await symlink(project.root, path.join(project.root, '.ai-image/cd'))
    expect((await aiImageCli(project.root, ['prune'])).code).toBe(0)
    expect(await contents(project.root)).toEqual(root)
  })

  it('.work linked to a folder holding only a .gitignore: the end of a build neither deletes nor rewrites it', async () => {
    const outside = await outsideFolder({ '.gitignore': 'my own ignore rules\n' })
    const project = await cachedProject()
    await symlink(outside.root, path.join(project.root, '.ai-image/.work'))
    const build = await tryViteBuild(project.root, { ...suite.openaiEnv(), CI: '1' })
    expect(build.error).toBeUndefined()
    expect(await contents(outside.root)).toEqual({ '.gitignore': 'my own ignore rules\n' })
  })

  it('a sidecar or image replaced by a link is not followed out of the cache by prune', async () => {
    const project = await cachedProject()
    const entry = await committedEntry(project)
    // The spec changes: its old entry is unused and prune removes it, but never what its links point at.
    const outside = await outsideFolder({ 'precious.png': 'precious' })
    await writeFile(path.join(project.root, 'src/a.imgprompt.json'), spec({ prompt: 'another prompt', model: 'gpt-image-2', size: '1024x1024' }))
    const image = entry.imagePath()
    await rm(image)
    await symlink(path.join(outside.root, 'precious.png'), image)
    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(await contents(outside.root)).toEqual({ 'precious.png': 'precious' })
  })
})

describe('the derived cache (node_modules/.cache, restorable from a shared CI cache)', () => {
  it('a derived folder linked elsewhere is neither read nor written through', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a derived link', model: 'gpt-image-2', size: '1024x1024', emit: { format: 'webp' } }),
    })
    expect((await tryViteBuild(project.root, suite.openaiEnv())).error).toBeUndefined()
    const derived = path.join(project.root, 'node_modules/.cache/unplugin-ai-image')
    const [folder] = await readdir(derived)
    const outside = await outsideFolder({ 'keep.txt': 'mine' })
    await rm(path.join(derived, folder!), { recursive: true })
    await symlink(outside.root, path.join(derived, folder!))
    const build = await tryViteBuild(project.root, { ...suite.openaiEnv(), CI: '1' })
    expect(build.error).toBeUndefined()
    expect(build.logs).toMatch(/could not write the derived-image cache.*symbolic link/)
    expect(await readdir(outside.root)).toEqual(['keep.txt'])
    expect((await project.list('dist/assets')).some((f) => f.endsWith('.webp'))).toBe(true)
  })
})

describe('cacheDir', () => {
  it('may be neither the project root nor an ancestor of it', async () => {
    const project = await suite.project({})
    for (const cacheDir of ['.', '..', 'sub/..', '/', project.root, path.dirname(project.root)]) {
      let error: unknown
      try {
        resolveOptions({ cacheDir }, { root: project.root, env: {} })
      } catch (e) {
        error = e
      }
      expect(isAiImageError(error), cacheDir).toBe(true)
      expect(error).toMatchObject({ code: 'SPEC_INVALID', field: 'cacheDir' })
      expect((error as Error).message).toMatch(/cacheDir.*project root/)
    }
    expect(resolveOptions({ cacheDir: 'assets/.ai-image' }, { root: project.root, env: {} }).cacheDir).toBe(path.join(project.root, 'assets/.ai-image'))
  })

  it('a committed link that makes the cache folder the project root is refused: prune removes nothing', async () => {
    const project = await suite.project({
      'src/a.imgprompt.json': spec({ prompt: 'a', model: 'gpt-image-2', size: '1024x1024' }),
      'ab/notes.txt': 'a project folder named like an entry folder',
      [`ab/${'ab'.repeat(32)}.json`]: 'a project file named like an entry',
    })
    await symlink('.', path.join(project.root, '.ai-image'))
    const before = await project.list('ab')
    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code).toBe(2)
    expect(pruned.stderr).toMatch(/SPEC_INVALID.*cacheDir.*project root/)
    expect(await project.list('ab')).toEqual(before)
    expect(() => new ImageService({}, { root: project.root, env: {} })).toThrow(/cacheDir/)
  })

  it('a cache path that is a file: a clear error naming it, in a frozen build, a generating build and `check`', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a file in the way', model: 'gpt-image-2', size: '1024x1024' }),
      '.ai-image': 'not a folder',
    })
    for (const env of [{ ...suite.openaiEnv(), CI: '1' }, suite.openaiEnv()]) {
      const build = await tryViteBuild(project.root, env)
      expect(build.error?.message).toMatch(/SPEC_INVALID/)
      expect(build.error?.message).toMatch(/\.ai-image is a file, not a folder/)
      expect(build.error?.message).not.toMatch(/ENOTDIR|EEXIST/)
    }
    expect(suite.emulator.requests).toHaveLength(0)
    const check = await aiImageCli(project.root, ['check'])
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(/\.ai-image is a file, not a folder/)
    expect(await readFile(path.join(project.root, '.ai-image'), 'utf8')).toBe('not a folder')
  })

  it('a read-only cache folder: a clear error before anything is paid, and nothing half-written', async () => {
    const project = await suite.project({ 'src/a.imgprompt.json': spec({ prompt: 'a read-only cache', model: 'gpt-image-2', size: '1024x1024' }) })
    await mkdir(path.join(project.root, '.ai-image'))
    // The child may run as another user (see below): it must reach the project.
    await chmod(project.root, 0o777)
    await chmod(path.join(project.root, '.ai-image'), 0o555)
    const report = await generateInChild(project.root, ['src/a.imgprompt.json'], suite.emulator.openaiEnv())
    expect(report.errors).toHaveLength(1)
    expect(report.errors[0]).toMatch(/SPEC_INVALID/)
    expect(report.errors[0]).toMatch(/\.ai-image.* (is read-only|cannot be written)/)
    expect(report.errors[0]).not.toMatch(/EACCES|EPERM|EROFS/)
    expect(suite.emulator.requests).toHaveLength(0)
    expect(await readdir(path.join(project.root, '.ai-image'))).toEqual([])
    expect((await stat(path.join(project.root, '.ai-image'))).mode & 0o777).toBe(0o555)
  })
})

const CHILD = fileURLToPath(new URL('../helpers/generate-child.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `ImageService.generateAll` in a child process. As root, permissions do not stop a write, so the child
 * runs as `nobody` there: the read-only folder is then read-only for it, as it is for any user in CI.
 */
function generateInChild(root: string, files: string[], env: Record<string, string>): Promise<{ errors: string[]; statuses: string[] }> {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, '{}', ...files], {
      cwd: REPO,
      env: { ...process.env, ...env, CI: '', HOME: root },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...asNobody,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', () => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'))
      if (!line) reject(new Error(`the child reported nothing: ${stderr}`))
      else resolve(JSON.parse(line) as { errors: string[]; statuses: string[] })
    })
  })
}
