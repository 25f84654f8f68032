/**
 * The default `include`/`exclude` are matched by plain string tests (picomatch loads only for a project's own
 * globs): they must match exactly what picomatch matches for those globs.
 */
import picomatch from 'picomatch'
import { describe, expect, it } from 'vitest'
import { DEFAULTS, isDefaultExcluded, isDefaultIncluded, resolveOptions } from '../src/core/options.js'

const SUBJECTS = [
  'a.imgprompt.json',
  '.imgprompt.json',
  'src/hero.imgprompt.json',
  'src/.hidden/hero.imgprompt.json',
  '.git/hero.imgprompt.json',
  '/abs/project/src/hero.imgprompt.json',
  'C:/work/project/hero.imgprompt.json',
  'node_modules/pkg/hero.imgprompt.json',
  'src/node_modules/pkg/deep/hero.imgprompt.json',
  '/x/node_modules/hero.imgprompt.json',
  'node_modules.imgprompt.json',
  'src/.node_modules/hero.imgprompt.json',
  'src/node_modulesx/hero.imgprompt.json',
  'a.imgprompt.json/b',
  'a.imgprompt.jsonx',
  'hero.imgprompt.JSON',
  'a//b.imgprompt.json',
  './a.imgprompt.json',
  '../a.imgprompt.json',
  'a/../b.imgprompt.json',
  'a/./node_modules/b.imgprompt.json',
  'node_modules',
  'src/node_modules',
  'hero.json',
]

describe('the default spec globs without picomatch', () => {
  const included = picomatch([...DEFAULTS.include], { dot: true })
  const excluded = picomatch([...DEFAULTS.exclude], { dot: true })
  for (const subject of SUBJECTS) {
    it(`matches ${JSON.stringify(subject)} as picomatch does`, () => {
      expect([isDefaultIncluded(subject), isDefaultExcluded(subject)]).toEqual([included(subject), excluded(subject)])
    })
  }

  it('a project of its own globs gets picomatch', () => {
    const root = '/p'
    const options = resolveOptions({ include: ['images/*.imgprompt.json'], exclude: ['images/draft-*'] }, { root, env: {} })
    expect(options.isSpecFile('/p/images/a.imgprompt.json')).toBe(true)
    expect(options.isSpecFile('/p/images/draft-a.imgprompt.json')).toBe(false)
    expect(options.isSpecFile('/p/src/a.imgprompt.json')).toBe(false)
  })
})
