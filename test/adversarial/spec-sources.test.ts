/**
 * Spec sources are untrusted text: a `virtual:ai-image?…` query or a named id written in any source file,
 * a spec file from a pull request, the `images` option merged from a config file. Parsing them never
 * reaches a prototype, never lets a repeated or contradictory field silently win, and never throws
 * anything but SPEC_INVALID naming the spec and the field. Prompts of any characters render offline.
 */
import { open, symlink } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { AiImageError } from '../../src/core/errors.js'
import { mergeOptions } from '../../src/core/config-file.js'
import { discoverSpecs } from '../../src/core/discover.js'
import { resolveOptions } from '../../src/core/options.js'
import { renderPlaceholders } from '../../src/core/providers/placeholder/provider.js'
import { namedSpec, parseQuerySpec, readSpecFile, type RawSpec } from '../../src/core/spec/source.js'
import { validateSpec } from '../../src/core/spec/validate.js'
import { specRefOf } from '../../src/plugin/ids.js'
import { withEnv } from '../helpers/env.js'
import { makeProject, spec } from '../helpers/project.js'
import { emulatorSuite, failure } from '../helpers/suite.js'
import { viteBuild } from '../helpers/vite.js'

const suite = emulatorSuite()
const DIR = '/project/src'
const parse = (query: string) => parseQuerySpec(query, DIR, `virtual:ai-image?${query}`)
const validate = (raw: RawSpec) => validateSpec(raw, { root: '/project', defaults: {}, warn: () => {} })

/** The SPEC_INVALID error `fn` throws; fails the test on any other outcome. */
function specError(fn: () => unknown): AiImageError {
  try {
    fn()
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(AiImageError)
    expect((error as AiImageError).code).toBe('SPEC_INVALID')
    return error as AiImageError
  }
  throw new Error('expected SPEC_INVALID, but it was accepted')
}

