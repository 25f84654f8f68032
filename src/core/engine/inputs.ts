/**
 * Input images of edits and variations: read, identify (magic bytes) and hash for the cache key; on a miss,
 * checked against the model's limits before any spending (`checkInputs`), so a cache hit never decodes an
 * input. A `*.imgprompt.json` input is a chain: its picked output image is the input, obtained (and
 * generated if need be) first.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { specInvalid } from '../errors.js'
import { sha256 } from '../cache/key.js'
import { modelCapabilities } from '../spec/models.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { ProviderInput } from '../providers/types.js'
import { MIME_OF, extensionOf, sniffFormat } from '../image-format.js'
import { readImageFacts, type ImageFacts } from './verify.js'

export interface ResolvedInput extends ProviderInput {
  sha256: string
  /** Where the bytes came from, for messages. */
  shown: string
  field: string
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
  const format = sniffFormat(data)
  if (!format) throw specInvalid(spec.label, field, `${shown} is not a PNG, JPEG or WebP image`)
  const mime = MIME_OF[format]
  const base = path.basename(file).replace(/\.imgprompt\.json$/, '').replace(/\.[^.]+$/, '')
  return { name: `${base}.${extensionOf(mime)}`, data, mime, sha256: digest, shown, field }
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

/**
 * The model's input rules (API-FACTS.md): checked on a miss before spending. Reading dimensions and alpha
 * needs sharp, which a cache hit must not pay for.
 */
export async function checkInputs(spec: ValidatedSpec, inputs: readonly ResolvedInput[], mask: ResolvedInput | undefined): Promise<void> {
  const facts = async (input: ResolvedInput): Promise<ImageFacts> => {
    const read = await readImageFacts(input.data)
    if (!read) throw specInvalid(spec.label, input.field, `${input.shown} is not a readable image`)
    return read
  }
  const rules = modelCapabilities(spec.model)?.editInputs
  if (rules) {
    if (inputs.length > rules.max) {
      throw specInvalid(spec.label, 'image', `${spec.model} takes at most ${rules.max} input image${rules.max > 1 ? 's' : ''}, got ${inputs.length}`)
    }
    for (const input of inputs) {
      if (!rules.mimes.includes(input.mime)) {
        throw specInvalid(spec.label, input.field, `${input.name} is ${input.mime.split('/')[1]}; ${spec.model} takes ${rules.mimes.map((m) => m.split('/')[1]).join(', ')}`)
      }
      if (input.data.length >= rules.maxBytes) {
        throw specInvalid(spec.label, input.field, `${input.name} is ${mb(input.data.length)}; ${spec.model} takes files under ${mb(rules.maxBytes)}`)
      }
      if (rules.squarePngOnly) {
        const { width, height } = await facts(input)
        if (width !== height) throw specInvalid(spec.label, input.field, `${input.name} is ${width}x${height}; ${spec.model} takes a square PNG`)
      }
    }
  }
  if (mask) {
    const [own, first] = await Promise.all([facts(mask), facts(inputs[0]!)])
    if (own.format !== 'png' || !own.hasAlpha) {
      throw specInvalid(spec.label, 'mask', `${mask.name} must be a PNG with an alpha channel (alpha 0 marks the area to edit)`)
    }
    if (own.width !== first.width || own.height !== first.height) {
      throw specInvalid(spec.label, 'mask', `${mask.name} is ${own.width}x${own.height}, but the first image is ${first.width}x${first.height}; they must match`)
    }
    if (mask.data.length >= 4 * 1024 * 1024) throw specInvalid(spec.label, 'mask', `${mask.name} is ${mb(mask.data.length)}; masks must be under 4 MB`)
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
