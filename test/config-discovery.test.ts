/**
 * The shared config file (ai-image.config.*) and project-wide spec discovery used by the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfigFile, mergeOptions } from '../src/core/config-file.js'
import { discoverSpecs } from '../src/core/discover.js'
import { resolveOptions } from '../src/core/options.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'

let project: TempProject
beforeAll(async () => {
  project = await makeProject({
    'src/a.imgprompt.json': spec({ prompt: 'a' }),
    'src/deep/b.imgprompt.json': spec({ prompt: 'b' }),
    'src/legacy/c.imgprompt.json': spec({ prompt: 'c' }),
    'node_modules/pkg/d.imgprompt.json': spec({ prompt: 'd' }),
    'dist/e.imgprompt.json': spec({ prompt: 'e' }),
    'src/main.ts': [
      "import fox from 'virtual:ai-image?prompt=a%20fox&size=1024x1024'",
      "import again from 'virtual:ai-image?prompt=a%20fox&size=1024x1024'",
      'const edit = import("virtual:ai-image?prompt=edit&image=./ref.png")',
      "import named from 'virtual:ai-image/badge'",
      "const caption = 'virtual:ai-image?prompt=not-an-import'",
      "export { default as reexported } from 'virtual:ai-image?prompt=re-export'",
    ].join('\n'),
    'src/other/x.ts': 'import e from "virtual:ai-image?prompt=edit&image=./ref.png"\n',
  })
})
afterAll(() => project.remove())

describe('config file', () => {
  it('is optional', async () => {
    expect(loadConfigFile(project.root)).toEqual({ options: {} })
  })

  it('loads TypeScript, ESM and JSON, preferring .ts', async () => {
    await project.write('ai-image.config.json', JSON.stringify({ concurrency: 2 }))
    expect(loadConfigFile(project.root).options).toEqual({ concurrency: 2 })
    await project.write('ai-image.config.mjs', 'export default { concurrency: 3 }\n')
    expect(loadConfigFile(project.root).options).toEqual({ concurrency: 3 })
    await project.write('ai-image.config.ts', "import type {} from 'node:fs'\nconst n: number = 5\nexport default { concurrency: n, defaults: { model: 'gpt-image-2' } }\n")
    const loaded = loadConfigFile(project.root)
    expect(loaded.options).toEqual({ concurrency: 5, defaults: { model: 'gpt-image-2' } })
    expect(loaded.file).toMatch(/ai-image\.config\.ts$/)
  })

  it('names the file when it is broken', async () => {
    await project.write('ai-image.config.ts', 'export default [1, 2]\n')
    expect(() => loadConfigFile(project.root)).toThrow(/SPEC_INVALID ai-image\.config\.ts: the config file must export an object/)
    await project.write('ai-image.config.ts', 'export default { concurrency: \n')
    expect(() => loadConfigFile(project.root)).toThrow(/SPEC_INVALID ai-image\.config\.ts: cannot load the config file/)
    await project.write('ai-image.config.ts', 'export default {}\n')
  })

  it('lets inline options win, merging nested options one level deep', () => {
    expect(
      mergeOptions(
        { concurrency: 2, openai: { baseURL: 'http://x/v1', organization: 'o' }, defaults: { model: 'dall-e-3' } },
        { concurrency: 8, openai: { apiKey: 'k' }, defaults: { model: 'gpt-image-2' } },
      ),
    ).toEqual({ concurrency: 8, openai: { baseURL: 'http://x/v1', organization: 'o', apiKey: 'k' }, defaults: { model: 'gpt-image-2' } })
  })
})

describe('discoverSpecs', () => {
  it('finds spec files, named specs and virtual imports in sources, once each', async () => {
    const options = resolveOptions({ images: { badge: { prompt: 'badge' } } }, { root: project.root, env: {} })
    const labels = (await discoverSpecs(options)).map((s) => s.label)
    expect(labels).toEqual([
      'src/a.imgprompt.json',
      'src/deep/b.imgprompt.json',
      'src/legacy/c.imgprompt.json',
      'virtual:ai-image/badge',
      'virtual:ai-image?prompt=a%20fox&size=1024x1024',
      // The same query with a relative image is a different spec in each folder.
      'virtual:ai-image?prompt=edit&image=./ref.png',
      'virtual:ai-image?prompt=re-export',
      'virtual:ai-image?prompt=edit&image=./ref.png',
    ])
  })

  it('honours include/exclude and narrows to command-line globs', async () => {
    const options = resolveOptions({ exclude: ['**/legacy/**', '**/node_modules/**'] }, { root: project.root, env: {} })
    const files = (await discoverSpecs(options)).filter((s) => s.ref.kind === 'file').map((s) => s.label)
    expect(files).toEqual(['src/a.imgprompt.json', 'src/deep/b.imgprompt.json'])
    expect((await discoverSpecs(options, ['src/deep/**'])).map((s) => s.label)).toEqual(['src/deep/b.imgprompt.json'])
  })
})
