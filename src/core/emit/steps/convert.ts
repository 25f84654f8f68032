/**
 * The emitted full-size image: the source in the recipe's format and quality. The source itself competes
 * when it already is in the asked format, untouched: it is kept when re-encoding cannot do better (and a
 * JPEG, WebP or AVIF is not re-encoded at all when no quality is asked: that would only lose quality), and
 * when only its bytes as they are keep the provider's provenance (the provenance step says so). A PNG that
 * carries no provenance of its own and that re-encoding cannot shrink is kept with the provenance mark added
 * (its image data byte for byte): a generated image is not emitted unmarked to save a few hundred bytes.
 */
import { sniffFormat } from '../../image-format.js'
import { markPng } from '../provenance.js'
import { encode } from './encode.js'
import type { EmitStep } from './step.js'

export const convert: EmitStep = {
  name: 'convert',
  applies: () => true,
  async run(state) {
    const { source, recipe } = state
    const sourceQualifies = !state.altered && recipe.format === sniffFormat(source)
    if (sourceQualifies && recipe.format !== 'png' && recipe.quality === undefined) return
    if (sourceQualifies && state.provenance?.keepSource) return
    const encoded = await encode(state.base, recipe.format, {
      quality: recipe.quality,
      metadata: recipe.metadata,
      ...(state.provenance ? { carried: state.provenance.carried } : {}),
    })
    if (!sourceQualifies || source.length > encoded.data.length) {
      state.result.main = encoded
    } else if (state.provenance && recipe.metadata === 'keep') {
      const marked = markPng(source, state.provenance.carried)
      state.result.main = marked.length < encoded.data.length ? { ...encoded, data: marked } : encoded
    } else {
      state.result.main = undefined
    }
  },
}
