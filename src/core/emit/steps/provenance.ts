/**
 * The provider's provenance of a PNG emitted as PNG, losslessly (DESIGN.md "Provenance"): a C2PA manifest
 * (`caBX`) binds the file's bytes by hash, and the file holds one XMP packet at most, so a PNG carrying either
 * is emitted as generated, byte for byte, not recompressed (the convert step keeps the source); its Exif
 * (`eXIf`) goes into the recompressed copy unchanged. With `emit.metadata: 'strip'`, nothing is kept.
 */
import { sniffFormat } from '../../image-format.js'
import { pngProvenance } from '../provenance.js'
import type { EmitStep } from './step.js'

export const keepProvenance: EmitStep = {
  name: 'provenance',
  applies: ({ recipe, source, altered }) => recipe.metadata === 'keep' && recipe.format === 'png' && recipe.quality === undefined && !altered && sniffFormat(source) === 'png',
  async run(state) {
    const found = pngProvenance(state.source)
    if (!found) return
    state.provenance = { keepSource: found.c2pa || found.xmp, carried: found.carried }
  },
}
