/**
 * `ai-image.config.(ts|mts|mjs|js|json)` in the project root holds plugin options, so the bundler plugin and
 * the `ai-image` command share one configuration. Inline plugin options win over the file.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { createJiti as CreateJiti } from 'jiti'
import { AiImageError } from './errors.js'
import type { AiImageOptions } from '../types.js'

export const CONFIG_FILE_NAMES = [
  'ai-image.config.ts',
  'ai-image.config.mts',
  'ai-image.config.mjs',
  'ai-image.config.js',
  'ai-image.config.json',
] as const

export interface LoadedConfig {
  /** Absolute path of the file, when there is one. */
  file?: string
  options: AiImageOptions
}

export function findConfigFile(root: string): string | undefined {
  for (const name of CONFIG_FILE_NAMES) {
    const file = path.join(root, name)
    if (existsSync(file)) return file
  }
  return undefined
}

/**
 * Load the config file synchronously: the plugin creates its service lazily inside synchronous bundler hooks
 * (webpack's `loadInclude`), so the file must be read without awaiting. JSON is parsed; JavaScript and
 * TypeScript go through jiti's synchronous loader (so a config file cannot use top-level await).
 */
export function loadConfigFile(root: string): LoadedConfig {
  const file = findConfigFile(root)
  if (!file) return { options: {} }
  const label = path.basename(file)
  let value: unknown
  try {
    if (file.endsWith('.json')) {
      value = JSON.parse(readFileSync(file, 'utf8'))
    } else {
      const mod = loadJiti()(file, { moduleCache: false, fsCache: false, interopDefault: true })(file) as { default?: unknown }
      value = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod
    }
  } catch (error) {
    throw new AiImageError('SPEC_INVALID', `cannot load the config file: ${(error as Error).message}`, { file: label, cause: error })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AiImageError('SPEC_INVALID', 'the config file must export an object of plugin options (export default { … })', { file: label })
  }
  return { file, options: value as AiImageOptions }
}

/** jiti, required only when a JavaScript or TypeScript config file exists (it takes ~100 ms to load). */
function loadJiti(): typeof CreateJiti {
  return (createRequire(import.meta.url)('jiti') as { createJiti: typeof CreateJiti }).createJiti
}

/**
 * File options under inline options. Plain-object options (`openai`, `azure`, `defaults`, `images`, …) merge
 * one level deep, so a config file can set `openai.baseURL` and a build `openai.apiKey`.
 */
export function mergeOptions(fromFile: AiImageOptions, inline: AiImageOptions | undefined): AiImageOptions {
  const merged: Record<string, unknown> = { ...fromFile }
  for (const [key, value] of Object.entries(inline ?? {})) {
    const base = Object.prototype.hasOwnProperty.call(merged, key) ? merged[key] : undefined
    // Defined, not assigned: an own "__proto__" key (JSON.parse makes them) stays a key and never sets a prototype.
    Object.defineProperty(merged, key, {
      value: isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return merged as AiImageOptions
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}
