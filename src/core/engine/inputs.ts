/**
 * Input images of edits and variations: read, identify, check against the model's limits before any
 * spending, and hash for the cache key. A `*.imgprompt.json` input is a chain: its picked output image
 * is the input, obtained (and generated if need be) first.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { specInvalid } from '../errors.js'
import { sha256 } from '../cache/key.js'
import { modelCapabilities } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { ProviderInput } from '../providers/types.js'
import { extensionOf } from '../cache/store.js'
import { readImageFacts, type ImageFacts } from './verify.js'

export interface ResolvedInput extends ProviderInput {
  sha256: string
  facts: ImageFacts
}

/** Gives the picked output of another spec file (generating it if need be). */
export type ChainResolver = (specFile: string) => Promise<{ data: Buffer; mime: string; sha256: string }>

export function isSpecPath(file: string): boolean {
  return file.endsWith('.imgprompt.json')
}

export async function resolveInputs(
  spec: ValidatedSpec,
  root: string,
  chain: ChainResolver,
): Promise<{ inputs: ResolvedInput[]; mask?: ResolvedInput }> {
  const field = (i: number) => (spec.inputs.length > 1 ? `image[${i}]` : 'image')
  const inputs: ResolvedInput[] = []
  for (const [i, file] of spec.inputs.entries()) {
    inputs.push(await readInput(spec, root, file, field(i), chain))
  }
  const mask = spec.mask === undefined ? undefined : await readInput(spec, root, spec.mask, 'mask', chain)
  checkInputs(spec, inputs, mask)
  return { inputs, ...(mask ? { mask } : {}) }
}

async function readInput(spec: ValidatedSpec, root: string, file: string, field: string, chain: ChainResolver): Promise<ResolvedInput> {
  const shown = path.relative(root, file).split(path.sep).join('/')
  let data: Buffer
  let digest: string
  if (isSpecPath(file)) {
    const upstream = await chain(file)
    data = upstream.data
    digest = upstream.sha256
  } else {
    try {
      data = await readFile(file)
    } catch (error) {
      throw specInvalid(spec.label, field, `cannot read ${shown} (${(error as NodeJS.ErrnoException).code})`)
    }
    digest = sha256(data)
  }
  const facts = await readImageFacts(data)
  if (!facts) throw specInvalid(spec.label, field, `${shown} is not a PNG, JPEG or WebP image`)
  const base = path.basename(file).replace(/\.imgprompt\.json$/, '').replace(/\.[^.]+$/, '')
  return { name: `${base}.${extensionOf(facts.mime)}`, data, mime: facts.mime, sha256: digest, facts }
}

/**
 * Every file the image of `spec` depends on, for watchers: its inputs and mask and, through chains, the
 * upstream spec files and their own inputs (an edit of an edit changes when the first spec changes).
 * A spec that fails to load still counts as a dependency; `resolve` reports its error.
 */
export async function specDependencies(spec: ValidatedSpec, load: (specFile: string) => Promise<ValidatedSpec>): Promise<string[]> {
  const found = new Set<string>()
  const visit = async (current: ValidatedSpec): Promise<void> => {
    for (const file of [...current.inputs, ...(current.mask ? [current.mask] : [])]) {
      if (found.has(file)) continue // also stops at a cycle, which `resolve` reports
      found.add(file)
      if (!isSpecPath(file)) continue
      const upstream = await load(file).catch(() => undefined)
      if (upstream) await visit(upstream)
    }
  }
  await visit(spec)
  return [...found]
}

/** The model's input rules (API-FACTS.md), checked before spending. */
function checkInputs(spec: ValidatedSpec, inputs: ResolvedInput[], mask: ResolvedInput | undefined): void {
  const caps = modelCapabilities(spec.model)
  const rules = caps?.editInputs
  if (rules) {
    const field = (i: number) => (inputs.length > 1 ? `image[${i}]` : 'image')
    if (inputs.length > rules.max) {
      throw specInvalid(spec.label, 'image', `${spec.model} takes at most ${rules.max} input image${rules.max > 1 ? 's' : ''}, got ${inputs.length}`)
    }
    for (const [i, input] of inputs.entries()) {
      if (!rules.mimes.includes(input.mime)) {
        throw specInvalid(spec.label, field(i), `${input.name} is ${input.facts.format}; ${spec.model} takes ${rules.mimes.map((m) => m.split('/')[1]).join(', ')}`)
      }
      if (input.data.length >= rules.maxBytes) {
        throw specInvalid(spec.label, field(i), `${input.name} is ${mb(input.data.length)}; ${spec.model} takes files under ${mb(rules.maxBytes)}`)
      }
      if (rules.squarePngOnly && input.facts.width !== input.facts.height) {
        throw specInvalid(spec.label, field(i), `${input.name} is ${input.facts.width}x${input.facts.height}; ${spec.model} takes a square PNG`)
      }
    }
  }
  if (mask) {
    const first = inputs[0]!
    if (mask.facts.format !== 'png' || !mask.facts.hasAlpha) {
      throw specInvalid(spec.label, 'mask', `${mask.name} must be a PNG with an alpha channel (alpha 0 marks the area to edit)`)
    }
    if (mask.facts.width !== first.facts.width || mask.facts.height !== first.facts.height) {
      throw specInvalid(
        spec.label,
        'mask',
        `${mask.name} is ${mask.facts.width}x${mask.facts.height}, but the first image is ${first.facts.width}x${first.facts.height}; they must match`,
      )
    }
    if (mask.data.length >= 4 * 1024 * 1024) throw specInvalid(spec.label, 'mask', `${mask.name} is ${mb(mask.data.length)}; masks must be under 4 MB`)
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
