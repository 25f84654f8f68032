/**
 * Every spec of the project judged before anything is paid for. A build checks, at its start, every spec
 * file (found as the `ai-image` command finds them: `spec-files.ts`) and every named spec, and fails with one
 * SPEC_INVALID listing each invalid spec, so a typo in one spec never lets the build pay for the others
 * first; the dev server logs them and goes on. Before a build's first paid request, the `virtual:ai-image?…`
 * imports written in the project's sources are judged too (the command's whole discovery, loaded then: a
 * build without a miss never pays for reading every source file).
 *
 * The same check brings the declaration files of spec files up to date (`spec-types.ts`).
 */
import { AiImageError, isAiImageError, specInvalid } from '../errors.js'
import { isSpecPath } from '../spec-path.js'
import type { Logger } from '../log.js'
import type { ResolvedOptions } from '../options.js'
import { relativeLabel, refLabel, type SpecRef } from '../spec/source.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { findProjectFiles } from './spec-files.js'
import { syncDeclarations, wantsDeclarations, type DeclarationReport } from './spec-types.js'

export interface InvalidSpec {
  label: string
  error: unknown
}

export interface ProjectCheck {
  /** How many specs were judged. */
  checked: number
  invalid: InvalidSpec[]
  /** One SPEC_INVALID naming every invalid spec; undefined when every spec is valid. */
  error?: AiImageError
  /** The valid spec files, by absolute path (a build's loads reuse them instead of reading each spec again). */
  valid: Map<string, ValidatedSpec>
  /** What became of the declaration files (TypeScript projects only). */
  declarations?: DeclarationReport
}

export interface ProjectCheckDeps {
  options: ResolvedOptions
  log: Logger
  /** Read and validate one spec (never from a cache of earlier checks). */
  validate(ref: SpecRef): Promise<ValidatedSpec>
}

/** Spec files and named specs, judged; declaration files brought up to date. */
export async function checkProject(deps: ProjectCheckDeps): Promise<ProjectCheck> {
  const { options } = deps
  const files = await findProjectFiles(options)
  const refs: SpecRef[] = [
    ...files.specs.map((file): SpecRef => ({ kind: 'file', file })),
    ...Object.keys(options.images)
      .sort()
      .map((name): SpecRef => ({ kind: 'named', name })),
  ]
  const check = await judge(deps, refs)
  if (wantsDeclarations(options.root)) {
    check.declarations = syncDeclarations(files.specs, files.declarations)
    reportDeclarations(deps, check.declarations)
  }
  return check
}

/**
 * Every spec the command would find (spec files, named specs, `virtual:ai-image?…` imports in sources),
 * judged; throws the SPEC_INVALID naming every invalid one. Spec files already judged by this build are not
 * read again.
 */
export async function checkBeforePaying(deps: ProjectCheckDeps, judged: ReadonlyMap<string, ValidatedSpec>): Promise<void> {
  const { discoverSpecs } = await import('../discover.js')
  const refs = (await discoverSpecs(deps.options)).map((found) => found.ref).filter((ref) => ref.kind !== 'file' || !judged.has(ref.file))
  const { error } = await judge(deps, refs)
  if (error) throw error
}

async function judge(deps: ProjectCheckDeps, refs: readonly SpecRef[]): Promise<ProjectCheck> {
  const valid = new Map<string, ValidatedSpec>()
  const invalid: InvalidSpec[] = []
  const results = await Promise.all(
    refs.map((ref) =>
      deps.validate(ref).then(
        (spec) => ({ ref, spec }),
        (error: unknown) => ({ ref, error }),
      ),
    ),
  )
  const editors = editorsOf(results.flatMap((result) => ('spec' in result ? [result.spec] : [])))
  for (const result of results) {
    if ('spec' in result) {
      if (result.ref.kind === 'file') valid.set(result.ref.file, result.spec)
      continue
    }
    const label = refLabel(deps.options.root, result.ref, result.error)
    const editor = result.ref.kind === 'file' ? editors.get(result.ref.file) : undefined
    // An invalid spec that another spec edits (a chain) is reported as that edit's input, as a load of the edit
    // would: the edit and its field are where the user looks.
    const error = editor ? specInvalid(editor.label, editor.field, `is ${label}, which is invalid: ${problemOf(label, result.error)}`) : result.error
    invalid.push({ label: editor ? editor.label : label, error })
  }
  const error = invalidSpecsError(invalid)
  return { checked: refs.length, invalid, valid, ...(error ? { error } : {}) }
}

/** Spec files that valid specs edit (chained inputs): the first edit of each, with its field. */
function editorsOf(specs: readonly ValidatedSpec[]): Map<string, { label: string; field: string }> {
  const editors = new Map<string, { label: string; field: string }>()
  for (const spec of specs) {
    spec.inputs.forEach((input, i) => {
      if (isSpecPath(input) && !editors.has(input)) editors.set(input, { label: spec.label, field: spec.inputs.length > 1 ? `image[${i}]` : 'image' })
    })
  }
  return editors
}

/**
 * The build's error for invalid specs: the spec's own error when there is one (its file, field and fix), else
 * one SPEC_INVALID listing each, one line apiece, the path once per line.
 */
export function invalidSpecsError(invalid: readonly InvalidSpec[]): AiImageError | undefined {
  if (invalid.length === 0) return undefined
  if (invalid.length === 1 && isAiImageError(invalid[0]!.error)) return invalid[0]!.error
  const lines = invalid.map(({ label, error }) => `  - ${label}: ${problemOf(label, error)}`)
  return new AiImageError(
    'SPEC_INVALID',
    `${invalid.length} specs are invalid; nothing was generated:\n${lines.join('\n')}\n` +
      'Fix them and build again (`npx ai-image check` lists them too).',
    { data: { invalid: invalid.map((i) => i.label) } },
  )
}

/** What is wrong with a spec, without its path (the line names it) or the code. */
export function problemOf(label: string, error: unknown): string {
  if (isAiImageError(error)) return error.file === label || error.file === undefined ? error.bareMessage : `${error.file}: ${error.bareMessage}`
  return error instanceof Error ? error.message : String(error)
}

function reportDeclarations(deps: ProjectCheckDeps, report: DeclarationReport): void {
  const label = (file: string) => relativeLabel(deps.options.root, file)
  for (const { file, reason } of report.refused) {
    deps.log.warnOnce(`${label(file)} ${reason}: the TypeScript declaration of its spec was not written there. Remove or rename it to get typed imports`)
  }
}
