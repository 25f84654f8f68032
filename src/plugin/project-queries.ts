/**
 * Which `virtual:ai-image?…` specs the project itself asks for, in the Vite dev server. A query spec is
 * written by whoever writes its URL: a page of another site can name any prompt, `n` and quality. So the
 * dev server generates one only when a source file of the project imports it: `resolveId` saw it imported
 * by a project source, or the sources' text names it (`discoverSpecs`, for a module the browser asks for
 * before anything imported it in this server's life, e.g. after a restart). Named specs come from the
 * plugin options and spec files are the project's files: both are the project's own.
 */
import path from 'node:path'
import { AiImageError } from '../core/errors.js'
import { SPEC_SUFFIX, type ImageService, type SpecRef } from '../core/service.js'

export type QuerySpecRef = Extract<SpecRef, { kind: 'query' }>

/** The query parameter that carries the importer's folder (ids.ts); never part of what a spec asks for. */
const DIR_PARAM = '__dir'

export class ProjectQueries {
  /** Resolved ids of query specs imported by project sources. */
  private readonly imported = new Set<string>()

  constructor(private readonly service: () => ImageService) {}

  /** `resolveId` turned an import of a query spec into `id`, for `importer`. */
  noteResolved(id: string, importer: string | undefined): void {
    if (importer !== undefined && this.isProjectSource(importer)) this.imported.add(id)
  }

  /** Resolves when a project source imports the spec of `id`; else throws a SPEC_INVALID error that says why and what to do. */
  async assertImported(id: string, ref: QuerySpecRef): Promise<void> {
    if (this.imported.has(id)) return
    const wanted = identity(ref.query, ref.dir)
    const discovered = await this.service().discover()
    if (discovered.some(({ ref: found }) => found.kind === 'query' && identity(found.query, found.dir) === wanted)) {
      this.imported.add(id)
      return
    }
    throw new AiImageError(
      'SPEC_INVALID',
      'no source file of the project imports this spec, so the dev server does not generate it from a request ' +
        '(any page the browser opens could otherwise spend the API key on prompts of its choosing). ' +
        `Import it from a source file under the project root, or write it as a spec file (\`*${SPEC_SUFFIX}\`)`,
      { file: ref.id },
    )
  }

  /** A file of the project (not a dependency, not a virtual module); `?…` of ids like `index.html?html-proxy` aside. */
  private isProjectSource(importer: string): boolean {
    const { root } = this.service().options
    // Vite passes `<root>/index.html` as the importer of a URL the browser asked for directly (no import
    // behind it); inline scripts of the page import as `index.html?html-proxy…`.
    if (importer === path.join(root, 'index.html')) return false
    const file = importer.split('?')[0]!
    if (file.startsWith('\0') || !path.isAbsolute(file)) return false
    const relative = path.relative(root, file)
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) && !relative.split(path.sep).includes('node_modules')
  }
}

/** What makes two query specs the same: their parameters, and their folder when relative inputs make it matter. */
function identity(query: string, dir: string): string {
  const params = new URLSearchParams(query)
  params.delete(DIR_PARAM)
  const normalized = params.toString()
  return params.has('image') || params.has('mask') ? `${path.resolve(dir)}\0${normalized}` : normalized
}
