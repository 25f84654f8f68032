/**
 * The gallery's writes and its view model, in process: spec-file edits keep every byte but the value they
 * change (key order, indentation, line endings, a BOM, an inline object beside them); invalid edits and
 * files that are not spec files of the project (outside the root, links, node_modules, the cache) are
 * refused with nothing written; the actions (pick, another, more, restore) write what they say, and the
 * ones that spend only once confirmed; the state lists every spec with its origin, importers and earlier
 * generations; and hostile strings render inert in the page.
 */
import { chmod, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { AiImageError } from '../src/core/errors.js'
import { performAction, parseAction } from '../src/core/gallery/actions.js'
import { renderCard, renderGalleryPage } from '../src/core/gallery/page/render.js'
import { projectView, type ProjectView } from '../src/core/gallery/project-view.js'
import { editSpecFile, planSpecEdit, writePlannedEdit } from '../src/core/gallery/spec-edit.js'
import { buildGalleryState } from '../src/core/gallery/state.js'
import type { GalleryState } from '../src/core/gallery/types.js'
import { ImageService } from '../src/core/service.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const SMALL = { model: 'dall-e-2', size: '256x256' }
const silent = { info() {}, warn() {}, error() {} }

interface Opened {
  project: TempProject
  service: ImageService
  view: ProjectView
  file(rel: string): string
  text(rel: string): Promise<string>
}

async function open(files: Record<string, string | Uint8Array>, options: ConstructorParameters<typeof ImageService>[0] = {}): Promise<Opened> {
  const project = await suite.project(files)
  const service = new ImageService({ provider: 'openai', frozen: false, ...options }, { root: project.root, env: suite.emulator.openaiEnv(), sink: silent })
  return {
    project,
    service,
    view: projectView(service),
    file: (rel) => path.join(project.root, rel),
    text: async (rel) => (await project.read(rel)).toString('utf8'),
  }
}

async function refusal(promise: Promise<unknown>): Promise<AiImageError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal')
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AiImageError)
  expect((error as AiImageError).code).toBe('SPEC_INVALID')
  return error as AiImageError
}

const PEARS = `{
    "$schema": "../node_modules/unplugin-ai-image/dist/schema.json",
    "size":   "256x256",
    "prompt": "two pears",
    "model": "dall-e-2",
    "emit": { "widths": [128, 256], "format": "webp" },
    "n": 2,
    "pick": 0
}
`

