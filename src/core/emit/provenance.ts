/**
 * Provenance marks (DESIGN.md "Provenance"): a generated image says it is AI-generated in every emitted file.
 * Bytes emitted as generated keep the provider's own metadata (OpenAI signs its images with C2PA content
 * credentials); every file the pipeline encodes carries an XMP packet with the IPTC digital source type
 * `trainedAlgorithmicMedia` (IPTC NewsCodes "Digital Source Type"; the EU AI Act, Art. 50(2), asks providers
 * to mark generated images in a machine-readable way, and the code of practice on transparency asks that marks
 * are not removed). `emit.metadata: 'strip'` opts out; placeholders (tiny data URLs) carry none.
 */
import { iTXtChunk, readPngChunks, rewritePng, textKeyword, type PngChunk } from './png-chunks.js'

export const DIGITAL_SOURCE_TYPE = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'

/** The XMP keyword of PNG text chunks (XMP specification, part 3, 1.1.5). */
export const XMP_KEYWORD = 'XML:com.adobe.xmp'

/** The XMP packet of every encoded file: the IPTC Extension's DigitalSourceType, nothing else (no date, no tool: reproducible). */
export const PROVENANCE_XMP =
  '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' +
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" ' +
  `Iptc4xmpExt:DigitalSourceType="${DIGITAL_SOURCE_TYPE}"/>` +
  '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'

/** C2PA's PNG chunk: a JUMBF box holding the manifest store (C2PA specification 2.x, "Embedding manifests into PNG"). */
const C2PA_CHUNK = 'caBX'

/** What a PNG carries of its maker's provenance. */
export interface PngProvenance {
  /** A C2PA manifest store: its hard binding hashes the file's bytes, so only the bytes as they are keep it valid. */
  c2pa: boolean
  /** An XMP packet of its own (one per file: ours cannot be added beside it, nor replace it). */
  xmp: boolean
  /** Chunks a recompressed copy keeps byte for byte (Exif). */
  carried: Buffer[]
}

function isXmp(chunk: PngChunk): boolean {
  return textKeyword(chunk) === XMP_KEYWORD
}

/** The provenance a PNG carries, or undefined when it is not a well-formed PNG. */
export function pngProvenance(png: Buffer): PngProvenance | undefined {
  const chunks = readPngChunks(png)
  if (!chunks) return undefined
  return {
    c2pa: chunks.some((c) => c.type === C2PA_CHUNK),
    xmp: chunks.some(isXmp),
    carried: chunks.filter((c) => c.type === 'eXIf').map((c) => Buffer.from(c.raw)),
  }
}

/**
 * A PNG the pipeline encoded, marked: the provenance XMP as an uncompressed iTXt chunk (replacing the zTXt
 * one an encoder may have written) and `carried` chunks of the source, before the image data.
 */
export function markPng(png: Buffer, carried: readonly Buffer[] = []): Buffer {
  const marked = rewritePng(png, [iTXtChunk(XMP_KEYWORD, PROVENANCE_XMP), ...carried], (chunk) => isXmp(chunk) || chunk.type === 'eXIf')
  // sharp's own output is always a well-formed PNG; anything else is a bug worth failing on, not an unmarked file.
  if (!marked) throw new Error('the PNG encoder wrote a file without image data')
  return marked
}
