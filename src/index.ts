/**
 * unplugin-ai-image: import a prompt, get an optimized, content-hashed image.
 * The unplugin instance and the public exports; nothing else.
 */
import { createUnplugin } from 'unplugin'
import { createPlugin } from './plugin/factory.js'
import type { AiImageOptions, ImageSpec } from './types.js'

export const unplugin = /* #__PURE__ */ createUnplugin<AiImageOptions | undefined, false>(createPlugin)
export default unplugin

/** Identity helper that types the options of `ai-image.config.ts` (read by the plugins and the CLI). */
export function defineConfig(options: AiImageOptions): AiImageOptions {
  return options
}

/** Identity helper that types a spec (for the `images` option or a config file). */
export function defineImageSpec<const T extends ImageSpec>(spec: T): T {
  return spec
}

export { AiImageError, ERROR_CODES, type AiImageErrorCode } from './core/errors.js'
export { DEFAULT_MODEL, KNOWN_MODELS } from './core/spec/models.js'
export type * from './types.js'
