/**
 * Input images, masks and spec files are untrusted (DESIGN.md, "Trust boundaries"): anyone who can open a
 * pull request can add a symlink, a FIFO or a huge file where a spec expects an image. Each attack runs in a
 * real `vite build` of a temp project against the emulator: the build fails with SPEC_INVALID naming the
 * spec, the field and the fix, and the emulator receives nothing. Attacks that would hang a build or fill
 * its memory if a fix regressed run in a child process with a timeout and a memory bound.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, open, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readFileInsideRoot } from '../../src/core/read-inside-root.js'
import { validateSpec } from '../../src/core/spec/validate.js'
import { withEnv } from '../helpers/env.js'
import { boundedBuild } from '../helpers/bounded-build.js'
import { makeProject, spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite, failure, png } from '../helpers/suite.js'
import { viteBuild } from '../helpers/vite.js'

const suite = emulatorSuite()
const build = (root: string) => withEnv(suite.openaiEnv(), () => viteBuild(root))
const MAIN = "import e from './e.imgprompt.json'\nconsole.log(e)\n"
const EDIT = { prompt: 'edit it', model: 'gpt-image-2', size: '1024x1024' }

/** A folder outside every test project, holding a PNG nobody may upload. */
let outside: TempProject
const secretPng = () => png(64, 64, [13, 37, 42])
const sockets: Server[] = []
afterAll(async () => {
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))))
})

async function outsideFolder(): Promise<TempProject> {
  outside ??= suite.keep(
    await makeProject({
      'secret.png': await secretPng(),
      'spec/far.imgprompt.json': spec({ prompt: 'a spec that lives elsewhere', model: 'gpt-image-2', size: '1024x1024' }),
    }),
  )
  return outside
}

/** A file of `bytes` that starts like a PNG and is a hole after that (takes no disk space). */
async function sparsePng(file: string, bytes: number): Promise<void> {
  const header = await png(16, 16, [1, 2, 3])
  const handle = await open(file, 'w')
  try {
    await handle.write(header, 0, header.length, 0)
    await handle.truncate(bytes)
  } finally {
    await handle.close()
  }
}

function expectRefused(error: Error, file: string, field: string, ...words: string[]) {
  expect(error.message).toContain('SPEC_INVALID')
  expect(error.message).toContain(file)
  if (field) expect(error.message).toContain(`field "${field}"`)
  for (const word of words) expect(error.message).toContain(word)
  expect(suite.emulator.requests).toHaveLength(0)
}

describe('input images and masks', () => {
  it.each([
    ['image', { image: './photo.png' }, 'src/photo.png'],
    ['image[1]', { image: ['./plain.png', './photo.png'] }, 'src/photo.png'],
    ['mask', { image: './plain.png', mask: './photo.png' }, 'src/photo.png'],
  ])('refuses %s symlinked to a PNG outside the project root, and uploads nothing', async (field, fields, link) => {
    const far = await outsideFolder()
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, ...fields }), 'src/plain.png': await png(64, 64, [9, 9, 9]) })
    await symlink(path.join(far.root, 'secret.png'), path.join(project.root, link))
    const error = await failure(build(project.root))
    expectRefused(error, 'src/e.imgprompt.json', field, 'outside the project root')
  })

  it('refuses an input reached through a folder symlinked out of the root', async () => {
    const far = await outsideFolder()
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './shared/secret.png' }) })
    await symlink(far.root, path.join(project.root, 'src/shared'), 'dir')
    const error = await failure(build(project.root))
    expectRefused(error, 'src/e.imgprompt.json', 'image', 'outside the project root')
  })

  it('accepts a symlink that stays inside the root', async () => {
    const photo = await png(64, 64, [200, 100, 50])
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './photo.png' }), 'assets/photo.png': photo })
    await symlink('../assets/photo.png', path.join(project.root, 'src/photo.png'))
    await build(project.root)
    expect(suite.emulator.requests).toHaveLength(1)
    expect(suite.emulator.requests[0]!.files).toHaveLength(1)
    expect(suite.emulator.requests[0]!.files[0]!.sha256).toBe(createHash('sha256').update(photo).digest('hex'))
  })

  it('refuses a folder or a socket where an image is expected', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './folder.png' }) })
    await mkdir(path.join(project.root, 'src/folder.png'))
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', 'image', 'not a regular file')

    const server = createServer()
    sockets.push(server)
    await new Promise<void>((resolve) => server.listen(path.join(project.root, 'src/socket.png'), resolve))
    await project.write('src/e.imgprompt.json', spec({ ...EDIT, image: './socket.png' }))
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', 'image', 'not a regular file')
  })

  it('refuses an input over the generic 64 MB bound for a model the table does not know, before uploading it', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ prompt: 'edit it', model: 'my-own-image-model', image: './huge.png' }) })
    await sparsePng(path.join(project.root, 'src/huge.png'), 65 * 1024 * 1024)
    const error = await failure(build(project.root))
    expectRefused(error, 'src/e.imgprompt.json', 'image', 'huge.png is 65.0 MB', '64.0 MB')
  })
})

