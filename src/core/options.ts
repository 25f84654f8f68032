/**
 * resolveOptions(): every default and every environment variable the plugin reads, in one place.
 * Nothing else in the code base looks at `process.env`.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import type picomatch from 'picomatch'
import { checkCacheDirPlacement } from './cache/cache-folder.js'
import { resolveRemote, type RemoteConfig } from './cache/remote/config.js'
import { optionError, optional, type Env } from './option-values.js'
import { providerSecrets, resolveProvider, type ProviderConfig } from './providers/registry.js'
import { addSecrets } from './secrets.js'
import { SPEC_GLOB, isSpecPath } from './spec-path.js'
import { relativeLabel } from './spec/source.js'
import { validateDefaults } from './spec/validate.js'
import type { AiImageOptions, ImageSpec, ModelPrice, SpecDefaults } from '../types.js'

export const DEFAULTS = {
  include: [SPEC_GLOB],
  exclude: ['**/node_modules/**'],
  cacheDirName: '.ai-image',
  derivedCacheDir: 'node_modules/.cache/unplugin-ai-image',
  concurrency: 4,
  retries: 4,
  timeout: 300_000,
  /** Longest a request waits out 429s, from its first one. */
  rateLimitMaxWait: 600_000,
  /** esbuild: URL prefix of emitted images when neither the option nor esbuild's `publicPath` is set. */
  publicPath: '/',
} as const

export type { Env } from './option-values.js'

export interface ResolvedOptions {
  root: string
  cacheDir: string
  /** Resized, converted and placeholder files: cheap to rebuild, never committed. */
  derivedCacheDir: string
  isSpecFile(file: string): boolean
  /** The globs behind `isSpecFile`, for discovery with fast-glob. */
  includeGlobs: readonly string[]
  excludeGlobs: readonly string[]
  images: Readonly<Record<string, ImageSpec>>
  defaults: SpecDefaults
  concurrency: number
  rateLimit: { imagesPerMinute?: number; requestsPerMinute?: number; maxWait: number }
  retries: number
  timeout: number
  frozen: boolean
  budget: { maxImages?: number; maxUSD?: number }
  /** esbuild: the option as given; the bundler's own setting and `DEFAULTS.publicPath` come next. */
  publicPath: string | undefined
  /** Price overrides per model (the built-in table is in engine/cost.ts). */
  prices: Readonly<Record<string, ModelPrice>>
  provider: ProviderConfig
  /** The remote cache tier (`remote`, `AI_IMAGE_REMOTE*`), checked; undefined when none is configured. */
  remote: RemoteConfig | undefined
  /** Values that must never appear in an error, a log line, the cache or the bundle. */
  secrets: string[]
  /** Notices for the logger (e.g. the placeholder fallback), emitted once by the caller. */
  notices: string[]
}

export function resolveOptions(user: AiImageOptions = {}, context: { root?: string; env?: Env } = {}): ResolvedOptions {
  const env = context.env ?? process.env
  if (user === null || typeof user !== 'object') throw optionError('', 'must be an object')
  const root = path.resolve(user.root ?? context.root ?? process.cwd())

  const ownInclude = toList(user.include, 'include')
  const ownExclude = toList(user.exclude, 'exclude')
  const include = ownInclude ?? [...DEFAULTS.include]
  const exclude = ownExclude ?? [...DEFAULTS.exclude]
  const included = ownInclude ? globMatcher(ownInclude) : isDefaultIncluded
  const excluded = ownExclude ? globMatcher(ownExclude) : isDefaultExcluded
  const isSpecFile = (file: string) => {
    // Files outside the root are matched by their absolute path, so `**/x.imgprompt.json` still matches.
    const subject = relativeLabel(root, file)
    return included(subject) && !excluded(subject)
  }

  const { config: provider, notices } = resolveProvider(user, env)
  const remote = resolveRemote(user.remote, env)

  const images = user.images ?? {}
  if (typeof images !== 'object' || Array.isArray(images)) throw optionError('images', 'must be an object of named specs')
  if (user.cacheDir !== undefined && (typeof user.cacheDir !== 'string' || user.cacheDir === '')) throw optionError('cacheDir', 'must be a folder path')
  const cacheDir = path.resolve(root, user.cacheDir ?? DEFAULTS.cacheDirName)
  // Never the project root or above it: prune and housekeeping delete files in the cache folder.
  checkCacheDirPlacement(root, cacheDir)

  return {
    root,
    cacheDir,
    derivedCacheDir: path.resolve(root, DEFAULTS.derivedCacheDir),
    isSpecFile,
    includeGlobs: include,
    excludeGlobs: exclude,
    images,
    defaults: validateDefaults(user.defaults),
    concurrency: positiveInteger(user.concurrency, 'concurrency') ?? DEFAULTS.concurrency,
    rateLimit: {
      ...optional('imagesPerMinute', positiveNumber(user.rateLimit?.imagesPerMinute, 'rateLimit.imagesPerMinute')),
      ...optional('requestsPerMinute', positiveNumber(user.rateLimit?.requestsPerMinute, 'rateLimit.requestsPerMinute')),
      maxWait: nonNegativeNumber(user.rateLimit?.maxWait, 'rateLimit.maxWait') ?? DEFAULTS.rateLimitMaxWait,
    },
    retries: nonNegativeInteger(user.retries, 'retries') ?? DEFAULTS.retries,
    timeout: positiveNumber(user.timeout, 'timeout') ?? DEFAULTS.timeout,
    frozen: user.frozen ?? isCI(env),
    budget: {
      ...optional('maxImages', nonNegativeInteger(user.budget?.maxImages, 'budget.maxImages')),
      ...optional('maxUSD', nonNegativeNumber(user.budget?.maxUSD, 'budget.maxUSD')),
    },
    publicPath: publicPathOption(user.publicPath),
    prices: checkPrices(user.prices),
    provider,
    remote,
    // Known to the redactor from here on: errors, log lines and stored fields never carry them (a SAS
    // token, a storage account key, an AWS secret, the signing key as much as an API key).
    secrets: addSecrets([...providerSecrets(user, env), ...(remote?.secrets ?? [])]),
    notices,
  }
}

