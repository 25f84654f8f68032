/**
 * `ai-image gallery --out <dir> [--since <ref>]`, run as the built command: the static contact sheet is made
 * from the committed cache alone (no key, `CI` set, not one request), shows every spec with `data-spec` and
 * its candidates with `data-candidate`, writes the cached bytes beside the page, and with `--since` shows
 * only the specs whose images changed in a git repository, old and new side by side.
 */
import { createHash } from 'node:crypto'
import { readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { emulatorSuite, png } from './helpers/suite.js'
import { cardHtml, embeddedState, gitIn, NO_KEY_CI, runCli } from './helpers/gallery.js'

const suite = emulatorSuite()
const SMALL = { model: 'dall-e-2', size: '256x256' }
const XSS = '</script><img src=x onerror=alert(1)>'
const FOX = 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=256x256'

async function sheetProject(): Promise<TempProject> {
  return suite.keep(
    await makeProject({
      'ai-image.config.json': JSON.stringify({ images: { badge: { prompt: 'a round badge', ...SMALL } } }),
      'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse at dusk', ...SMALL }),
      'src/pair.imgprompt.json': spec({ prompt: 'two pears', ...SMALL, n: 2, pick: 1 }),
      'src/xss.imgprompt.json': spec({ prompt: XSS, ...SMALL }),
      'src/main.js': `import hero from './hero.imgprompt.json'\nimport fox from '${FOX}'\nimport badge from 'virtual:ai-image/badge'\nconsole.log(hero, fox, badge)\n`,
    }),
  )
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

