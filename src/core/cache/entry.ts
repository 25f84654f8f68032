/**
 * The one place that turns what a cache entry says into values the plugin uses. A sidecar, a journal
 * record, a derived-cache record or an entry from a remote cache is untrusted input (anyone who can open a
 * pull request edits `.ai-image/`): every field is type- and range-checked here, the recorded request must
 * hash to the key the entry is stored under, and an image's bytes must be what its record says (size,
 * SHA-256, and a header of the recorded format and dimensions within `IMAGE_LIMITS`). The result is a
 * fresh object holding checked values only, or the reason it was refused, naming the file at fault.
 *
 * Pure functions, no file system: the local store, the journal, the derived cache and a remote backend
 * read bytes their own way and share these checks.
 */
import { showValue } from '../errors.js'
import { IMAGE_LIMITS, extensionOf, formatOfMime, readHeader, withinPixelLimits, type ImageFormat } from '../image-format.js'
import type { Endpoint } from '../spec/models.js'
import type { KeyedRequest } from '../spec/validate.js'
import { sha256 } from '../hash.js'
import { computeKey } from './key.js'

export const SIDECAR_VERSION = 1

/** A sidecar is a few kilobytes; this bounds what is read (ten long revised prompts fit many times over). */
export const SIDECAR_MAX_BYTES = 4 * 1024 * 1024

/** Most candidates one request may ask for (`n`), for every model the API knows. */
export const MAX_CANDIDATES = 10

export interface SidecarImage {
  /** File name beside the sidecar: `<key>-<index>.<ext>`. */
  file: string
  sha256: string
  bytes: number
  width: number
  height: number
  mime: string
  revised_prompt?: string
}

/** What an entry cost: from the answers' token `usage`, or estimated from the price table (DESIGN.md, cache layout). */
export interface SidecarCost {
  usd: number
  basis: 'usage' | 'estimate'
}

/** More than any one entry can cost (ten of the dearest images): a figure past it is no cost. */
const MAX_ENTRY_USD = 1000

export interface Sidecar {
  version: number
  key: string
  endpoint: Endpoint
  /** The normalized request that was keyed; never holds a secret (keys live in headers only). */
  request: KeyedRequest
  /** SHA-256 of input images and mask, and the seed: the rest of the key material. */
  inputs: string[]
  mask: string | null
  seed: string | null
  provider: { kind: string; deployment?: string }
  /** Unix seconds, from the API answer. */
  created: number
  revised_prompt: string | null
  usage: Record<string, unknown> | null
  request_id: string | null
  images: SidecarImage[]
  /**
   * What the entry cost (DESIGN.md, cache layout): from the answers' usage, or the table's estimate. Absent when
   * nothing could price it, and in entries written before costs were recorded.
   */
  cost?: SidecarCost
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string }

const ENDPOINTS: readonly string[] = ['generations', 'edits', 'variations'] satisfies readonly Endpoint[]
const SHA256 = /^[0-9a-f]{64}$/
/** API field names: what a keyed request holds. */
const REQUEST_FIELD = /^[a-z][a-z0-9_]*$/
const CANDIDATE_INDEX = /^(0|[1-9]\d?)$/

export function isKey(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value)
}

export const isSha256 = isKey

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
}

/** Width or height of an image the plugin reads. */
export function isDimension(value: unknown): value is number {
  return isPositiveInteger(value) && value <= IMAGE_LIMITS.maxSide
}

/** Size of an image file the plugin reads. */
export function isByteCount(value: unknown): value is number {
  return isPositiveInteger(value) && value <= IMAGE_LIMITS.maxBytes
}

/** The name of a sidecar, as reasons name it. */
export function sidecarName(key: string): string {
  return `${key}.json`
}

/** Parse a sidecar's text and check it for `key` (the key it was looked up by). */
export function parseSidecar(text: string, key: string): Checked<Sidecar> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return refuse(key, 'the sidecar is not valid JSON')
  }
  return checkSidecar(value, key)
}

