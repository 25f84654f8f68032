/** One-line rendering of an error for CLI output: the plugin's own message (code, file, what to do). */
import { isAiImageError } from '../core/errors.js'

export function describeError(error: unknown): string {
  if (isAiImageError(error)) return error.message.replace(/^\[ai-image\] /, '')
  return error instanceof Error ? error.message : String(error)
}

/**
 * The error of a line that already names its spec (`✗ src/a.imgprompt.json  invalid: …`): the code and the
 * message, without the file a second time.
 */
export function describeErrorOf(label: string, error: unknown): string {
  if (isAiImageError(error) && error.file === label) return `${error.code}: ${error.bareMessage}`
  return describeError(error)
}