describe('spec-file edits keep every other byte', () => {
  it('setting an existing field changes its value only', async () => {
    const p = await open({ 'src/pears.imgprompt.json': PEARS })
    const result = await editSpecFile(p.view.specFiles, p.file('src/pears.imgprompt.json'), { pick: 1 })
    expect(result.changes).toEqual([{ field: 'pick', before: 0, after: 1 }])
    expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS.replace('"pick": 0', '"pick": 1'))
  })

  it('a new field goes where the field table puts it, at its neighbours’ indentation; inline objects stay inline', async () => {
    const p = await open({ 'src/pears.imgprompt.json': PEARS })
    await editSpecFile(p.view.specFiles, p.file('src/pears.imgprompt.json'), { seed: 7 })
    expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS.replace('"pick": 0', '"seed": 7,\n    "pick": 0'))

    const last = '{\n  "prompt": "x",\n  "model": "dall-e-2",\n  "size": "256x256",\n  "emit": { "format": "webp" },\n  "seed": 3\n}\n'
    await p.project.write('src/last.imgprompt.json', last)
    await editSpecFile(p.view.specFiles, p.file('src/last.imgprompt.json'), { seed: null })
    expect(await p.text('src/last.imgprompt.json')).toBe(last.replace(',\n  "seed": 3', ''))
    await editSpecFile(p.view.specFiles, p.file('src/last.imgprompt.json'), { alt: 'an x' })
    expect(await p.text('src/last.imgprompt.json')).toBe('{\n  "prompt": "x",\n  "model": "dall-e-2",\n  "size": "256x256",\n  "alt": "an x",\n  "emit": { "format": "webp" }\n}\n')
    expect((await refusal(editSpecFile(p.view.specFiles, p.file('src/last.imgprompt.json'), { prompt: null }))).message).toMatch(/field "prompt" is missing/)
  })

  it('CRLF line endings, tabs, a BOM and the file mode are kept', async () => {
    const text = '\uFEFF{\r\n\t"prompt": "a",\r\n\t"model": "dall-e-2",\r\n\t"size": "256x256"\r\n}\r\n'
    const p = await open({ 'src/crlf.imgprompt.json': text })
    await chmod(p.file('src/crlf.imgprompt.json'), 0o640)
    await editSpecFile(p.view.specFiles, p.file('src/crlf.imgprompt.json'), { n: 2, emit: { format: 'webp', widths: [64, 128] } })
    expect(await p.text('src/crlf.imgprompt.json')).toBe(
      '\uFEFF{\r\n\t"prompt": "a",\r\n\t"model": "dall-e-2",\r\n\t"size": "256x256",\r\n\t"n": 2,\r\n\t"emit": {\r\n\t\t"format": "webp",\r\n\t\t"widths": [\r\n\t\t\t64,\r\n\t\t\t128\r\n\t\t]\r\n\t}\r\n}\r\n',
    )
    expect((await stat(p.file('src/crlf.imgprompt.json'))).mode & 0o777).toBe(0o640)
  })

  it('a prompt with quotes, backslashes, line breaks and markup is stored as JSON text; a one-line file stays on one line', async () => {
    const p = await open({ 'src/one.imgprompt.json': '{"prompt":"a","model":"dall-e-2","size":"256x256"}' })
    const prompt = 'say "cheese" \\ then\nleave </script><!-- \u2028'
    await editSpecFile(p.view.specFiles, p.file('src/one.imgprompt.json'), { prompt, seed: 'x' })
    const written = await p.text('src/one.imgprompt.json')
    expect(written).toBe(`{"prompt":${JSON.stringify(prompt)},"model":"dall-e-2","size":"256x256", "seed": "x"}`)
    expect(JSON.parse(written).prompt).toBe(prompt)
  })
})

