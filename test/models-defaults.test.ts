/**
 * Model families and `defaults` (#12): a dated snapshot or an alias takes its family's capabilities, checks
 * and prices (the name written is what is sent and keyed); gpt-image-2 sizes are bounded by the documented
 * pixel counts; a project default applies to a spec only where its model takes it, while the spec's own
 * fields are checked strictly; a neutral value (`stream: false`) is accepted for every model and not sent.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { costFromUsage, estimateCost } from '../src/core/engine/cost.js'
import { modelCapabilities, modelFamily } from '../src/core/spec/models.js'
import { validateSpec } from '../src/core/spec/validate.js'
import type { AiImageOptions } from '../src/types.js'
import { makeService } from './helpers/engine.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
const ROOT = import.meta.dirname

function validate(fields: Record<string, unknown>, defaults: Record<string, unknown> = {}) {
  const warnings: string[] = []
  const spec = validateSpec({ source: { kind: 'named', name: 'x' }, label: 'x', dir: ROOT, fields }, { root: ROOT, defaults, warn: (m) => void warnings.push(m) })
  return { spec, warnings }
}

describe('model families', () => {
  it('gives a dated snapshot and chatgpt-image-latest the capabilities of their family', () => {
    expect(modelFamily('gpt-image-2-2026-04-21')).toBe('gpt-image-2')
    expect(modelFamily('gpt-image-1-2025-04-15')).toBe('gpt-image-1')
    expect(modelFamily('chatgpt-image-latest')).toBe('gpt-image-1.5')
    expect(modelFamily('gpt-image-9-2030-01-01')).toBeUndefined()
    expect(modelFamily('acme-2026-01-01')).toBeUndefined()
    expect(modelCapabilities('gpt-image-2-2026-04-21')).toBe(modelCapabilities('gpt-image-2'))

    const snapshot = validate({ prompt: 'p', model: 'gpt-image-2-2026-04-21', size: '1024x1024' })
    expect(snapshot.spec.knownModel).toBe(true)
    expect(snapshot.warnings).toEqual([])
    // What is written is what is sent and keyed.
    expect(snapshot.spec.request.model).toBe('gpt-image-2-2026-04-21')
    // gpt-image-2 takes no input_fidelity, its snapshot neither.
    expect(() => validate({ prompt: 'p', model: 'gpt-image-2-2026-04-21', image: './x.png', input_fidelity: 'high' })).toThrow(/input_fidelity.*not accepted by gpt-image-2-2026-04-21/)
    expect(() => validate({ prompt: 'p', model: 'chatgpt-image-latest', size: '1792x1024' })).toThrow(/size.*1792x1024.*not allowed for chatgpt-image-latest/)
    expect(() => validate({ prompt: 'p', model: 'gpt-image-1-2025-04-15', n: 11 })).toThrow(/"n"/)
  })

  it('prices a snapshot and an alias as their family, from the table and from usage', () => {
    const request = { n: 1, quality: 'medium', size: '1024x1024' }
    expect(estimateCost({ model: 'gpt-image-1-2025-04-15', request }).usd).toBe(estimateCost({ model: 'gpt-image-1', request }).usd)
    expect(estimateCost({ model: 'chatgpt-image-latest', request }).usd).toBeCloseTo(0.034)
    const usage = { input_tokens: 60, output_tokens: 1056, input_tokens_details: { text_tokens: 60, image_tokens: 0 } }
    expect(costFromUsage('gpt-image-2-2026-04-21', usage)).toEqual(costFromUsage('gpt-image-2', usage))
    expect(costFromUsage('gpt-image-2-2026-04-21', usage)!.usd).toBeCloseTo((60 * 5 + 1056 * 30) / 1e6, 12)
  })

  it('bounds gpt-image-2 sizes by 655,360 to 8,294,400 pixels, multiples of 16, a long side up to 3840 and 3:1', () => {
    for (const size of ['1024x640', '1024x1024', '1536x1024', '2048x1152', '3840x2160', '2160x3840', '2880x2880', 'auto']) {
      expect(validate({ prompt: 'p', model: 'gpt-image-2', size }).spec.request.size).toBe(size)
    }
    for (const size of ['16x16', '256x256', '1008x640', '3840x2176', '3856x1280', '3072x1008', '1000x1000']) {
      expect(() => validate({ prompt: 'p', model: 'gpt-image-2', size }), size).toThrow(/SPEC_INVALID.*"size".*655,360 to 8,294,400 pixels/)
    }
    // The snapshot too.
    expect(() => validate({ prompt: 'p', model: 'gpt-image-2-2026-04-21', size: '16x16' })).toThrow(/not allowed for gpt-image-2-2026-04-21/)
  })
})

describe('defaults apply where the model takes them', () => {
  it("leaves a dall-e-3 spec at its own quality under defaults: { quality: 'medium' }, and checks the spec's own quality", () => {
    const defaults = { quality: 'medium', output_format: 'jpeg', size: '1536x1024' }
    const dalle = validate({ prompt: 'p', model: 'dall-e-3' }, defaults).spec
    expect(dalle.request).toMatchObject({ quality: 'standard', size: '1024x1024' })
    expect(dalle.request).not.toHaveProperty('output_format')
    expect(dalle.userSet).toEqual(['model', 'prompt'])
    const gpt = validate({ prompt: 'p', model: 'gpt-image-1.5' }, defaults).spec
    expect(gpt.request).toMatchObject({ quality: 'medium', output_format: 'jpeg', size: '1536x1024' })
    expect(gpt.userSet).toEqual(expect.arrayContaining(['quality', 'output_format', 'size']))
    // Explicit fields are still checked strictly.
    expect(() => validate({ prompt: 'p', model: 'dall-e-3', quality: 'medium' }, defaults)).toThrow(/"quality".*"medium" is not allowed for dall-e-3/)
  })

  it('lets a spec field win over a default it conflicts with (transparent background vs. a jpeg default)', () => {
    const spec = validate({ prompt: 'p', model: 'gpt-image-1.5', background: 'transparent' }, { output_format: 'jpeg' }).spec
    expect(spec.request).toMatchObject({ background: 'transparent', output_format: 'png' })
    expect(() => validate({ prompt: 'p', model: 'gpt-image-1.5', background: 'transparent', output_format: 'jpeg' })).toThrow(/transparent/)
  })

  it('accepts stream: false and partial_images: 0 on every model, and sends neither', async () => {
    expect(validate({ prompt: 'p', model: 'dall-e-3', stream: false, partial_images: 0 }).spec.transport).toEqual({ stream: false, partialImages: 0 })
    expect(() => validate({ prompt: 'p', model: 'dall-e-3', stream: true })).toThrow(/"stream" is not accepted by dall-e-3/)
    const { requests } = await generate({ prompt: 'a calm lake', model: 'dall-e-3', stream: false })
    expect(requests.map((r) => r.body)).toEqual([{ model: 'dall-e-3', prompt: 'a calm lake', response_format: 'b64_json' }])
  })

  it('streams without partial_images on the wire when none are asked for', async () => {
    const { requests } = await generate({ prompt: 'a quick stream', model: 'gpt-image-1.5', quality: 'low', size: '1024x1024', stream: true })
    expect(requests.map((r) => r.body)).toEqual([{ model: 'gpt-image-1.5', prompt: 'a quick stream', quality: 'low', size: '1024x1024', stream: true }])
  })

  it('sends a default the project set where the model takes it, and nothing of it where it does not', async () => {
    const defaults: AiImageOptions['defaults'] = { quality: 'medium' }
    const gpt = await generate({ prompt: 'a harbour', model: 'gpt-image-1.5', size: '1024x1024' }, { defaults })
    expect(gpt.requests.map((r) => r.body)).toEqual([{ model: 'gpt-image-1.5', prompt: 'a harbour', size: '1024x1024', quality: 'medium' }])
    suite.emulator.reset()
    const dalle = await generate({ prompt: 'a harbour', model: 'dall-e-3' }, { defaults })
    expect(dalle.error).toBeUndefined()
    expect(dalle.requests.map((r) => r.body)).toEqual([{ model: 'dall-e-3', prompt: 'a harbour', response_format: 'b64_json' }])
  })

  it('keys an omitted default and an explicit one alike, though only the explicit one is sent', async () => {
    const omitted = validate({ prompt: 'p', model: 'gpt-image-1.5' }).spec
    const explicit = validate({ prompt: 'p', model: 'gpt-image-1.5', quality: 'auto', size: 'auto', n: 1, output_format: 'png', background: 'auto' }).spec
    expect(explicit.request).toEqual(omitted.request)
    expect(omitted.userSet).toEqual(['model', 'prompt'])
    expect(explicit.userSet).toEqual(expect.arrayContaining(['quality', 'size', 'n', 'output_format', 'background']))
  })
})

async function generate(fields: Record<string, unknown>, options: AiImageOptions = {}) {
  const project = await suite.project({})
  await writeFile(path.join(project.root, 'x.imgprompt.json'), spec(fields))
  const ref = { kind: 'file' as const, file: path.join(project.root, 'x.imgprompt.json') }
  const h = makeService(suite.emulator, project, options)
  try {
    const error = await h.service.resolve(await h.service.loadSpec(ref)).then(
      () => undefined,
      (e: Error) => e,
    )
    return { error, requests: [...suite.emulator.requests] }
  } finally {
    await h.service.close()
  }
}
