/**
 * A corpus of malformed specs, each built with a real `vite build`: every one fails with SPEC_INVALID
 * naming the file and the field, no request is made and nothing is written to the cache.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { withEnv } from './helpers/env.js'
import { spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'
import type { AiImageOptions } from '../src/types.js'

interface Case {
  name: string
  /** Spec file text, or fields to serialize. */
  content: string | Record<string, unknown>
  /** Field the message must name ('' for whole-file problems). */
  field: string
  /** More text the message must contain (the bad value, what is allowed, the fix). */
  says: string[]
  options?: AiImageOptions
}

const CASES: Case[] = [
  { name: 'broken JSON gives line and column', content: '{\n  "prompt": "a cat"\n  "size": "1024x1024"\n}\n', field: '', says: ['not valid JSON', 'line 3, column 3'] },
  { name: 'truncated JSON', content: '{ "prompt": "a cat", ', field: '', says: ['not valid JSON', 'line 1'] },
  { name: 'not an object', content: '["a cat"]', field: '', says: ['JSON object'] },
  { name: 'unknown field with a suggestion', content: { promt: 'a cat' }, field: 'promt', says: ['not a known field', 'Did you mean "prompt"'] },
  { name: 'unknown emit field', content: { prompt: 'a cat', emit: { formats: 'webp' } }, field: 'emit.formats', says: ['Did you mean "emit.format"'] },
  { name: 'response_format is chosen by the plugin', content: { prompt: 'a cat', response_format: 'url' }, field: 'response_format', says: ['b64_json'] },
  { name: 'missing prompt', content: { size: '1024x1024' }, field: 'prompt', says: ['is missing'] },
  { name: 'size not allowed for the model', content: { prompt: 'a cat', model: 'gpt-image-1.5', size: '1792x1024' }, field: 'size', says: ['"1792x1024"', 'gpt-image-1.5', '1536x1024'] },
  { name: 'gpt-image-2 size not a multiple of 16', content: { prompt: 'a cat', model: 'gpt-image-2', size: '1000x1000' }, field: 'size', says: ['multiples of 16'] },
  { name: 'gpt-image-2 ratio over 3:1', content: { prompt: 'a cat', model: 'gpt-image-2', size: '3200x1008' }, field: 'size', says: ['ratio'] },
  { name: 'n out of range on dall-e-3', content: { prompt: 'a cat', model: 'dall-e-3', n: 11 }, field: 'n', says: ['at most 10'] },
  { name: 'n of the wrong type', content: { prompt: 'a cat', n: '2' }, field: 'n', says: ['must be an integer', 'string "2"'] },
  { name: 'prompt over the model limit', content: { prompt: 'x'.repeat(1001), model: 'dall-e-2' }, field: 'prompt', says: ['1001 characters', 'at most 1000'] },
  { name: 'quality of another model', content: { prompt: 'a cat', model: 'gpt-image-1.5', quality: 'hd' }, field: 'quality', says: ['"hd"', 'low, medium, high, auto'] },
  { name: 'style on a GPT image model', content: { prompt: 'a cat', model: 'gpt-image-1', style: 'natural' }, field: 'style', says: ['not accepted by gpt-image-1'] },
  { name: 'moderation on dall-e-2', content: { prompt: 'a cat', model: 'dall-e-2', moderation: 'low' }, field: 'moderation', says: ['not accepted'] },
  { name: 'transparent background as jpeg', content: { prompt: 'a cat', background: 'transparent', output_format: 'jpeg' }, field: 'background', says: ['png or webp'] },
  { name: 'compression on png', content: { prompt: 'a cat', output_compression: 50 }, field: 'output_compression', says: ['no effect on png'] },
  { name: 'pick beyond n', content: { prompt: 'a cat', n: 2, pick: 2 }, field: 'pick', says: ['out of range', '0 to 1'] },
  { name: 'partial_images without stream', content: { prompt: 'a cat', partial_images: 2 }, field: 'partial_images', says: ['stream'] },
  { name: 'input_fidelity on a generation', content: { prompt: 'a cat', input_fidelity: 'high' }, field: 'input_fidelity', says: ['/images/generations'] },
  { name: 'mask without image', content: { prompt: 'a cat', mask: 'mask.png' }, field: 'mask', says: ['only used by edits'] },
  { name: 'input path outside the project root', content: { prompt: 'a cat', image: '../../../outside.png' }, field: 'image', says: ['outside the project root'] },
  { name: 'input image that does not exist', content: { prompt: 'a cat', image: 'nope.png' }, field: 'image', says: ['does not exist', 'src/nope.png'] },
  { name: 'dall-e-3 cannot edit', content: { prompt: 'a cat', model: 'dall-e-3', image: 'input.png' }, field: 'image', says: ['an edit, which dall-e-3 cannot do', 'gpt-image-1.5'] },
  { name: 'variations only on dall-e-2', content: { model: 'gpt-image-1.5', image: 'input.png' }, field: 'image', says: ['a variation, which gpt-image-1.5 cannot do', 'dall-e-2'] },
  { name: 'emit width of zero', content: { prompt: 'a cat', emit: { widths: [0, 640] } }, field: 'emit.widths', says: ['from 1 to'] },
  { name: 'empty model name', content: { prompt: 'a cat', model: '' }, field: 'model', says: ['must not be empty'] },
  // A default the spec's model does not take no longer fails the spec: it does not apply to it (#12;
  // test/wire-minimal.test.ts). The spec's own fields are still checked strictly:
  {
    name: 'a spec size the model does not take, whatever the defaults',
    content: { prompt: 'a cat', model: 'dall-e-3', size: '1536x1024' },
    options: { defaults: { size: '1536x1024' } },
    field: 'size',
    says: ['1536x1024', 'is not allowed for dall-e-3', '1792x1024'],
  },
]

const suite = emulatorSuite()
let project: TempProject

beforeAll(async () => {
  project = await suite.project({
    'src/main.js': "import url from './bad.imgprompt.json'\nconsole.log(url)\n",
    // A real PNG for cases that need an existing input.
    'src/input.png': Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
      'base64',
    ),
  })
})

describe('malformed specs', () => {
  it('has a corpus of at least 15 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(15)
  })

  for (const c of CASES) {
    it(c.name, async () => {
      await project.write('src/bad.imgprompt.json', typeof c.content === 'string' ? c.content : spec(c.content))
      const error = await withEnv(suite.openaiEnv(), () => viteBuild(project.root, c.options)).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(error, 'the build must fail').toBeDefined()
      const message = error!.message
      expect(message).toContain('SPEC_INVALID')
      expect(message).toContain('src/bad.imgprompt.json')
      if (c.field) expect(message).toContain(`field "${c.field}"`)
      for (const text of c.says) expect(message).toContain(text)
      expect(suite.emulator.requests).toHaveLength(0)
      expect(await project.list('.ai-image')).toEqual([])
    })
  }
})
