/**
 * URLs of the Vite dev server that reach the plugin: its modules, in every spelling Vite accepts
 * (`/@id/__x00__virtual:ai-image?…`, `/@id/virtual:ai-image…`, `%`-encoded variants, spec files with any
 * query, through `/@fs/`, files that `include` makes specs), and its images under `<base>@ai-image/`.
 *
 * Recognising a module URL errs on the side of "ours": the answer decides whether a request of another
 * site is refused, and refusing a foreign request for a module that turns out not to be ours costs nothing.
 * What no pattern can see (an alias that names a spec file) is refused by the load hook (`RequestGuard`).
 */
import path from 'node:path'
import { SPEC_SUFFIX, VIRTUAL_PREFIX } from '../core/service.js'

export const DEV_URL_SEGMENT = '@ai-image/'
export const PREVIEW_SEGMENT = 'preview/'
/** The gallery, under Vite's `base` (DESIGN.md, "The gallery"). */
export const GALLERY_SEGMENT = '__ai-image/'

/** An image asset: `<cache key>-<candidate>-<digest>.<ext>`. */
export const ASSET_NAME = /^([0-9a-f]{64})-(\d{1,3})-([0-9a-f]{12})\.[a-z]{2,4}$/
/** A live preview: `<token>-<candidate>.<ext>` (the token is 12 random bytes in hex). */
export const PREVIEW_NAME = /^([0-9a-f]{24})-(\d{1,3})\.[a-z]{2,4}$/

export interface DevUrlContext {
  base: string
  root: string
  isSpecFile(file: string): boolean
}

/** Whether `url` (a request target) may load one of the plugin's modules or images. */
export function isPluginUrl(url: string, context: DevUrlContext): boolean {
  const text = looseDecode(url)
  const lower = text.toLowerCase()
  if (lower.includes(VIRTUAL_PREFIX) || lower.includes(SPEC_SUFFIX) || lower.includes(`/${DEV_URL_SEGMENT}`)) return true
  const cut = text.search(/[?#]/)
  const pathname = cut === -1 ? text : text.slice(0, cut)
  const query = cut === -1 ? '' : lower.slice(cut + 1)
  if (/(?:^|[&?])ai-image(?:[=&#]|$)/.test(query)) return true
  return context.isSpecFile(fileOfPath(pathname, context))
}

export type DevImageRequest =
  | { kind: 'asset'; name: string }
  | { kind: 'preview'; token: string; index: number }
  | { kind: 'malformed'; reason: string }

/** The image a URL under `<base>@ai-image/` names; undefined when the URL is not under it. */
export function parseImageUrl(url: string, base: string): DevImageRequest | undefined {
  const cut = url.search(/[?#]/)
  const pathname = cut === -1 ? url : url.slice(0, cut)
  const prefix = `${base}${DEV_URL_SEGMENT}`
  if (!pathname.startsWith(prefix)) return undefined
  let name: string
  try {
    name = decodeURIComponent(pathname.slice(prefix.length))
  } catch {
    return { kind: 'malformed', reason: 'the URL has a malformed %-escape' }
  }
  if (name.startsWith(PREVIEW_SEGMENT)) {
    const match = PREVIEW_NAME.exec(name.slice(PREVIEW_SEGMENT.length))
    return match ? { kind: 'preview', token: match[1]!, index: Number(match[2]) } : { kind: 'malformed', reason: 'no preview has a name of this form' }
  }
  return ASSET_NAME.test(name) ? { kind: 'asset', name } : { kind: 'malformed', reason: 'no image has a name of this form' }
}

/**
 * `%XX` escapes decoded as UTF-8 bytes, again while that changes something (at most three rounds: a
 * double-encoded URL is still seen); malformed escapes and invalid bytes never throw, they stay or become U+FFFD.
 */
export function looseDecode(text: string): string {
  let current = text
  for (let round = 0; round < 3; round++) {
    const next = decodeEscapes(current)
    if (next === current) break
    current = next
  }
  return current
}

function decodeEscapes(text: string): string {
  if (!/%[0-9a-fA-F]{2}/.test(text)) return text
  const bytes = text.split(/(%[0-9a-fA-F]{2})/).map((part) => (/^%[0-9a-fA-F]{2}$/.test(part) ? Buffer.of(Number.parseInt(part.slice(1), 16)) : Buffer.from(part)))
  return Buffer.concat(bytes).toString('utf8')
}

/** The file a dev server path serves: `/@fs/<absolute>`, `/@id/<id>`, or `<base><root-relative>`. */
function fileOfPath(pathname: string, { base, root }: DevUrlContext): string {
  const local = base !== '/' && pathname.startsWith(base) ? `/${pathname.slice(base.length)}` : pathname
  if (local.startsWith('/@fs/')) {
    const rest = local.slice('/@fs/'.length)
    // `/@fs/C:/…` on Windows, `/@fs/tmp/…` for the POSIX path `/tmp/…`.
    return path.normalize(/^[A-Za-z]:\//.test(rest) ? rest : `/${rest}`)
  }
  if (local.startsWith('/@id/')) {
    const rest = local.slice('/@id/'.length)
    return path.isAbsolute(rest) ? path.normalize(rest) : path.join(root, rest)
  }
  return path.join(root, local)
}