/** Check a parsed sidecar for `key`; the result holds checked values only. */
export function checkSidecar(value: unknown, key: string): Checked<Sidecar> {
  if (!isPlainObject(value)) return refuse(key, 'the sidecar is not a JSON object')
  if (value.key !== key) return refuse(key, `the sidecar does not describe this key (it says key ${showValue(value.key)})`)
  if (!Array.isArray(value.images)) return refuse(key, `"images" must be an array, got ${showValue(value.images)}`)
  // File names first: a name that leaves the entry's folder is the most telling sign of an attack.
  for (const [i, image] of value.images.entries()) {
    const file = isPlainObject(image) ? image.file : undefined
    if (typeof file === 'string' && !isPlainName(file)) return refuse(key, `the sidecar names a file outside its folder (images[${i}].file is ${showValue(file)})`)
  }
  if (value.version !== SIDECAR_VERSION) {
    return refuse(key, `"version" is ${showValue(value.version)}; this version of the plugin reads version ${SIDECAR_VERSION}`)
  }
  if (typeof value.endpoint !== 'string' || !ENDPOINTS.includes(value.endpoint)) {
    return refuse(key, `"endpoint" must be one of ${ENDPOINTS.join(', ')}, got ${showValue(value.endpoint)}`)
  }
  const request = checkRequest(value.request)
  if (!request.ok) return refuse(key, request.reason)
  const n = request.value.n
  if (!Array.isArray(value.inputs) || !value.inputs.every(isSha256)) return refuse(key, `"inputs" must be an array of SHA-256 digests, got ${showValue(value.inputs)}`)
  if (value.mask !== null && !isSha256(value.mask)) return refuse(key, `"mask" must be null or a SHA-256 digest, got ${showValue(value.mask)}`)
  if (value.seed !== null && typeof value.seed !== 'string') return refuse(key, `"seed" must be null or a string, got ${showValue(value.seed)}`)
  const provider = checkProvider(value.provider)
  if (!provider) return refuse(key, `"provider" must be { kind: string, deployment?: string }, got ${showValue(value.provider)}`)
  if (typeof value.created !== 'number' || !Number.isFinite(value.created) || value.created < 0) {
    return refuse(key, `"created" must be a number of seconds, got ${showValue(value.created)}`)
  }
  if (value.revised_prompt !== null && typeof value.revised_prompt !== 'string') {
    return refuse(key, `"revised_prompt" must be null or a string, got ${showValue(value.revised_prompt)}`)
  }
  if (value.usage !== null && !isPlainObject(value.usage)) return refuse(key, `"usage" must be null or an object, got ${showValue(value.usage)}`)
  const cost = checkCost(value.cost)
  if (cost === false) {
    return refuse(key, `"cost" must be { usd: a number >= 0, basis: "usage" | "estimate" } (at most $${MAX_ENTRY_USD} an entry), got ${showValue(value.cost)}`)
  }
  if (value.request_id !== null && typeof value.request_id !== 'string') {
    return refuse(key, `"request_id" must be null or a string, got ${showValue(value.request_id)}`)
  }
  if (value.images.length !== n) {
    return refuse(key, `"images" lists ${value.images.length} image${value.images.length === 1 ? '' : 's'}, but request.n is ${n}`)
  }
  const images: SidecarImage[] = []
  for (const [i, image] of value.images.entries()) {
    const checked = checkImageRecord(image, key, i, `images[${i}]`)
    if (!checked.ok) return refuse(key, checked.reason)
    images.push(checked.value)
  }
  const sidecar: Sidecar = {
    version: SIDECAR_VERSION,
    key,
    endpoint: value.endpoint as Endpoint,
    request: request.value,
    inputs: [...(value.inputs as string[])],
    mask: value.mask as string | null,
    seed: value.seed as string | null,
    provider,
    created: value.created,
    revised_prompt: value.revised_prompt as string | null,
    usage: value.usage === null ? null : structuredClone(value.usage),
    request_id: value.request_id as string | null,
    images,
    ...(cost ? { cost } : {}),
  }
  const { endpoint, inputs, mask, seed } = sidecar
  if (computeKey({ endpoint, request: sidecar.request, inputs, mask, seed }) !== key) {
    return refuse(key, 'the recorded request does not hash to the key it is stored under (edited, or copied from another entry)')
  }
  return { ok: true, value: sidecar }
}

function checkRequest(value: unknown): Checked<KeyedRequest & { n: number }> {
  if (!isPlainObject(value)) return { ok: false, reason: `"request" must be an object, got ${showValue(value)}` }
  const request: KeyedRequest = {}
  for (const [field, v] of Object.entries(value)) {
    if (!REQUEST_FIELD.test(field)) return { ok: false, reason: `"request" holds a field that is no API field: ${showValue(field)}` }
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      return { ok: false, reason: `request.${field} must be a string or a number, got ${showValue(v)}` }
    }
    request[field] = v
  }
  const n = request.n
  if (!isPositiveInteger(n) || n > MAX_CANDIDATES) return { ok: false, reason: `request.n must be an integer from 1 to ${MAX_CANDIDATES}, got ${showValue(n)}` }
  return { ok: true, value: request as KeyedRequest & { n: number } }
}

/** A sidecar's `cost` (undefined when absent), or false when it is anything but `{ usd, basis }`. */
function checkCost(value: unknown): SidecarCost | undefined | false {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) return false
  const { usd, basis } = value
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0 || usd > MAX_ENTRY_USD) return false
  if (basis !== 'usage' && basis !== 'estimate') return false
  return { usd, basis }
}

