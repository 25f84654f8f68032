/**
 * webpack and Rspack apply the plugin's load rule by path, before their own JSON and asset handling. Only
 * spec files the options include may reach it: a binary asset keeps its bytes, and a plain JSON file and
 * an excluded spec file stay JSON.
 */
import { readFile } from 'node:fs/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from '../helpers/project.js'
import { rspackDriver, webpackDriver } from './drivers.js'
import { solidPng } from './fixture.js'
import { assetFile, loadApp } from './suite.js'

const projects: TempProject[] = []
afterAll(() => Promise.all(projects.map((p) => p.remove())))

interface Result {
  photo: string
  data: unknown
  excluded: unknown
  hero: string
  width: number
}

describe.each([webpackDriver, rspackDriver])('$name leaves every other file to the bundler', (driver) => {
  it('keeps binary assets byte for byte and parses plain JSON and excluded spec files as JSON', async () => {
    const photo = await solidPng('#123456')
    const project = await makeProject({
      'src/main.js': [
        "import photo from './photo.png'",
        "import data from './data.json'",
        "import excluded from './vendor/raw.imgprompt.json'",
        "import hero, { width } from './hero.imgprompt.json'",
        'export const result = { photo, data, excluded, hero, width }',
      ].join('\n'),
      'src/photo.png': photo,
      'src/data.json': '{ "answer": 42 }\n',
      'src/vendor/raw.imgprompt.json': spec({ prompt: 'not for the plugin', size: '1x1' }),
      'src/hero.imgprompt.json': spec({ prompt: 'a kite', model: 'gpt-image-2', size: '1024x1024' }),
    })
    projects.push(project)
    const assetRule = { test: /\.png$/, type: 'asset/resource', generator: { filename: 'media/[name]-[contenthash:8][ext]' } }
    const run = await driver.buildWithRules(project.root, { provider: 'placeholder', exclude: ['**/vendor/**'] }, [assetRule])
    const result = (await loadApp(run)) as unknown as Result

    expect(result.data).toEqual({ answer: 42 })
    expect(result.excluded).toEqual({ prompt: 'not for the plugin', size: '1x1' })
    expect(result.width).toBe(1024)
    expect(result.photo).toMatch(/media\/photo-\w{8}\.png$/)
    expect((await readFile(assetFile(driver, run, result.photo))).equals(photo)).toBe(true)
    expect(result.hero).toMatch(/assets\/hero-[0-9a-f]{8}\.png$/)
  })
})
