/**
 * Input images of edits and variations: read, identify (magic bytes) and hash for the cache key; on a miss,
 * checked against the model's limits before any spending (`checkInputs`), so a cache hit never decodes an
 * input. A `*.imgprompt.json` input is a chain: its picked output image is the input, obtained (and
 * generated if need be) first.
 *
 * Input files are untrusted (DESIGN.md, "Trust boundaries"): each is read through `readFileInsideRoot`
 * (real path inside the root, regular file, size checked before reading), bounded by the model's input
 * limit, so a symlink out of the project, a FIFO or /dev/zero is refused before a byte is read or sent.
 */
import path from 'node:path'
import { specInvalid } from '../errors.js'
import { sha256 } from '../hash.js'
import { modelCapabilities } from '../spec/models.js'
import { SPEC_FILE_MAX_BYTES } from '../spec/source.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { ProviderInput } from '../providers/types.js'
import { IMAGE_LIMITS, MIME_OF, extensionOf, readImageFacts, sniffFormat, type ImageFacts } from '../image-format.js'
import { describeRefusal, readFileInsideRoot, type FileRefusal } from '../read-inside-root.js'
import { isSpecPath, specStem } from '../spec-path.js'

/** The API takes masks under 4 MB, whatever the model (API-FACTS.md). */
const MASK_MAX_BYTES = 4 * 1024 * 1024

export interface ResolvedInput extends ProviderInput {
  sha256: string
  /** Where the bytes came from, for messages. */
  shown: string
  field: string
}

/** Gives the picked output of another spec file (generating it if need be). */
export type ChainResolver = (specFile: string) => Promise<{ data: Buffer; mime: string; sha256: string }>

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
    // The upstream spec file is read again (and checked again) when it is loaded; checking it here first
    // makes a refusal name this spec and its field.
    const read = await readFileInsideRoot(file, root, SPEC_FILE_MAX_BYTES)
    if (!read.ok) throw inputRefused(spec, field, file, shown, read)
    const upstream = await chain(file)
    data = upstream.data
    digest = upstream.sha256
  } else {
    const read = await readFileInsideRoot(file, root, inputMaxBytes(spec, field))
    if (!read.ok) throw inputRefused(spec, field, file, shown, read)
    data = read.data
    digest = sha256(data)
  }
  const format = sniffFormat(data)
  if (!format) throw specInvalid(spec.label, field, `${shown} is not a PNG, JPEG or WebP image`)
  const mime = MIME_OF[format]
  const base = specStem(file).replace(/\.[^.]+$/, '')
  return { name: `${base}.${extensionOf(mime)}`, data, mime, sha256: digest, shown, field }
}

/**
 * Largest file an input may be, known before reading it: the model's own limit (the API takes files *under*
 * it), the mask limit, or `IMAGE_LIMITS.maxBytes` for a model the capability table does not know.
 */
function inputMaxBytes(spec: ValidatedSpec, field: string): number {
  if (field === 'mask') return MASK_MAX_BYTES - 1
  const rules = modelCapabilities(spec.model)?.editInputs
  return rules ? rules.maxBytes - 1 : IMAGE_LIMITS.maxBytes
}

function inputRefused(spec: ValidatedSpec, field: string, file: string, shown: string, refusal: FileRefusal) {
  const name = path.basename(file)
  switch (refusal.reason) {
    case 'too-large': {
      if (isSpecPath(file)) {
        return specInvalid(spec.label, field, `${shown} is ${refusal.size} bytes; a spec file may be at most ${mib(SPEC_FILE_MAX_BYTES)}`, 'Point at a real spec file')
      }
      const rules = modelCapabilities(spec.model)?.editInputs
      const problem =
        field === 'mask'
          ? `${name} is ${mb(refusal.size)}; masks must be under 4 MB`
          : rules
            ? `${name} is ${mb(refusal.size)}; ${spec.model} takes files under ${mb(rules.maxBytes)}`
            : `${name} is ${mb(refusal.size)}; input files may be at most ${mb(IMAGE_LIMITS.maxBytes)}`
      return specInvalid(spec.label, field, problem, 'Use a smaller file (resize or compress it)')
    }
    case 'outside-root':
      return specInvalid(spec.label, field, describeRefusal(shown, refusal), 'Copy the file into the project instead of linking to it')
    case 'not-regular':
      return specInvalid(spec.label, field, describeRefusal(shown, refusal), isSpecPath(file) ? 'Point at a spec file' : 'Point at an image file')
    case 'missing':
      return specInvalid(spec.label, field, describeRefusal(shown, refusal), 'Paths are relative to the spec file')
    case 'changed':
      return specInvalid(spec.label, field, describeRefusal(shown, refusal), 'Build again once the file is written')
    case 'unreadable':
      return specInvalid(spec.label, field, describeRefusal(shown, refusal), 'Check the file\'s permissions')
  }
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

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
