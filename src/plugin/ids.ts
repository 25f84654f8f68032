/**
 * Module ids of image modules.
 *
 * - a spec file resolves to `<absolute path>?ai-image`: the query keeps bundlers' JSON handling away
 *   (the module is JavaScript) while the file path stays visible to watchers and HMR;
 * - `virtual:ai-image?…` and `virtual:ai-image/<name>` resolve to the same text behind `\0`, the
 *   convention for virtual modules. Relative `image`/`mask` paths of a query are relative to the
 *   importer, whose folder is carried in the id.
 */
import path from 'node:path'
import type { SpecRef } from '../core/service.js'
import { VIRTUAL_PREFIX } from '../core/spec/source.js'

export const SPEC_QUERY = '?ai-image'
export const RESOLVED_VIRTUAL = `\0${VIRTUAL_PREFIX}`
/** Internal query parameter carrying the importer's folder (relative to the root). */
const DIR_PARAM = '__dir'

export const RESOLVE_FILTER = /\.imgprompt\.json(?:\?ai-image)?$|^\0?virtual:ai-image(?:[/?]|$)/
export const LOAD_FILTER = /\.imgprompt\.json\?ai-image$|^\0virtual:ai-image(?:[/?]|$)/

export function isVirtualRequest(id: string): boolean {
  return id === VIRTUAL_PREFIX || id.startsWith(`${VIRTUAL_PREFIX}?`) || id.startsWith(`${VIRTUAL_PREFIX}/`)
}

/** `virtual:ai-image?…` → its resolved id; the importer's folder travels along when paths need it. */
export function resolveVirtual(id: string, importer: string | undefined, root: string): string {
  const query = id.slice(VIRTUAL_PREFIX.length)
  if (!query.startsWith('?')) return `\0${id}`
  const params = new URLSearchParams(query.slice(1))
  params.delete(DIR_PARAM)
  if ((params.has('image') || params.has('mask')) && importer && path.isAbsolute(importer)) {
    params.set(DIR_PARAM, path.relative(root, path.dirname(importer)).split(path.sep).join('/'))
  }
  const rest = params.toString()
  return `${RESOLVED_VIRTUAL}${rest ? `?${rest}` : ''}`
}

/** The spec behind a resolved id, or undefined when the id is not ours. */
export function specRefOf(id: string, root: string): SpecRef | undefined {
  if (id.endsWith(SPEC_QUERY) && id.includes('.imgprompt.json')) {
    return { kind: 'file', file: id.slice(0, -SPEC_QUERY.length) }
  }
  if (!id.startsWith(RESOLVED_VIRTUAL)) return undefined
  const rest = id.slice(RESOLVED_VIRTUAL.length)
  if (rest.startsWith('/')) return { kind: 'named', name: decodeURIComponent(rest.slice(1)) }
  const params = new URLSearchParams(rest.startsWith('?') ? rest.slice(1) : '')
  const dir = path.resolve(root, params.get(DIR_PARAM) ?? '.')
  params.delete(DIR_PARAM)
  const query = params.toString()
  return { kind: 'query', query, dir, id: `${VIRTUAL_PREFIX}${query ? `?${query}` : ''}` }
}