/**
 * The default `include` (`**\/*.imgprompt.json`) and `exclude` (`**\/node_modules/**`) as plain string tests
 * on a `/`-separated path, matching exactly what picomatch (`dot: true`) matches for them: picomatch is
 * loaded only for globs of the project's own.
 */
export function isDefaultIncluded(subject: string): boolean {
  return isSpecPath(subject) && !subject.split('/').some((part) => part === '.' || part === '..')
}

export function isDefaultExcluded(subject: string): boolean {
  const parts = subject.split('/')
  return parts.includes('node_modules') && !parts.some((part) => part === '.' || part === '..')
}

/** picomatch (with `dot: true`, as Vite and unplugin match), required on first use: globs are matched synchronously. */
export function globMatcher(globs: readonly string[]): (subject: string) => boolean {
  const load = createRequire(import.meta.url)('picomatch') as typeof picomatch
  return load([...globs], { dot: true })
}

/** `CI=false` and `CI=0` are how people say "not CI"; anything else set means CI. */
export function isCI(env: Env): boolean {
  const value = env.CI
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false'
}

/** Any URL prefix ('' keeps URLs relative); resolved against esbuild's own setting by `esbuildPublicPath`. */
function publicPathOption(value: string | undefined): string | undefined {
  if (value !== undefined && typeof value !== 'string') throw optionError('publicPath', `must be a string (a URL prefix such as '/' or 'https://cdn.example.com/'), got ${typeof value}`)
  return value
}

/** URL prefix of esbuild's emitted images: the option, else esbuild's `publicPath`, else '/'. */
export function esbuildPublicPath(options: Pick<ResolvedOptions, 'publicPath'>, esbuildOption: string | undefined): string {
  return options.publicPath ?? esbuildOption ?? DEFAULTS.publicPath
}

/**
 * `prices`: model → USD per image, or per quality, or per quality then size; and/or `tokens: { textInput,
 * imageInput, imageOutput }` in USD per 1M tokens (what the answers' usage is priced at). Every figure a number >= 0.
 */
function checkPrices(prices: AiImageOptions['prices']): Readonly<Record<string, ModelPrice>> {
  if (prices === undefined) return {}
  const shape = "a number of US dollars per image, or { quality: number } or { quality: { 'WIDTHxHEIGHT': number } }, with or without tokens: { textInput, imageInput, imageOutput }"
  if (prices === null || typeof prices !== 'object' || Array.isArray(prices)) throw optionError('prices', `must be an object of model names, each ${shape}`)
  const isPrice = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0
  const isTable = (v: unknown, depth: number): boolean =>
    isPrice(v) || (depth > 0 && v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => isTable(x, depth - 1)))
  const TOKEN_KINDS = ['textInput', 'imageInput', 'imageOutput']
  for (const [model, price] of Object.entries(prices)) {
    if (!isTable(price, 2)) throw optionError(`prices.${model}`, `must be ${shape}, got ${JSON.stringify(price)}`)
    const tokens = typeof price === 'object' ? (price as Record<string, unknown>).tokens : undefined
    if (tokens === undefined) continue
    const names = tokens !== null && typeof tokens === 'object' ? Object.keys(tokens) : []
    if (!isTable(tokens, 1) || typeof tokens !== 'object' || names.length !== TOKEN_KINDS.length || !TOKEN_KINDS.every((kind) => names.includes(kind))) {
      throw optionError(`prices.${model}.tokens`, `must be { textInput, imageInput, imageOutput } in US dollars per 1M tokens, got ${JSON.stringify(tokens)}`)
    }
  }
  return prices
}

function toList(value: string | string[] | undefined, field: string): string[] | undefined {
  if (value === undefined) return undefined
  const list = Array.isArray(value) ? value : [value]
  if (!list.every((v) => typeof v === 'string' && v !== '')) throw optionError(field, 'must be a glob or an array of globs')
  return list
}

function positiveInteger(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < 1) throw optionError(field, `must be an integer of at least 1, got ${value}`)
  return value
}

function nonNegativeInteger(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < 0) throw optionError(field, `must be an integer of at least 0, got ${value}`)
  return value
}

function positiveNumber(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) throw optionError(field, `must be a positive number, got ${value}`)
  return value
}

function nonNegativeNumber(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) throw optionError(field, `must be a number of at least 0, got ${value}`)
  return value
}
