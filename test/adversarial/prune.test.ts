/**
 * `ai-image prune` removes paid images, so it must never remove one a build of the project uses, even a
 * build whose specs the command cannot see: named specs and `defaults` given inline to a bundler's plugin,
 * spec files in folders discovery used to skip. Builds record the keys they use in the committed cache
 * (`.ai-image/builds/`), prune keeps the union of what discovery finds and what builds recorded.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { withEnv } from '../helpers/env.js'
import { spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'
import { esbuildDriver, rolldownDriver, rollupDriver, rspackDriver, viteDriver, webpackDriver } from '../bundlers/drivers.js'
import { FIXTURE_OPTIONS, fixtureProject } from '../bundlers/fixture.js'
import { aiImageCli, tryViteBuild } from './helpers.js'

const suite = emulatorSuite()

const sidecars = async (project: TempProject) => (await project.list('.ai-image')).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f)).sort()
const records = async (project: TempProject) => (await project.list('.ai-image/builds')).sort()
const recordedKeys = async (project: TempProject, record: string) =>
  (await project.read(`.ai-image/builds/${record}`))
    .toString('utf8')
    .split('\n')
    .filter((line) => /^[0-9a-f]{64}$/.test(line))

const inline = (prompt: string) => ({ images: { inline: { prompt, model: 'gpt-image-2', size: '1024x1024' } } })

async function appProject(): Promise<TempProject> {
  return suite.project({
    'src/main.js': [
      "import a from './a.imgprompt.json'",
      "import tool from '../build/tools/logo.imgprompt.json'",
      "import named from 'virtual:ai-image/inline'",
      'console.log(a, tool, named)',
    ].join('\n'),
    'src/a.imgprompt.json': spec({ prompt: 'seen by everyone', model: 'gpt-image-2', size: '1024x1024' }),
    // A folder named build/ holding sources, not a build's output.
    'build/tools/logo.imgprompt.json': spec({ prompt: 'a spec under build/', model: 'gpt-image-2', size: '1024x1024' }),
  })
}

describe('prune keeps every entry a build uses', () => {
  it('inline named specs and specs under build/: kept, and check sees the spec under build/', async () => {
    const project = await appProject()
    const built = await tryViteBuild(project.root, suite.openaiEnv(), inline('only the plugin knows me'))
    expect(built.error).toBeUndefined()
    const all = await sidecars(project)
    expect(all).toHaveLength(3)

    const check = await aiImageCli(project.root, ['check'])
    expect(check.code, check.stdout).toBe(0)
    expect(check.stdout).toContain('all 2 specs are cached and verified')

    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.stdout).toContain('removed 0 unused entries')
    expect(await sidecars(project)).toEqual(all)

    // The build's record follows the build: the old inline image is no longer used, and prune removes it alone.
    const [record] = await records(project)
    expect(record).toMatch(/^vite\..*\.txt$/)
    expect(await recordedKeys(project, record!)).toHaveLength(3)
    expect((await tryViteBuild(project.root, suite.openaiEnv(), inline('only the plugin knows me, reworded'))).error).toBeUndefined()
    expect(await records(project)).toEqual([record])
    const keys = await recordedKeys(project, record!)
    expect(keys).toEqual([...keys].sort())
    const stale = (await sidecars(project)).filter((f) => !keys.includes(path.basename(f, '.json')))
    expect(stale).toHaveLength(1)
    const again = await aiImageCli(project.root, ['prune'])
    expect(again.stdout).toContain('removed 1 unused entry')
    expect(await sidecars(project)).toHaveLength(3)
    expect((await sidecars(project)).some((f) => f === stale[0])).toBe(false)
  })

  it('check verifies what prune keeps: an entry only a build uses that is missing or tampered is reported', async () => {
    const project = await appProject()
    expect((await tryViteBuild(project.root, suite.openaiEnv(), inline('only in the bundler config'))).error).toBeUndefined()
    expect((await aiImageCli(project.root, ['check'])).code).toBe(0)
    const [record] = await records(project)
    // The named spec's entry is the one no spec the command finds uses.
    const discovered = JSON.parse((await aiImageCli(project.root, ['ls', '--json'])).stdout) as Array<{ key: string }>
    const onlyBuilt = (await recordedKeys(project, record!)).find((key) => !discovered.some((row) => row.key === key))!
    const sidecar = path.join(project.root, '.ai-image', onlyBuilt.slice(0, 2), `${onlyBuilt}.json`)
    const honest = await readFile(sidecar, 'utf8')
    await writeFile(sidecar, honest.replace('"width": 1024', '"width": "(globalThis.pwned = 1)"'))
    const tampered = await aiImageCli(project.root, ['check'])
    expect(tampered.code).toBe(1)
    expect(tampered.stdout).toContain(`✗ .ai-image/builds/${record}  entry ${onlyBuilt.slice(0, 12)} of this build is corrupt: ${onlyBuilt}.json: images[0].width`)
    expect(tampered.stdout).toContain('1 entry only a build uses needs attention')
    await rm(sidecar)
    expect((await aiImageCli(project.root, ['check'])).stdout).toContain(`entry ${onlyBuilt.slice(0, 12)} of this build is missing`)
  })

  it('inline defaults, which change every key the command computes: the build\'s entries are kept', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'defaults from the bundler config', model: 'gpt-image-2', size: '1024x1024' }),
    })
    expect((await tryViteBuild(project.root, suite.openaiEnv(), { defaults: { quality: 'low' } })).error).toBeUndefined()
    const all = await sidecars(project)
    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(await sidecars(project)).toEqual(all)
  })

  it('a record is written only when it changes, and a failed build leaves it as it was', async () => {
    const project = await appProject()
    expect((await tryViteBuild(project.root, suite.openaiEnv(), inline('steady'))).error).toBeUndefined()
    const [record] = await records(project)
    const file = path.join(project.root, '.ai-image/builds', record!)
    const before = await stat(file)
    const text = (await project.read(`.ai-image/builds/${record}`)).toString('utf8')
    expect((await tryViteBuild(project.root, { ...suite.openaiEnv(), CI: '1' }, inline('steady'))).error).toBeUndefined()
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs)

    // A frozen build that misses fails: its partial view of the keys must not replace the record.
    await writeFile(path.join(project.root, 'src/a.imgprompt.json'), spec({ prompt: 'not generated yet', model: 'gpt-image-2', size: '1024x1024' }))
    const failed = await tryViteBuild(project.root, { ...suite.openaiEnv(), CI: '1' }, inline('steady'))
    expect(failed.error?.message).toContain('CACHE_MISS_FROZEN')
    expect((await project.read(`.ai-image/builds/${record}`)).toString('utf8')).toBe(text)
  })

  it('an SSR build keeps its own record beside the client build\'s', async () => {
    const project = await appProject()
    await project.write('src/server.js', "import named from 'virtual:ai-image/server-only'\nexport default named\n")
    const options = { images: { ...inline('client').images, 'server-only': { prompt: 'rendered on the server', model: 'gpt-image-2', size: '1024x1024' } } }
    expect((await tryViteBuild(project.root, suite.openaiEnv(), options)).error).toBeUndefined()
    const ssr = await tryViteBuild(project.root, suite.openaiEnv(), options, { build: { ssr: 'src/server.js', outDir: 'dist-server' } })
    expect(ssr.error).toBeUndefined()
    expect(await records(project)).toHaveLength(2)
    const all = await sidecars(project)
    expect(all).toHaveLength(4)
    expect((await aiImageCli(project.root, ['prune'])).code).toBe(0)
    expect(await sidecars(project)).toEqual(all)
  })

  it('a record that is not a valid list of keys stops prune: nothing is removed', async () => {
    const project = await appProject()
    expect((await tryViteBuild(project.root, suite.openaiEnv(), inline('recorded'))).error).toBeUndefined()
    const [record] = await records(project)
    const all = await sidecars(project)
    await project.write(`.ai-image/builds/${record}`, `${(await project.read(`.ai-image/builds/${record}`)).toString('utf8')}not a key\n`)
    const pruned = await aiImageCli(project.root, ['prune'])
    expect(pruned.code).toBe(1)
    expect(pruned.stdout).toContain(`nothing pruned`)
    expect(pruned.stdout).toContain(record)
    expect(await sidecars(project)).toEqual(all)
  })

  it('every bundler records the keys of its build', async () => {
    for (const driver of [viteDriver, rollupDriver, rolldownDriver, webpackDriver, rspackDriver, esbuildDriver]) {
      const project = suite.keep(await fixtureProject())
      await withEnv(suite.openaiEnv(), () => driver.build(project.root, FIXTURE_OPTIONS))
      // The fixture's deliberately invalid spec would stop prune.
      await rm(path.join(project.root, 'src/bad.imgprompt.json'))
      const list = await records(project)
      expect(list, driver.name).toHaveLength(1)
      expect(list[0]!.startsWith(`${driver.name}.`), list[0]).toBe(true)
      expect(await recordedKeys(project, list[0]!), driver.name).toHaveLength(4)
      const all = await sidecars(project)
      const pruned = await aiImageCli(project.root, ['prune'])
      expect(pruned.code, `${driver.name}: ${pruned.stdout}${pruned.stderr}`).toBe(0)
      expect(await sidecars(project), driver.name).toEqual(all)
    }
  })
})