describe('ai-image gallery --out', () => {
  it('writes a self-contained sheet of every spec from the cache alone: no key, CI set, no request', async () => {
    const project = await sheetProject()
    const generated = await runCli(['generate'], project.root, suite.openaiEnv())
    expect(generated.code, generated.stderr).toBe(0)
    const requests = suite.emulator.requests.length
    await project.write('src/later.imgprompt.json', spec({ prompt: 'not generated yet', ...SMALL }))
    await project.write('src/bad.imgprompt.json', spec({ prompt: 'a bad size', model: 'dall-e-2', size: '999x999' }))

    const result = await runCli(['gallery', '--out', 'sheet'], project.root, NO_KEY_CI)
    expect(result.code, result.stderr).toBe(0)
    expect(suite.emulator.requests).toHaveLength(requests)
    expect(result.stdout).toMatch(/wrote sheet\/index\.html: 7 specs \(.*5 cached.*\), 6 image files/)

    const html = await readFile(path.join(project.root, 'sheet/index.html'), 'utf8')
    const state = embeddedState(html)
    expect(state.mode).toBe('sheet')
    const labels = ['src/bad.imgprompt.json', 'src/hero.imgprompt.json', 'src/later.imgprompt.json', 'src/pair.imgprompt.json', 'src/xss.imgprompt.json', 'virtual:ai-image/badge', FOX]
    expect(state.specs.map((s) => s.label)).toEqual(labels)
    for (const label of labels) expect(cardHtml(html, label), label).toBeDefined()

    const status = Object.fromEntries(state.specs.map((s) => [s.label, s.status]))
    expect(status).toMatchObject({ 'src/bad.imgprompt.json': 'invalid', 'src/later.imgprompt.json': 'missing', 'src/hero.imgprompt.json': 'cached', [FOX]: 'cached' })
    expect(cardHtml(html, 'src/bad.imgprompt.json')).toMatch(/SPEC_INVALID src\/bad\.imgprompt\.json: field &quot;size&quot; &quot;999x999&quot; is not allowed for dall-e-2/)
    expect(cardHtml(html, 'src/later.imgprompt.json')).toContain('data-status="missing"')

    // Every candidate, the picked one marked; the read-only sheet has no action.
    const pair = cardHtml(html, 'src/pair.imgprompt.json')!
    expect(pair.match(/data-candidate="\d"/g)).toEqual(['data-candidate="0"', 'data-candidate="1"'])
    expect(pair).toMatch(/<figure class="candidate picked" data-candidate="1"/)
    expect(html).not.toMatch(/data-action=/)
    expect(cardHtml(html, 'virtual:ai-image/badge')).toContain('the option <code>images.badge</code> in <code>ai-image.config.json</code>')
    expect(cardHtml(html, FOX)).toContain('an import in <ul><li><code>src/main.js</code>')
    expect(cardHtml(html, 'src/hero.imgprompt.json')).toMatch(/Imported by<\/dt><dd><ul><li><code>src\/main\.js<\/code>/)
    expect(cardHtml(html, 'src/hero.imgprompt.json')).toMatch(/<dt>Prompt<\/dt><dd>a lighthouse at dusk<\/dd>/)
    expect(cardHtml(html, 'src/hero.imgprompt.json')).toMatch(/<dt>Model<\/dt><dd>dall-e-2<\/dd>/)

    // Images beside the page, exactly the cached bytes; nothing from the network.
    const sources = [...html.matchAll(/<img src="([^"]*)"/g)].map((m) => m[1]!)
    expect(sources).toHaveLength(6)
    for (const src of sources) expect(src).toMatch(/^images\/[0-9a-f]{64}\.png$/)
    expect(html).not.toMatch(/https?:\/\//)
    const cached = (await project.list('.ai-image')).filter((f) => f.endsWith('.png'))
    const written = await readdir(path.join(project.root, 'sheet/images'))
    expect(written.sort()).toEqual((await Promise.all(cached.map(async (f) => `${sha256(await project.read(`.ai-image/${f}`))}.png`))).sort())
    for (const name of written) expect(sha256(await readFile(path.join(project.root, 'sheet/images', name)))).toBe(name.slice(0, 64))

    // A prompt made to break out of the page is text: escaped in the card, `<` escaped in the embedded JSON.
    expect(html.match(/<script/g)).toHaveLength(2)
    expect(html).not.toContain('<img src=x')
    expect(cardHtml(html, 'src/xss.imgprompt.json')).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;')
    expect(state.specs.find((s) => s.label === 'src/xss.imgprompt.json')!.spec!.prompt).toBe(XSS)
  })

  it('shows a tampered entry as corrupt and never copies what a link in the cache points at', async () => {
    const project = await sheetProject()
    expect((await runCli(['generate', 'src/hero*', 'src/pair*'], project.root, suite.openaiEnv())).code).toBe(0)
    const outside = await makeProject({ 'secret.png': await readFile(path.join(project.root, '.ai-image', (await project.list('.ai-image')).find((f) => f.endsWith('.png'))!)) })
    suite.keep(outside)
    const [first, second] = (await project.list('.ai-image')).filter((f) => f.endsWith('.png'))
    // One candidate becomes a link to a file outside the cache; another has a flipped byte.
    await rm(path.join(project.root, '.ai-image', first!))
    await symlink(path.join(outside.root, 'secret.png'), path.join(project.root, '.ai-image', first!))
    const bytes = await project.read(`.ai-image/${second}`)
    bytes[bytes.length - 20]! ^= 0xff
    await project.write(`.ai-image/${second}`, bytes)

    const result = await runCli(['gallery', '--out', 'sheet'], project.root, NO_KEY_CI)
    expect(result.code, result.stderr).toBe(0)
    const state = embeddedState(await readFile(path.join(project.root, 'sheet/index.html'), 'utf8'))
    const corrupt = state.specs.filter((s) => s.status === 'corrupt')
    expect(corrupt.length).toBeGreaterThanOrEqual(1)
    expect(corrupt.map((s) => s.error).join(' ')).toMatch(/symbolic link|SHA-256/)
    const written = await readdir(path.join(project.root, 'sheet/images'))
    const secret = sha256(await readFile(path.join(outside.root, 'secret.png')))
    const flipped = sha256(bytes)
    expect(written).not.toContain(`${secret}.png`)
    expect(written).not.toContain(`${flipped}.png`)
  })

  it('refuses a missing --out, the project root as --out, and a --since that names no commit (exit 2)', async () => {
    const project = await sheetProject()
    const noOut = await runCli(['gallery'], project.root, NO_KEY_CI)
    expect(noOut.code).toBe(2)
    expect(noOut.stderr).toContain('needs --out <dir>')
    const rootOut = await runCli(['gallery', '--out', '.'], project.root, NO_KEY_CI)
    expect(rootOut.code).toBe(2)
    expect(rootOut.stderr).toMatch(/is the project root or a folder above it/)
    const notRepo = await runCli(['gallery', '--out', 'sheet', '--since', 'HEAD'], project.root, NO_KEY_CI)
    expect(notRepo.code).toBe(2)
    expect(notRepo.stderr).toMatch(/not in a git repository/)
    await gitIn(project.root, ['init', '-q'])
    await gitIn(project.root, ['add', '-A'])
    await gitIn(project.root, ['commit', '-q', '-m', 'one'])
    for (const ref of ['no-such-branch', '--output=/tmp/x', 'HEAD~5']) {
      const bad = await runCli(['gallery', '--out', 'sheet', `--since=${ref}`], project.root, NO_KEY_CI)
      expect(bad.code, ref).toBe(2)
      expect(bad.stderr, ref).toMatch(/names no commit of this repository/)
    }
    expect(await project.list('.')).not.toContain('sheet/index.html')
  })
})

describe('ai-image gallery --since', () => {
  it('shows only the specs whose images changed since the ref, old and new side by side', async () => {
    const project = await sheetProject()
    await project.write('src/gone.imgprompt.json', spec({ prompt: 'a spec removed later', ...SMALL }))
    await project.write('src/bare.imgprompt.json', spec({ prompt: 'committed without its image', ...SMALL }))
    // An edit of an input image that does not change: its old key needs the input as it was.
    await project.write('src/photo.png', await png(256, 256, [40, 90, 160]))
    await project.write('src/edit.imgprompt.json', spec({ prompt: 'the photo at night', ...SMALL, image: './photo.png' }))
    expect((await runCli(['generate'], project.root, suite.openaiEnv())).code).toBe(0)
    await writeFile(path.join(project.root, '.gitignore'), 'sheet/\n')
    await gitIn(project.root, ['init', '-q'])
    await gitIn(project.root, ['add', '-A'])
    // One entry committed as its sidecar alone (as with remote.commitImages: false).
    const bareImage = (await project.list('.ai-image')).find((f) => f.endsWith('.png') && !f.includes('/builds/'))!
    const bareKeyOf = async (label: string) => {
      const ls = JSON.parse((await runCli(['ls', '--json'], project.root, NO_KEY_CI)).stdout) as Array<{ file: string; key: string }>
      return ls.find((row) => row.file === label)!.key
    }
    const bareKey = await bareKeyOf('src/bare.imgprompt.json')
    const bareFile = (await project.list('.ai-image')).find((f) => f.startsWith(`${bareKey.slice(0, 2)}/${bareKey}-0`))!
    void bareImage
    await gitIn(project.root, ['rm', '-q', '--cached', `.ai-image/${bareFile}`])
    await gitIn(project.root, ['commit', '-q', '-m', 'first'])
    const first = (await gitIn(project.root, ['rev-parse', 'HEAD'])).trim()
    const heroBefore = await bareKeyOf('src/hero.imgprompt.json')

    // Since then: hero's prompt changed (new image), pair's pick changed, gone removed, added is new,
    // bare's image now present. Unchanged: xss, badge, the fox.
    await project.write('src/hero.imgprompt.json', spec({ prompt: 'a lighthouse at dawn', ...SMALL }))
    await project.write('src/pair.imgprompt.json', spec({ prompt: 'two pears', ...SMALL, n: 2, pick: 0 }))
    await rm(path.join(project.root, 'src/gone.imgprompt.json'))
    await project.write('src/added.imgprompt.json', spec({ prompt: 'a new spec', ...SMALL }))
    expect((await runCli(['generate'], project.root, suite.openaiEnv())).code).toBe(0)
    await gitIn(project.root, ['add', '-A'])
    await gitIn(project.root, ['commit', '-q', '-m', 'second'])
    const heroAfter = await bareKeyOf('src/hero.imgprompt.json')
    expect(heroAfter).not.toBe(heroBefore)

    const requests = suite.emulator.requests.length
    const result = await runCli(['gallery', '--out', 'sheet', '--since', 'HEAD~1'], project.root, NO_KEY_CI)
    expect(result.code, result.stderr).toBe(0)
    expect(suite.emulator.requests).toHaveLength(requests)
    expect(result.stdout).toContain('5 specs changed since HEAD~1')
    const html = await readFile(path.join(project.root, 'sheet/index.html'), 'utf8')
    const state = embeddedState(html)
    expect(state.since).toEqual({ ref: 'HEAD~1', commit: first })
    const changes = Object.fromEntries(state.specs.map((s) => [s.label, s.since?.change]))
    expect(changes).toEqual({
      'src/added.imgprompt.json': 'added',
      'src/bare.imgprompt.json': 'changed',
      'src/hero.imgprompt.json': 'changed',
      'src/pair.imgprompt.json': 'changed',
      'src/gone.imgprompt.json': 'removed',
    })
    for (const label of ['src/xss.imgprompt.json', 'src/edit.imgprompt.json', 'virtual:ai-image/badge', FOX]) expect(cardHtml(html, label), label).toBeUndefined()

    // Old and new side by side, each with its own images, both written beside the page.
    const hero = cardHtml(html, 'src/hero.imgprompt.json')!
    expect(hero).toContain('data-change="changed"')
    expect(hero).toContain(`data-side="old" data-status="cached" data-key="${heroBefore}"`)
    expect(hero).toContain(`data-side="new" data-status="cached" data-key="${heroAfter}"`)
    expect(hero).toContain('a lighthouse at dusk')
    expect(hero).toContain('a lighthouse at dawn')
    const heroImages = [...hero.matchAll(/<img src="(images\/[0-9a-f]{64}\.png)"/g)].map((m) => m[1]!)
    expect(new Set(heroImages).size).toBe(2)
    for (const src of heroImages) await expect(readFile(path.join(project.root, 'sheet', src))).resolves.toBeInstanceOf(Buffer)

    const card = (label: string) => state.specs.find((s) => s.label === label)!
    expect(card('src/bare.imgprompt.json').since!.before!.status).toBe('sidecar-only')
    expect(card('src/bare.imgprompt.json').since!.before!.candidates[0]!.src).toBeNull()
    expect(card('src/bare.imgprompt.json').status).toBe('cached')
    expect(card('src/pair.imgprompt.json').since!.before!.pick).toBe(1)
    expect(card('src/pair.imgprompt.json').pick).toBe(0)
    expect(card('src/added.imgprompt.json').since!.before).toBeUndefined()
    expect(card('src/gone.imgprompt.json').status).toBe('removed')
    expect(card('src/gone.imgprompt.json').since!.before!.candidates).toHaveLength(1)
    expect(cardHtml(html, 'src/gone.imgprompt.json')).toMatch(/data-side="old" data-status="cached"[\s\S]*<img src="images\//)

    // Only what the sheet shows is written: images of unchanged specs are not.
    const shown = new Set([...html.matchAll(/<img src="images\/([0-9a-f]{64}\.png)"/g)].map((m) => m[1]!))
    expect(new Set(await readdir(path.join(project.root, 'sheet/images')))).toEqual(shown)
    // The user's index and work tree are untouched.
    expect((await gitIn(project.root, ['status', '--porcelain'])).trim()).toBe('')
  })
})