function checkProvider(value: unknown): Sidecar['provider'] | undefined {
  if (!isPlainObject(value) || typeof value.kind !== 'string') return undefined
  if (value.deployment !== undefined && typeof value.deployment !== 'string') return undefined
  return { kind: value.kind, ...(typeof value.deployment === 'string' ? { deployment: value.deployment } : {}) }
}

/**
 * One image record (`images[i]` of a sidecar, a candidate of a journal): `{ file: <key>-<index>.<ext>,
 * sha256, bytes, width, height, mime, revised_prompt? }`, the extension that of the MIME type. `where`
 * names the record in reasons.
 */
export function checkImageRecord(value: unknown, key: string, index: number, where: string): Checked<SidecarImage> {
  const fail = (field: string, problem: string): Checked<SidecarImage> => ({ ok: false, reason: `${where}${field ? `.${field}` : ''} ${problem}` })
  if (!isPlainObject(value)) return fail('', `must be an image record, got ${showValue(value)}`)
  const mime = value.mime
  if (typeof mime !== 'string' || !formatOfMime(mime)) return fail('mime', `must be one of image/png, image/jpeg, image/webp, image/avif, got ${showValue(mime)}`)
  const file = `${key}-${index}.${extensionOf(mime)}`
  if (value.file !== file) return fail('file', `must be ${showValue(file)} (candidate ${index} of this key, as its MIME type names it), got ${showValue(value.file)}`)
  if (!isSha256(value.sha256)) return fail('sha256', `must be a SHA-256 digest (64 hex digits), got ${showValue(value.sha256)}`)
  if (!isByteCount(value.bytes)) return fail('bytes', `must be a whole number of bytes from 1 to ${IMAGE_LIMITS.maxBytes}, got ${showValue(value.bytes)}`)
  for (const side of ['width', 'height'] as const) {
    if (!isDimension(value[side])) return fail(side, `must be a positive integer of at most ${IMAGE_LIMITS.maxSide} pixels, got ${showValue(value[side])}`)
  }
  const width = value.width as number
  const height = value.height as number
  if (!withinPixelLimits(width, height)) return fail('', `is ${width}x${height} pixels, more than the ${IMAGE_LIMITS.maxPixels} pixels any image the plugin reads may have`)
  if (value.revised_prompt !== undefined && typeof value.revised_prompt !== 'string') {
    return fail('revised_prompt', `must be a string, got ${showValue(value.revised_prompt)}`)
  }
  return {
    ok: true,
    value: {
      file,
      sha256: value.sha256,
      bytes: value.bytes,
      width,
      height,
      mime,
      ...(typeof value.revised_prompt === 'string' ? { revised_prompt: value.revised_prompt } : {}),
    },
  }
}

/**
 * Whether image bytes are what their (checked) record says: the SHA-256, then a header of the recorded
 * format and dimensions. Undefined when they are; else the problem, after the file's name.
 */
export function checkImageBytes(record: Pick<SidecarImage, 'sha256' | 'mime' | 'width' | 'height'>, data: Uint8Array): string | undefined {
  if (sha256(data) !== record.sha256) return 'does not match its SHA-256'
  return checkImageHeader(record, data)
}

/** Whether the header of `data` says the recorded format and dimensions (no decode: a bomb stops here). */
export function checkImageHeader(record: Pick<SidecarImage, 'mime' | 'width' | 'height'>, data: Uint8Array): string | undefined {
  const format = formatOfMime(record.mime)!
  const header = readHeader(data)
  if (!header) return `is not a ${FORMAT_NAME[format]} image (its first bytes are no ${FORMAT_NAME[format]} header)`
  if (header.format !== format) return `is a ${FORMAT_NAME[header.format]} image, but its record says ${record.mime}`
  if (!withinPixelLimits(header.width, header.height)) {
    return `declares ${header.width}x${header.height} pixels in its header, more than any image the plugin reads (a decompression bomb is never decoded)`
  }
  if (header.width !== record.width || header.height !== record.height) {
    return `is ${header.width}x${header.height} by its header, but its record says ${record.width}x${record.height}`
  }
  return undefined
}

const FORMAT_NAME: Readonly<Record<ImageFormat, string>> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP', avif: 'AVIF' }

/** A file name with no folder in it. */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name)
}

/** A candidate index as a journal spells it (`"0"` … `"9"`). */
export function candidateIndex(text: string): number | undefined {
  return CANDIDATE_INDEX.test(text) && Number(text) < MAX_CANDIDATES ? Number(text) : undefined
}

function refuse<T>(key: string, problem: string): Checked<T> {
  return { ok: false, reason: `${sidecarName(key)}: ${problem}` }
}
