/** One-line rendering of an error for CLI output: the plugin's own message (code, file, what to do). */
import { isAiImageError } from '../core/errors.js'

export function describeError(error: unknown): string {
  if (isAiImageError(error)) return error.message.replace(/^\[ai-image\] /, '')
  return error instanceof Error ? error.message : String(error)
}
