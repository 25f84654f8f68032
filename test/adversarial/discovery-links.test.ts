/**
 * Folder links from a pull request. Discovery (`ai-image check`, `ls`, `generate`, `prune`, the gallery and its
 * importer scan) walks the project: a link to a folder is never followed, so a link back into the project
 * (`l1 -> .`) cannot list every spec forty times (once per level, to the kernel's link limit), and two such
 * links cannot make the walk exponential (2^40 paths: a command that never ends while its memory grows).
 */
import { mkdir, symlink } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'
import { aiImageCli } from './helpers.js'

const suite = emulatorSuite()

async function loopedProject(): Promise<TempProject> {
  const project = await suite.project({
    'index.html': '<script type="module" src="/src/main.js"></script>',
    'src/main.js': "import a from './a.imgprompt.json'\nimport v from 'virtual:ai-image?prompt=a%20fox&model=gpt-image-2&size=1024x1024'\nconsole.log(a, v)\n",
    'src/a.imgprompt.json': spec({ prompt: 'a vase', model: 'gpt-image-2', size: '1024x1024' }),
  })
  // Two links back to the root, and one to a folder outside it holding a spec.
  await symlink('.', path.join(project.root, 'l1'))
  await symlink('..', path.join(project.root, 'src/l2'))
  const outside = await suite.project({ 'far.imgprompt.json': spec({ prompt: 'outside', model: 'gpt-image-2', size: '1024x1024' }) })
  await symlink(outside.root, path.join(project.root, 'elsewhere'))
  await mkdir(path.join(project.root, 'empty'))
  return project
}

describe('discovery and links to folders', () => {
  it('ai-image ls lists each spec once, in reasonable time, and nothing through a link', async () => {
    const project = await loopedProject()
    const started = Date.now()
    const result = await aiImageCli(project.root, ['ls', '--json'])
    expect(Date.now() - started).toBeLessThan(10_000)
    const listed = (JSON.parse(result.stdout) as Array<{ file: string }>).map((entry) => entry.file).sort()
    expect(listed).toEqual(['src/a.imgprompt.json', 'virtual:ai-image?prompt=a%20fox&model=gpt-image-2&size=1024x1024'])
  }, 20_000)

  it('ai-image check and the static gallery finish, with one line and one card per spec', async () => {
    const project = await loopedProject()
    const check = await aiImageCli(project.root, ['check'])
    const lines = `${check.stdout}${check.stderr}`.split('\n').filter((line) => line.includes('imgprompt.json'))
    expect(lines, check.stdout + check.stderr).toHaveLength(1)
    expect(`${check.stdout}${check.stderr}`).not.toContain('far.imgprompt.json')

    const gallery = await aiImageCli(project.root, ['gallery', '--out', 'sheet'])
    expect(gallery.code, gallery.stderr).toBe(0)
    const html = await project.read('sheet/index.html')
    expect(html.toString('utf8').match(/<article class="card"/g)).toHaveLength(2)
  }, 30_000)
})