describe('spec files', () => {
  it('refuses a spec file symlinked to a spec outside the project root', async () => {
    const far = await outsideFolder()
    const project = await suite.project({ 'src/main.js': MAIN })
    await symlink(path.join(far.root, 'spec/far.imgprompt.json'), path.join(project.root, 'src/e.imgprompt.json'))
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', '', 'outside the project root')
  })

  it('refuses a chained spec input symlinked to a spec outside the project root, naming the edit and its field', async () => {
    const far = await outsideFolder()
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: ['./plain.png', './up.imgprompt.json'] }), 'src/plain.png': await png(64, 64, [9, 9, 9]) })
    await symlink(path.join(far.root, 'spec/far.imgprompt.json'), path.join(project.root, 'src/up.imgprompt.json'))
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', 'image[1]', 'outside the project root')
  })

  it('refuses a spec file over 1 MiB without parsing it', async () => {
    const padded = `{ "prompt": "a cat", "model": "gpt-image-2", "size": "1024x1024"${' '.repeat(1024 * 1024)}}\n`
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': padded })
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', '', '1.0 MiB')
  })

  it('refuses a spec file that is not UTF-8 text', async () => {
    const latin1 = Buffer.from('{ "prompt": "caf\u00e9 au lait", "model": "gpt-image-2", "size": "1024x1024" }\n', 'latin1')
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': latin1 })
    expectRefused(await failure(build(project.root)), 'src/e.imgprompt.json', '', 'UTF-8')
  })
})