describe('refused edits write nothing', () => {
  it('an edit the build would refuse is refused before anything is written, with the build’s message', async () => {
    const p = await open({ 'src/pears.imgprompt.json': PEARS })
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ n: 11 }, /field "n" 11 must be at most 10/],
      [{ pick: 2 }, /field "pick" 2 is out of range for n = 2/],
      [{ size: '999x999' }, /field "size" "999x999" is not allowed for dall-e-2/],
      [{ colour: 'red' }, /"colour"/],
      [{ prompt: '' }, /field "prompt"/],
      [JSON.parse('{"__proto__": "x"}') as Record<string, unknown>, /"__proto__", which is no spec field/],
      [{ seed: Number.NaN }, /"seed" to a value that is not plain JSON/],
      [{ emit: { format: 'webp', widths: [() => 1] } }, /"emit" to a value that is not plain JSON/],
    ]
    const before = await readdir(p.file('src'))
    for (const [edit, message] of cases) {
      const error = await refusal(editSpecFile(p.view.specFiles, p.file('src/pears.imgprompt.json'), edit as never))
      expect(error.message).toMatch(message)
      expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS)
    }
    expect(await readdir(p.file('src'))).toEqual(before)
  })

  it('only spec files of the project are written: not other files, links, files outside the root, in node_modules or in the cache', async () => {
    const valid = spec({ prompt: 'a spec', ...SMALL })
    const outside = suite.keep(await makeProject({ 'x.imgprompt.json': valid, 'dir/y.imgprompt.json': valid }))
    const p = await open({
      'src/real.imgprompt.json': valid,
      'src/data.json': valid,
      'package.json': '{ "name": "app" }\n',
      'node_modules/pkg/a.imgprompt.json': valid,
      '.ai-image/ab/c.imgprompt.json': valid,
      'dist/d.imgprompt.json': valid,
    })
    await symlink(path.join(outside.root, 'x.imgprompt.json'), p.file('src/link.imgprompt.json'))
    await symlink(p.file('src/real.imgprompt.json'), p.file('src/inner-link.imgprompt.json'))
    await symlink(path.join(outside.root, 'dir'), p.file('linked'))
    await mkdir(p.file('src/folder.imgprompt.json'))
    const targets: Array<[string, RegExp]> = [
      [p.file('src/data.json'), /is not a spec file of this project/],
      [p.file('package.json'), /is not a spec file of this project/],
      [path.join(outside.root, 'x.imgprompt.json'), /is outside the project root/],
      [path.join(p.project.root, '..', path.basename(outside.root), 'x.imgprompt.json'), /is outside the project root/],
      [p.file('src/link.imgprompt.json'), /is a symbolic link/],
      [p.file('src/inner-link.imgprompt.json'), /is a symbolic link/],
      [p.file('linked/y.imgprompt.json'), /outside the project root/],
      [p.file('node_modules/pkg/a.imgprompt.json'), /not a spec file of this project|skips/],
      [p.file('.ai-image/ab/c.imgprompt.json'), /inside the cache folder/],
      [p.file('dist/d.imgprompt.json'), /skips/],
      [p.file('src/folder.imgprompt.json'), /is not a regular file/],
      [p.file('src/missing.imgprompt.json'), /does not exist/],
      ['src/real.imgprompt.json', /is not an absolute path/],
    ]
    for (const [file, message] of targets) {
      const error = await refusal(editSpecFile(p.view.specFiles, file, { seed: 5 }))
      expect(error.message, file).toMatch(message)
      expect(error.message, file).toContain('the gallery did not write this file')
    }
    expect(await readFile(path.join(outside.root, 'x.imgprompt.json'), 'utf8')).toBe(valid)
    expect(await readFile(path.join(outside.root, 'dir/y.imgprompt.json'), 'utf8')).toBe(valid)
    for (const rel of ['src/real.imgprompt.json', 'src/data.json', 'node_modules/pkg/a.imgprompt.json', '.ai-image/ab/c.imgprompt.json', 'dist/d.imgprompt.json']) {
      expect(await p.text(rel), rel).toBe(valid)
    }
    expect(await p.text('package.json')).toBe('{ "name": "app" }\n')
  })

  it('a file that changed between the plan and the write is left as it is now', async () => {
    const p = await open({ 'src/pears.imgprompt.json': PEARS })
    const planned = await planSpecEdit(p.view.specFiles, p.file('src/pears.imgprompt.json'), { pick: 1 })
    const edited = PEARS.replace('two pears', 'three pears')
    await p.project.write('src/pears.imgprompt.json', edited)
    const error = await refusal(writePlannedEdit(p.view.specFiles, planned))
    expect(error.message).toMatch(/changed while the edit was being made/)
    expect(await p.text('src/pears.imgprompt.json')).toBe(edited)
  })
})

