/**
 * Compiled by `tsc` (the repository's `npm run typecheck`) and by `spec-fields.test.ts`: the hand-written
 * public types of a spec have exactly the fields of the one field table. A field added to one and not the
 * other fails to compile here.
 */
import type { DefaultableFieldName, EMIT_FIELDS, SPEC_FIELDS } from '../../src/core/spec/fields.js'
import type { EmitOptions, ImageSpec, SpecDefaults } from '../../src/types.js'

/** `true` only when A and B are the same set of keys. */
export type SameKeys<A extends PropertyKey, B extends PropertyKey> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

export const specFields: SameKeys<keyof ImageSpec, keyof typeof SPEC_FIELDS> = true
export const emitFields: SameKeys<keyof EmitOptions, keyof typeof EMIT_FIELDS> = true
export const defaultableFields: SameKeys<keyof SpecDefaults, DefaultableFieldName> = true