/** Attacks that hang a build or fill its memory when the guard is missing: a child process, bounded. */
describe('devices, FIFOs and huge files (bounded child builds)', () => {
  const bounded = async (project: TempProject) => {
    const result = await boundedBuild(project.root, suite.openaiEnv())
    expect(result.outcome, `${result.message ?? ''}\n${result.stderr}`).toBe('failed')
    return { message: result.message! } as Error
  }

  it('refuses an input linked to /dev/zero without reading it', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './zero.png' }) })
    await symlink('/dev/zero', path.join(project.root, 'src/zero.png'))
    expectRefused(await bounded(project), 'src/e.imgprompt.json', 'image', 'outside the project root')
  }, 90_000)

  it('refuses an input that is a FIFO inside the root without waiting on it', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: ['./plain.png', './pipe.png'] }), 'src/plain.png': await png(64, 64, [9, 9, 9]) })
    execFileSync('mkfifo', [path.join(project.root, 'src/pipe.png')])
    expectRefused(await bounded(project), 'src/e.imgprompt.json', 'image[1]', 'not a regular file')
  }, 90_000)

  it('refuses a 1.5 GB input from its size, before reading it', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './huge.png' }) })
    await sparsePng(path.join(project.root, 'src/huge.png'), 1536 * 1024 * 1024)
    expectRefused(await bounded(project), 'src/e.imgprompt.json', 'image', 'huge.png is 1536.0 MB; gpt-image-2 takes files under 50.0 MB')
  }, 90_000)

  it('refuses a mask over 4 MB from its size, before reading it', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './plain.png', mask: './mask.png' }), 'src/plain.png': await png(64, 64, [9, 9, 9]) })
    await sparsePng(path.join(project.root, 'src/mask.png'), 1536 * 1024 * 1024)
    expectRefused(await bounded(project), 'src/e.imgprompt.json', 'mask', 'masks must be under 4 MB')
  }, 90_000)

  it('refuses a spec file linked to /dev/zero', async () => {
    const project = await suite.project({ 'src/main.js': MAIN })
    await symlink('/dev/zero', path.join(project.root, 'src/e.imgprompt.json'))
    expectRefused(await bounded(project), 'src/e.imgprompt.json', '', 'outside the project root')
  }, 90_000)

  it('refuses a spec file that is a FIFO', async () => {
    const project = await suite.project({ 'src/main.js': MAIN })
    execFileSync('mkfifo', [path.join(project.root, 'src/e.imgprompt.json')])
    expectRefused(await bounded(project), 'src/e.imgprompt.json', '', 'not a regular file')
  }, 90_000)

  it('refuses a chained spec input linked to /dev/zero, naming the edit and its field', async () => {
    const project = await suite.project({ 'src/main.js': MAIN, 'src/e.imgprompt.json': spec({ ...EDIT, image: './up.imgprompt.json' }) })
    await symlink('/dev/zero', path.join(project.root, 'src/up.imgprompt.json'))
    expectRefused(await bounded(project), 'src/e.imgprompt.json', 'image', 'outside the project root')
  }, 90_000)
})

describe('the reader of untrusted files', () => {
  it('reads a file of exactly the limit and refuses one byte more from its size', async () => {
    const project = suite.keep(await makeProject({ 'fits.bin': Buffer.alloc(1000, 7), 'over.bin': Buffer.alloc(1001, 7) }))
    const fits = await readFileInsideRoot(path.join(project.root, 'fits.bin'), project.root, 1000)
    expect(fits.ok && fits.data.length).toBe(1000)
    expect(await readFileInsideRoot(path.join(project.root, 'over.bin'), project.root, 1000)).toEqual({ ok: false, reason: 'too-large', size: 1001, maxBytes: 1000 })
  })

  it('refuses a file that holds more than its size said (it grew while read)', async () => {
    // Files under /proc report size 0 and hold text: the same shape as a file written to while it is read.
    const result = await readFileInsideRoot(`/proc/${process.pid}/status`, '/proc', 1024 * 1024)
    expect(result).toEqual({ ok: false, reason: 'changed' })
  })

  it('tells a dangling symlink and a symlink loop apart from a file', async () => {
    const project = suite.keep(await makeProject())
    await symlink('./nowhere.png', path.join(project.root, 'dangling.png'))
    await symlink('./loop-b.png', path.join(project.root, 'loop-a.png'))
    await symlink('./loop-a.png', path.join(project.root, 'loop-b.png'))
    expect(await readFileInsideRoot(path.join(project.root, 'dangling.png'), project.root, 1000)).toEqual({ ok: false, reason: 'missing' })
    expect(await readFileInsideRoot(path.join(project.root, 'loop-a.png'), project.root, 1000)).toEqual({ ok: false, reason: 'unreadable', code: 'ELOOP' })
  })

  it('takes a file whose name starts with two dots as inside the root', async () => {
    const project = suite.keep(await makeProject())
    await writeFile(path.join(project.root, '..photo.png'), await png(8, 8, [1, 1, 1]))
    const raw = { source: { kind: 'file' as const, file: path.join(project.root, 'e.imgprompt.json') }, label: 'e.imgprompt.json', dir: project.root, fields: { ...EDIT, image: '..photo.png' } }
    expect(validateSpec(raw, { root: project.root, defaults: {}, warn: () => {} }).inputs).toEqual([path.join(project.root, '..photo.png')])
    const read = await readFileInsideRoot(path.join(project.root, '..photo.png'), project.root, 1000)
    expect(read.ok).toBe(true)
  })
})
