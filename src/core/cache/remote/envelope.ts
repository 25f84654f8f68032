/**
 * The remote form of a sidecar: an envelope, so a signature can travel with the entry while a sidecar copied
 * into the local cache stays a plain sidecar.
 *
 *   { "v": 1, "sidecar": { …the sidecar… }, "hmac-sha256": "<64 hex>" }     ("hmac-sha256" only when signed)
 *
 * The signature is HMAC-SHA256, keyed with the UTF-8 bytes of `signingKey`, over
 *
 *   "unplugin-ai-image remote entry v1\n" + <key the entry is stored under> + "\n" + canonicalJson(sidecar)
 *
 * `canonicalJson` (cache/key.ts: sorted keys, no whitespace) makes it independent of formatting; the sidecar
 * holds every image's SHA-256 and size, so the signature covers the images too; the key binds it to its
 * place. With a signing key configured, an unsigned or mis-signed entry is refused; signatures are compared
 * in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { canonicalJson } from '../../hash.js'

export const ENVELOPE_VERSION = 1
const SIGNATURE_FIELD = 'hmac-sha256'
const SIGNED_PREFIX = `unplugin-ai-image remote entry v${ENVELOPE_VERSION}\n`
const ENVELOPE_FIELDS = new Set(['v', 'sidecar', SIGNATURE_FIELD])

export function signatureOf(key: string, sidecar: unknown, signingKey: string): string {
  return createHmac('sha256', Buffer.from(signingKey, 'utf8'))
    .update(`${SIGNED_PREFIX}${key}\n${canonicalJson(sidecar)}`)
    .digest('hex')
}

/** The envelope's bytes for `sidecar` stored under `key`, signed when a signing key is given. */
export function sealEnvelope(key: string, sidecar: object, signingKey: string | undefined): Buffer {
  const envelope: Record<string, unknown> = { v: ENVELOPE_VERSION, sidecar }
  if (signingKey !== undefined) envelope[SIGNATURE_FIELD] = signatureOf(key, sidecar, signingKey)
  return Buffer.from(`${JSON.stringify(envelope)}\n`)
}

export type OpenedEnvelope = { ok: true; sidecar: unknown; signed: boolean } | { ok: false; reason: string }

/** Unwrap and (with a signing key) authenticate an envelope read from the remote; nothing in it is trusted yet. */
export function openEnvelope(data: Buffer, key: string, signingKey: string | undefined): OpenedEnvelope {
  let envelope: unknown
  try {
    envelope = JSON.parse(data.toString('utf8'))
  } catch {
    return { ok: false, reason: 'its sidecar is not valid JSON' }
  }
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) return { ok: false, reason: 'it is not a remote entry (not a JSON object)' }
  const fields = envelope as Record<string, unknown>
  if (fields.v !== ENVELOPE_VERSION) return { ok: false, reason: `it is not a remote entry of version ${ENVELOPE_VERSION} (field "v")` }
  const unknown = Object.keys(fields).find((field) => !ENVELOPE_FIELDS.has(field))
  if (unknown !== undefined) return { ok: false, reason: `it has an unknown field ${JSON.stringify(unknown.slice(0, 40))}` }
  const sidecar = fields.sidecar
  if (sidecar === null || typeof sidecar !== 'object' || Array.isArray(sidecar)) return { ok: false, reason: 'its "sidecar" is not an object' }
  const signature = fields[SIGNATURE_FIELD]
  if (signature !== undefined && (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature))) {
    return { ok: false, reason: `its "${SIGNATURE_FIELD}" is not 64 lowercase hex digits` }
  }
  if (signingKey === undefined) return { ok: true, sidecar, signed: signature !== undefined }
  if (signature === undefined) return { ok: false, reason: 'it is unsigned, and remote.signingKey requires signed entries' }
  let expected: string
  try {
    expected = signatureOf(key, sidecar, signingKey)
  } catch {
    // canonicalJson refuses what JSON cannot hold (and a nesting too deep for its recursion).
    return { ok: false, reason: 'its sidecar cannot be put in canonical form' }
  }
  if (!timingSafeEqual(Buffer.from(signature, 'hex'), Buffer.from(expected, 'hex'))) {
    return { ok: false, reason: 'its signature does not match (signed with another key, or changed after signing)' }
  }
  return { ok: true, sidecar, signed: true }
}
