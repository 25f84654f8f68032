/**
 * Small rules every option resolver shares (the plugin options in `options.ts`, each provider's own in
 * `providers/<name>/config.ts`): what counts as a value, how an optional field is spread, and the error an
 * invalid option raises.
 */
import { AiImageError } from './errors.js'

/** Environment variables as `options.ts` passes them down (the one place that reads `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>

/** What messages name as the file of an option error. */
export const OPTION_LABEL = 'plugin options'

/** A SPEC_INVALID error naming the option (`field`, e.g. `azure.endpoint`) and what is wrong with it. */
export function optionError(field: string, problem: string): AiImageError {
  return new AiImageError('SPEC_INVALID', `${field ? `option "${field}" ` : ''}${problem}`, { file: OPTION_LABEL, field })
}

/** A string with something in it (trimmed), or undefined: an empty environment variable is no value. */
export function nonEmpty(value: string | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/** `{ key: value }`, or `{}` when the value is undefined (for optional fields of a resolved object). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}
