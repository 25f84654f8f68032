/**
 * The declaration files the plugin writes beside spec files (`hero.imgprompt.d.json.ts`) are written into the
 * project's source folders, so a hostile checkout may have planted something of that name: a link to a file
 * elsewhere (writing through it would overwrite that file), a FIFO (reading it would hang), or a file of the
 * project's own. None is written through, read from or replaced; each is reported. A declaration whose spec is
 * gone is removed only when the plugin wrote it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { lstat, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SPEC_DECLARATION, syncDeclarations } from '../../src/core/service/spec-types.js'
import { makeProject, spec, type TempProject } from '../helpers/project.js'

const projects: TempProject[] = []
const outside: string[] = []
afterAll(() => Promise.all([...projects.map((p) => p.remove()), ...outside.map((dir) => rm(dir, { recursive: true, force: true }))]))

async function project(files: Record<string, string>): Promise<TempProject> {
  const made = await makeProject({ 'tsconfig.json': '{}', ...files })
  projects.push(made)
  return made
}

describe('declaration files beside spec files', () => {
  it('never writes through a link planted under the declaration name (the file it points at stays as it was)', async () => {
    const far = await mkdtemp(path.join(tmpdir(), 'ai-image-victim-'))
    outside.push(far)
    const victim = path.join(far, 'victim.txt')
    await writeFile(victim, 'do not touch')
    const { root } = await project({ 'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse' }) })
    await symlink(victim, path.join(root, 'src/hero.imgprompt.d.json.ts'))
    const report = syncDeclarations([path.join(root, 'src/hero.imgprompt.json')])
    expect(await readFile(victim, 'utf8')).toBe('do not touch')
    expect((await lstat(path.join(root, 'src/hero.imgprompt.d.json.ts'))).isSymbolicLink()).toBe(true)
    expect(report.written).toEqual([])
    expect(report.refused).toEqual([{ file: path.join(root, 'src/hero.imgprompt.d.json.ts'), reason: 'is a symbolic link' }])
  })

  it('does not hang on a FIFO under the declaration name', async () => {
    const { root } = await project({ 'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse' }) })
    execFileSync('mkfifo', [path.join(root, 'src/hero.imgprompt.d.json.ts')])
    const report = syncDeclarations([path.join(root, 'src/hero.imgprompt.json')])
    expect(report.refused).toEqual([{ file: path.join(root, 'src/hero.imgprompt.d.json.ts'), reason: 'is not a regular file' }])
  })

  it("leaves the project's own declaration alone, and removes only its own of a deleted spec", async () => {
    const own = '// the project wrote this\nexport declare const width: 1\n'
    const { root } = await project({
      'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse' }),
      'src/hero.imgprompt.d.json.ts': own,
      // Specs gone: one declaration is the plugin's, one the project's.
      'src/gone.imgprompt.d.json.ts': SPEC_DECLARATION,
      'src/kept.imgprompt.d.json.ts': own,
    })
    const gone = ['src/gone.imgprompt.d.json.ts', 'src/kept.imgprompt.d.json.ts'].map((file) => path.join(root, file))
    const report = syncDeclarations([path.join(root, 'src/hero.imgprompt.json')], gone)
    expect(report.foreign).toEqual([path.join(root, 'src/hero.imgprompt.d.json.ts')])
    expect(await readFile(path.join(root, 'src/hero.imgprompt.d.json.ts'), 'utf8')).toBe(own)
    expect(report.removed).toEqual([gone[0]])
    expect(existsSync(gone[0]!)).toBe(false)
    expect(await readFile(gone[1]!, 'utf8')).toBe(own)
  })
})