describe('gallery actions', () => {
  it('pick writes exactly `pick`; named specs and virtual imports are read-only; bodies are checked', async () => {
    const p = await open(
      {
        'src/pears.imgprompt.json': PEARS,
        'src/main.js': "import fox from 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=256x256'\n",
      },
      { images: { badge: { prompt: 'a badge', ...SMALL } } },
    )
    const result = await performAction(p.view, parseAction('pick', { spec: 'src/pears.imgprompt.json', index: 1 }))
    expect(result).toMatchObject({ written: true, generate: false, changes: [{ field: 'pick', before: 0, after: 1 }] })
    expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS.replace('"pick": 0', '"pick": 1'))
    for (const label of ['virtual:ai-image/badge', 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=256x256']) {
      const error = await refusal(performAction(p.view, parseAction('pick', { spec: label, index: 0 })))
      expect(error.message).toMatch(/is read-only in the gallery/)
    }
    expect((await refusal(performAction(p.view, parseAction('pick', { spec: '../x.imgprompt.json', index: 0 })))).message).toMatch(/no spec of this name/)
    expect(() => parseAction('delete', { spec: 'src/pears.imgprompt.json' })).toThrow(/no gallery action/)
    expect(() => parseAction('pick', { spec: 'src/pears.imgprompt.json', index: '1' })).toThrow(/"index" must be a candidate index/)
    expect(() => parseAction('restore', { spec: 'src/pears.imgprompt.json', key: '../../etc/passwd' })).toThrow(/"key" must be a cache key/)
    expect(() => parseAction('save', [])).toThrow(/must be a JSON object/)
  })

  it('another shows its estimate and writes nothing until confirmed; confirmed, it writes a new seed only', async () => {
    const p = await open({ 'src/pears.imgprompt.json': PEARS })
    const plan = await performAction(p.view, parseAction('another', { spec: 'src/pears.imgprompt.json' }), { random: () => 4242 })
    expect(plan).toMatchObject({ written: false, generate: false, cached: false, estimate: { images: 2, usd: 0.032 } })
    expect(plan.changes).toEqual([{ field: 'seed', before: undefined, after: 4242 }])
    expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS)

    const done = await performAction(p.view, parseAction('another', { spec: 'src/pears.imgprompt.json' }), { random: () => 4242, confirm: true })
    expect(done).toMatchObject({ written: true, generate: true })
    expect(await p.text('src/pears.imgprompt.json')).toBe(PEARS.replace('"pick": 0', '"seed": 4242,\n    "pick": 0'))
    // A second "another" never repeats the seed it replaces.
    const seeds = [4242, 4242, 77]
    const next = await performAction(p.view, parseAction('another', { spec: 'src/pears.imgprompt.json' }), { random: () => seeds.shift()!, confirm: true })
    expect(next.changes).toEqual([{ field: 'seed', before: 4242, after: 77 }])
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('more raises n (a new generation of all of them, priced so); restore writes back an earlier seed and n, for free', async () => {
    const p = await open({ 'src/fox.imgprompt.json': spec({ prompt: 'a fox', ...SMALL, seed: 1 }) })
    const refs = [{ kind: 'file' as const, file: p.file('src/fox.imgprompt.json') }]
    expect((await p.service.generateAll(refs)).results[0]!.status).toBe('generated')
    const first = (await p.view.keyOf(await p.service.loadSpec(refs[0]!))) as { key: string }

    const more = await performAction(p.view, parseAction('more', { spec: 'src/fox.imgprompt.json' }))
    expect(more).toMatchObject({ written: false, estimate: { images: 2, usd: 0.032 }, changes: [{ field: 'n', before: undefined, after: 2 }] })
    await performAction(p.view, parseAction('more', { spec: 'src/fox.imgprompt.json' }), { confirm: true })
    expect(JSON.parse(await p.text('src/fox.imgprompt.json'))).toEqual({ prompt: 'a fox', ...SMALL, seed: 1, n: 2 })
    expect((await p.service.generateAll(refs)).results[0]!.status).toBe('generated')

    // The state lists the first generation as an earlier one of this spec.
    const state = await buildGalleryState(p.view, { mode: 'dev', projectName: 'p', imageSource: ({ key, index }) => `/img/${key}-${index}` })
    const card = state.specs[0]!
    expect(card.candidates).toHaveLength(2)
    expect(card.history.map((g) => [g.key, g.seed, g.n, g.complete])).toEqual([[first.key, '1', 1, true]])
    expect(card.history[0]!.candidates[0]!.src).toBe(`/img/${first.key}-0`)

    const restored = await performAction(p.view, parseAction('restore', { spec: 'src/fox.imgprompt.json', key: first.key }))
    expect(restored).toMatchObject({ written: true, cached: true, estimate: null, generate: false, key: first.key })
    expect(JSON.parse(await p.text('src/fox.imgprompt.json'))).toEqual({ prompt: 'a fox', ...SMALL, seed: 1, n: 1 })
    expect(suite.emulator.requests).toHaveLength(2)

    // An entry of another request is no earlier generation of this spec.
    await p.project.write('src/other.imgprompt.json', spec({ prompt: 'not a fox', ...SMALL }))
    expect((await p.service.generateAll([{ kind: 'file', file: p.file('src/other.imgprompt.json') }])).results[0]!.status).toBe('generated')
    const other = (await p.view.keyOf(await p.service.loadSpec({ kind: 'file', file: p.file('src/other.imgprompt.json') }))) as { key: string }
    const error = await refusal(performAction(p.view, parseAction('restore', { spec: 'src/fox.imgprompt.json', key: other.key })))
    expect(error.message).toMatch(/is not an earlier generation of this spec/)
  })
})

describe('the gallery state and page', () => {
  it('lists every spec with its kind, origin, importers and the fields of the files it may edit', async () => {
    const p = await open(
      {
        'src/hero.imgprompt.json': spec({ prompt: 'a hero', ...SMALL }),
        'src/main.js': "import hero from './hero.imgprompt.json'\nimport fox from 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=256x256'\nimport badge from 'virtual:ai-image/badge'\n",
        'src/page/other.ts': "import hero from '/src/hero.imgprompt.json?url'\n",
      },
      { images: { badge: { prompt: 'a badge', ...SMALL } } },
    )
    const state = await buildGalleryState(p.view, { mode: 'dev', projectName: 'p', imageSource: () => null })
    const byLabel = Object.fromEntries(state.specs.map((s) => [s.label, s]))
    expect(byLabel['src/hero.imgprompt.json']).toMatchObject({
      kind: 'file',
      editable: true,
      status: 'missing',
      origin: { kind: 'file', file: 'src/hero.imgprompt.json' },
      importers: ['src/main.js', 'src/page/other.ts'],
      fields: { prompt: 'a hero', ...SMALL },
      estimates: { another: { images: 1, usd: 0.016 }, more: { images: 2, usd: 0.032 }, generate: { images: 1, usd: 0.016 } },
    })
    expect(byLabel['virtual:ai-image/badge']).toMatchObject({ kind: 'named', editable: false, origin: { kind: 'option', name: 'badge' }, importers: ['src/main.js'] })
    expect(byLabel['virtual:ai-image/badge']!.fields).toBeUndefined()
    expect(byLabel['virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=256x256']).toMatchObject({ kind: 'query', editable: false, origin: { kind: 'import', files: ['src/main.js'] } })

    const page = renderGalleryPage(state, { apiBase: '/__ai-image/', token: 'tok' })
    expect(page).toContain('<meta name="ai-image-token" content="tok">')
    const hero = renderCard(byLabel['src/hero.imgprompt.json']!, 'dev')
    for (const action of ['another', 'more', 'save', 'generate']) expect(hero).toContain(`data-action="${action}"`)
    expect(hero).toContain('1 image, $0.016 est.')
    expect(renderCard(byLabel['virtual:ai-image/badge']!, 'dev')).not.toContain('data-action=')
    expect(renderCard(byLabel['src/hero.imgprompt.json']!, 'sheet')).not.toContain('data-action=')
  })

  it('user- and cache-controlled strings render inert: escaped in the HTML, `<` escaped in the embedded JSON', () => {
    const xss = '</script><img src=x onerror=alert(1)><!--'
    const state: GalleryState = {
      version: 1,
      mode: 'sheet',
      project: `<b>${xss}`,
      generatedAt: new Date(0).toISOString(),
      summary: { specs: 1, byStatus: { cached: 1 }, images: 1 },
      specs: [
        {
          label: `src/"${xss}.imgprompt.json`,
          kind: 'file',
          origin: { kind: 'file', file: `src/"${xss}.imgprompt.json` },
          editable: true,
          importers: [`src/${xss}.js`],
          history: [],
          status: 'invalid',
          error: `SPEC_INVALID ${xss}`,
          spec: { endpoint: 'generations', prompt: xss, model: xss, size: xss, quality: xss, n: 1, seed: xss, background: null, outputFormat: null, inputs: [xss], mask: null, alt: xss, knownModel: false, maxN: 10 },
          entry: { created: 0, provider: xss, deployment: xss, revisedPrompt: xss, usage: null, cost: null },
          candidates: [{ index: 0, width: 1, height: 1, mime: 'image/png', bytes: 1, sha256: 'a'.repeat(64), src: 'javascript:alert(1)', revisedPrompt: xss }],
          pick: 0,
        },
      ],
    }
    const page = renderGalleryPage(state)
    expect(page.match(/<script/g)).toHaveLength(2)
    expect(page.match(/<\/script>/g)).toHaveLength(2)
    expect(page).not.toContain('<img src=x')
    expect(page).not.toContain('<!--')
    expect(page).not.toMatch(/(?:src|href)="javascript:/)
    expect(page).not.toContain('<b>')
    const json = /<script type="application\/json" id="ai-image-state">([^<]*)<\/script>/.exec(page)![1]!
    expect(JSON.parse(json)).toEqual(state)
  })
})