describe('virtual:ai-image queries', () => {
  it.each([
    ['__proto__=1', '__proto__'],
    ['prompt=a&__proto__=x', '__proto__'],
    ['prompt=a&constructor=x', 'constructor'],
    ['prompt=a&prototype=x', 'prototype'],
    ['prompt=a&emit.__proto__=x', 'emit.__proto__'],
    ['prompt=a&emit.constructor=x', 'emit.constructor'],
    ['prompt=a&__proto__.polluted=x', '__proto__.polluted'],
  ])('refuses %s as an unknown field', (query, field) => {
    const error = specError(() => parse(query))
    expect([error.file, error.field]).toEqual([`virtual:ai-image?${query}`, field])
    expect(error.message).toContain('not a known field')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('builds its fields on an object without a prototype', () => {
    const raw = parse('prompt=a%20cat&emit.format=webp')
    expect(Object.getPrototypeOf(raw.fields)).toBeNull()
    expect(Object.getPrototypeOf(raw.fields.emit)).toBeNull()
    expect(validate(raw).emit.format).toBe('webp')
  })

  it.each([
    ['prompt=a&prompt=b', 'prompt'],
    ['prompt=a&n=1&n=2', 'n'],
    ['prompt=a&emit.format=png&emit.format=webp', 'emit.format'],
    ['prompt=a&seed=1&seed=1', 'seed'],
  ])('refuses a scalar field given twice: %s', (query, field) => {
    const error = specError(() => parse(query))
    expect(error.field).toBe(field)
    expect(error.message).toContain('given more than once')
  })

  it('lets lists repeat: image and emit.widths', () => {
    const raw = parse('prompt=a&image=a.png&image=b.png&emit.widths=320&emit.widths=640,1280')
    expect(raw.fields.image).toEqual(['a.png', 'b.png'])
    expect((raw.fields.emit as Record<string, unknown>).widths).toEqual([320, 640, 1280])
  })

  it.each(['prompt=a&emit=webp&emit.format=png', 'prompt=a&emit.format=png&emit=webp'])(
    'refuses a nested field given both whole and dotted: %s',
    (query) => {
      const error = specError(() => parse(query))
      expect(error.field).toBe('emit')
      expect(error.message).toContain('emit.format=')
    },
  )

  it.each([
    ['prompt=a&emit.format.x=1', 'emit.format.x', 'one level'],
    ['prompt=a&size.x=1', 'size.x', 'not a known field'],
    ['prompt=a&nothing.x=1', 'nothing.x', 'not a known field'],
    ['prompt=a&=b', '', 'empty field name'],
  ])('refuses the dotted or empty name in %s', (query, field, words) => {
    const error = specError(() => parse(query))
    expect(error.field).toBe(field)
    expect(error.message).toContain(words)
  })

  it.each(['prompt=%E0%A4%A', 'prompt=a&%E0%A4%A=1', 'prompt=%C3'])('refuses a malformed percent-escape: %s', (query) => {
    const error = specError(() => parse(query))
    expect(error.file).toBe(`virtual:ai-image?${query}`)
    expect(error.message).toContain('percent-escape')
  })

  it('leaves values that fail strict coercion to the validator, which names them', () => {
    for (const [query, field] of [
      ['prompt=a&n=2.5', 'n'],
      ['prompt=a&n=0x10', 'n'],
      ['prompt=a&stream=yes', 'stream'],
      ['prompt=a&emit.widths=64,abc', 'emit.widths'],
      ['prompt=a&emit=webp', 'emit'],
    ] as const) {
      const error = specError(() => validate(parse(query)))
      expect(error.field, query).toBe(field)
    }
  })

  it('answers any query with a spec or SPEC_INVALID, never a raw error', () => {
    const names = ['prompt', 'n', 'emit', 'emit.format', 'emit.widths', 'image', '__proto__', 'constructor', 'toString', 'emit.x.y', '', '%', '%zz', 'a.b.c']
    const values = ['', 'a', '1', '-1', '1e3', '%', '%E0%A4%A', '\u0000', 'true', '64,128', '%ZZ']
    let queries = 0
    for (const first of names) {
      for (const second of names) {
        for (const value of values) {
          const query = `${encodeURIComponent(first)}=${encodeURIComponent(value)}&${second}=${value}`
          queries++
          try {
            validate(parse(query))
          } catch (error) {
            expect(error, query).toBeInstanceOf(AiImageError)
            expect((error as AiImageError).code, query).toBe('SPEC_INVALID')
            expect((error as AiImageError).file, query).toBe(`virtual:ai-image?${query}`)
          }
        }
      }
    }
    expect(queries).toBe(names.length * names.length * values.length)
  })
})

describe('named specs', () => {
  const options = { root: '/project', isSpecFile: () => false }

  it('a malformed percent-escape in a named id is SPEC_INVALID naming the id, not a URIError', () => {
    const error = specError(() => specRefOf('\0virtual:ai-image/%E0%A4%A', options))
    expect(error.file).toBe('virtual:ai-image/%E0%A4%A')
    expect(error.message).toContain('percent-escape')
    expect(specRefOf('\0virtual:ai-image/my%20hero', options)).toEqual({ kind: 'named', name: 'my hero' })
  })

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('a name like %s never reaches a prototype', (name) => {
    const error = specError(() => namedSpec(name, { hero: { prompt: 'a hero' } }, '/project'))
    expect([error.file, error.field]).toEqual([`virtual:ai-image/${name}`, 'images'])
  })

  it('an own "__proto__" entry (from JSON) is an ordinary name, also after merging config and inline options', () => {
    const fromFile = JSON.parse('{ "images": { "__proto__": { "prompt": "from the file" } } }')
    const inline = JSON.parse('{ "images": { "hero": { "prompt": "inline" } } }')
    const merged = mergeOptions(fromFile, inline)
    expect(Object.getPrototypeOf(merged.images)).toBe(Object.prototype)
    expect(Object.keys(merged.images!).sort()).toEqual(['__proto__', 'hero'])
    expect(namedSpec('__proto__', merged.images!, '/project').fields).toEqual({ prompt: 'from the file' })
    expect(Object.getPrototypeOf(namedSpec('__proto__', merged.images!, '/project').fields)).toBe(Object.prototype)
  })

  it('merging options never sets a prototype from an own "__proto__" key', () => {
    const merged = mergeOptions({}, JSON.parse('{ "__proto__": { "provider": "openai", "frozen": true } }'))
    expect(Object.getPrototypeOf(merged)).not.toHaveProperty('provider')
    expect(merged.provider).toBeUndefined()
    expect(merged.frozen).toBeUndefined()
  })
})

describe('spec files', () => {
  it('refuses "__proto__" and "constructor" keys in a spec file as unknown fields', async () => {
    const project = suite.keep(
      await makeProject({
        'a.imgprompt.json': '{ "prompt": "a", "__proto__": { "model": "dall-e-2" } }',
        'b.imgprompt.json': '{ "prompt": "a", "emit": { "constructor": "x" } }',
      }),
    )
    for (const [file, field] of [['a.imgprompt.json', '__proto__'], ['b.imgprompt.json', 'emit.constructor']] as const) {
      const raw = await readSpecFile(`${project.root}/${file}`, project.root)
      const error = specError(() => validateSpec(raw, { root: project.root, defaults: {}, warn: () => {} }))
      expect([error.file, error.field]).toEqual([file, field])
    }
  })
})

describe('discovery of virtual imports (the ai-image command)', () => {
  it('reads no source that links out of the root or is over 16 MiB', async () => {
    const far = suite.keep(await makeProject({ 'far.js': "import x from 'virtual:ai-image?prompt=from%20outside'\n" }))
    const project = suite.keep(await makeProject({ 'src/main.js': "import x from 'virtual:ai-image?prompt=own'\n" }))
    await symlink(path.join(far.root, 'far.js'), path.join(project.root, 'src/linked.js'))
    // A huge source that starts with an import: reading it whole would find it.
    const handle = await open(path.join(project.root, 'src/huge.js'), 'w')
    await handle.write("import y from 'virtual:ai-image?prompt=huge'\n")
    await handle.truncate(17 * 1024 * 1024)
    await handle.close()
    const specs = await discoverSpecs(resolveOptions({}, { root: project.root, env: {} }))
    expect(specs.map((s) => s.label)).toEqual(['virtual:ai-image?prompt=own'])
  })
})

describe('malformed queries in a real vite build', () => {
  it.each([
    ['virtual:ai-image/%E0%A4%A', 'virtual:ai-image/%E0%A4%A', '', 'percent-escape'],
    ['virtual:ai-image?prompt=a&prompt=b&model=gpt-image-2&size=1024x1024', 'virtual:ai-image?prompt=a&prompt=b&', 'prompt', 'more than once'],
    ['virtual:ai-image?prompt=a&emit=webp&emit.format=png&model=gpt-image-2&size=1024x1024', 'virtual:ai-image?prompt=a&emit=webp&', 'emit', 'emit.format='],
    ['virtual:ai-image?prompt=a&__proto__=x&model=gpt-image-2&size=1024x1024', 'virtual:ai-image?prompt=a&__proto__=x&', '__proto__', 'not a known field'],
    ['virtual:ai-image?prompt=%E0%A4%A&model=gpt-image-2&size=1024x1024', 'virtual:ai-image?prompt=', 'prompt', 'percent-escape'],
  ])('%s fails with SPEC_INVALID and sends nothing', async (id, label, field, words) => {
    const project = await suite.project({ 'src/main.js': `import url from '${id}'\nconsole.log(url)\n` })
    const error = await failure(withEnv(suite.openaiEnv(), () => viteBuild(project.root)))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain(label)
    if (field) expect(error.message).toContain(`field "${field}"`)
    expect(error.message).toContain(words)
    expect(error.message).not.toMatch(/URIError|TypeError/)
    expect(suite.emulator.requests).toHaveLength(0)
  })
})

/** Every C0 control character, a lone surrogate of each kind, an ANSI colour and the two XML non-characters. */
const HOSTILE_PROMPT = `a ${Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')} owl \ud800 \udfff \u001b[31mred\u001b[0m \ufffe\uffff <&>"' end`

describe('placeholder images of any prompt', () => {
  it('renders a prompt of control characters and lone surrogates in a real build without a key', async () => {
    const project = await suite.project({
      'src/main.js': "import a, { width, alt } from './a.imgprompt.json'\nconsole.log(a, width, alt)\n",
      'src/a.imgprompt.json': spec({ prompt: HOSTILE_PROMPT, model: 'gpt-image-2', size: '1280x768' }),
    })
    await withEnv({ OPENAI_API_KEY: undefined, AZURE_OPENAI_ENDPOINT: undefined, CI: undefined }, () => viteBuild(project.root))
    const image = (await project.list('dist/assets')).find((f) => /^a-[\w-]+\.png$/.test(f))!
    expect(image).toBeDefined()
    const meta = await sharp(await project.read(`dist/assets/${image}`)).metadata()
    expect([meta.width, meta.height]).toEqual([1280, 768])
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it.each([
    ['every control character', HOSTILE_PROMPT],
    ['only a NUL', '\u0000'],
    ['an unknown model name with controls', 'x'],
  ])('renders %s', async (_what, prompt) => {
    const model = _what.startsWith('an unknown model') ? 'my\u0000model\ud800' : 'gpt-image-2'
    const result = await renderPlaceholders({ label: 'x', key: 'ab'.repeat(32), endpoint: 'generations', params: { prompt, model, size: '128x96', n: 1 }, inputs: [] })
    const meta = await sharp(result.images[0]!.data).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 96])
  })
})
