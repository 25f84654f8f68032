/**
 * Module ids of image modules.
 *
 * - a spec file resolves to `<absolute path>?ai-image`: the query keeps bundlers' JSON handling away
 *   (the module is JavaScript) while the file path stays visible to watchers and HMR. webpack and Rspack
 *   are the exception (see `specModuleId`): there the id is the file itself;
 * - `virtual:ai-image?…` and `virtual:ai-image/<name>` resolve to the same text behind `\0`, the
 *   convention for virtual modules. Relative `image`/`mask` paths of a query are relative to the
 *   importer, whose folder is carried in the id.
 */
import path from 'node:path'
import { specInvalid } from '../core/errors.js'
import { SPEC_SUFFIX, SPEC_SUFFIX_SOURCE, VIRTUAL_PREFIX, isSpecPath, type ResolvedOptions, type SpecRef } from '../core/service.js'

export const SPEC_QUERY = '?ai-image'
export const RESOLVED_VIRTUAL = `\0${VIRTUAL_PREFIX}`
/** Internal query parameter carrying the importer's folder (relative to the root). */
const DIR_PARAM = '__dir'

// `\x00` rather than `\0`: esbuild runs these filters as Go regular expressions, which have no `\0`.
export const RESOLVE_FILTER = new RegExp(`${SPEC_SUFFIX_SOURCE}(?:\\?ai-image)?$|^\\x00?virtual:ai-image(?:[/?]|$)`)
/** A spec file by its path (esbuild's own resolution of spec imports). */
export const SPEC_FILE_FILTER = new RegExp(`${SPEC_SUFFIX_SOURCE}$`)
export const VIRTUAL_FILTER = /^\x00?virtual:ai-image(?:[/?]|$)/
/** Also matches a bare spec path: the id of a spec file in webpack and Rspack (`specModuleId`). */
export const LOAD_FILTER = new RegExp(`${SPEC_SUFFIX_SOURCE}(?:\\?ai-image)?$|^\\x00virtual:ai-image(?:[/?]|$)`)

/**
 * The module id of a spec file. webpack and Rspack match module rules on the path without its query and
 * turn any id that is not an existing file into an in-memory virtual module, whose name would carry this
 * machine's absolute path into module ids and content hashes. So there the id is the file itself, and the
 * plugin's load rule (type `javascript/auto`) takes it from webpack's JSON parser.
 */
export function specModuleId(file: string, framework: string): string {
  return framework === 'webpack' || framework === 'rspack' ? file : `${file}${SPEC_QUERY}`
}

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
export function specRefOf(id: string, options: Pick<ResolvedOptions, 'root' | 'isSpecFile'>): SpecRef | undefined {
  const { root } = options
  if (id.endsWith(SPEC_QUERY) && id.includes(SPEC_SUFFIX)) {
    return { kind: 'file', file: id.slice(0, -SPEC_QUERY.length) }
  }
  // A bare path is ours only when `include`/`exclude` say so (webpack and Rspack ids, see `specModuleId`).
  if (isSpecPath(id)) return path.isAbsolute(id) && options.isSpecFile(id) ? { kind: 'file', file: id } : undefined
  if (!id.startsWith(RESOLVED_VIRTUAL)) return undefined
  const rest = id.slice(RESOLVED_VIRTUAL.length)
  if (rest.startsWith('/')) return { kind: 'named', name: decodeName(rest.slice(1)) }
  const params = new URLSearchParams(rest.startsWith('?') ? rest.slice(1) : '')
  const dir = path.resolve(root, params.get(DIR_PARAM) ?? '.')
  params.delete(DIR_PARAM)
  const query = params.toString()
  return { kind: 'query', query, dir, id: `${VIRTUAL_PREFIX}${query ? `?${query}` : ''}` }
}

/** The name of `virtual:ai-image/<name>`; a malformed percent-escape in it (an untrusted import) is SPEC_INVALID, not a URIError. */
function decodeName(encoded: string): string {
  try {
    return decodeURIComponent(encoded)
  } catch {
    throw specInvalid(`${VIRTUAL_PREFIX}/${encoded}`, '', 'the name holds a malformed percent-escape', 'Encode the name with encodeURIComponent (a literal % is %25)')
  }
}
