/**
 * The transform steps of the emit pipeline, listed once, in the order they run: flatten (JPEG of a
 * transparent image), provenance (what of the provider's metadata a lossless PNG keeps), convert (the
 * full-size image in the emitted format), resize (`emit.widths`), then the placeholder the recipe asks for. A new step is a file here plus one line in this list (and, when it needs
 * an option, a field of `emit` in `spec/fields.ts`: the derived key hashes the whole recipe).
 */
import { blurPlaceholder } from './blur.js'
import { convert } from './convert.js'
import { flatten } from './flatten.js'
import { keepProvenance } from './provenance.js'
import { resize } from './resize.js'
import type { EmitStep } from './step.js'
import { thumbhashPlaceholder } from './thumbhash.js'

export const EMIT_STEPS: readonly EmitStep[] = [flatten, keepProvenance, convert, resize, blurPlaceholder, thumbhashPlaceholder]

export type { EmitStep, PipelineState } from './step.js'
