/**
 * The one definition of a spec field (`src/core/spec/fields.ts`) and what is checked against it: the public
 * types (`types.ts`, hand-written for their JSDoc) have exactly its fields (a type-level test compiled here)
 * and document its defaults in `@default` tags; the validator fills those defaults in and keys exactly the
 * fields it marks keyed; the emit recipe has exactly its `emit` fields.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { recipeFor } from '../../src/core/emit/recipe.js'
import { EMIT_FIELDS, KEYED_REQUEST_FIELDS, SPEC_FIELDS, type FieldDef } from '../../src/core/spec/fields.js'
import { MODELS } from '../../src/core/spec/models.js'
import { validateSpec } from '../../src/core/spec/validate.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const TYPES_TEST = path.join(REPO, 'test/types/spec-fields.types.ts')

/** Diagnostics of compiling `file` (with in-memory `overrides` of files) under the repository's compiler options. */
function diagnostics(file: string, overrides: Record<string, string> = {}): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(REPO, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
  const host = ts.createCompilerHost(config.options)
  const readFile = host.readFile.bind(host)
  host.readFile = (name) => overrides[path.resolve(name)] ?? readFile(name)
  const program = ts.createProgram([file], config.options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

describe('the public types have exactly the fields of the table', () => {
  it('compiles: ImageSpec, EmitOptions and SpecDefaults have the table’s fields', () => {
    expect(diagnostics(TYPES_TEST)).toEqual([])
  })

  it('fails to compile when a field is in one and not the other', () => {
    const types = path.join(REPO, 'src/types.ts')
    const extra = readFileSync(types, 'utf8').replace('export interface EmitOptions {', 'export interface EmitOptions {\n  sharpen?: number')
    expect(diagnostics(TYPES_TEST, { [types]: extra }).join('\n')).toMatch(/Type 'true' is not assignable to type 'false'/)
    const dropped = readFileSync(types, 'utf8').replace(/\n {2}\/\*\* Alt text\. @default the prompt \*\/\n {2}alt\?: string/, '')
    expect(dropped).not.toContain('alt?: string')
    expect(diagnostics(TYPES_TEST, { [types]: dropped }).join('\n')).toMatch(/Type 'true' is not assignable to type 'false'/)
  })
})

/** The `@default` tag of each property of an interface of `src/types.ts`. */
function defaultTags(interfaceName: string): Map<string, string | undefined> {
  const source = ts.createSourceFile('types.ts', readFileSync(path.join(REPO, 'src/types.ts'), 'utf8'), ts.ScriptTarget.Latest, true)
  const declaration = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === interfaceName)!
  const tags = new Map<string, string | undefined>()
  for (const member of declaration.members) {
    if (!ts.isPropertySignature(member)) continue
    const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'default')
    tags.set((member.name as ts.Identifier).text, tag ? ts.getTextOfJSDocComment(tag.comment)?.trim() : undefined)
  }
  return tags
}

/** What a `@default` tag must say for a field's default. */
function problemWithTag(name: string, def: FieldDef, tag: string | undefined): string | undefined {
  const literal = (value: unknown) => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value))
  const fallback = def.default?.kind === 'per-model' ? def.default.fallback : undefined
  switch (def.default?.kind) {
    case undefined:
      return tag === undefined ? undefined : `has @default ${tag}, but the table gives it no default`
    case 'value':
      return tag?.startsWith(literal(def.default.value)) ? undefined : `@default should start with ${literal(def.default.value)}, got ${tag}`
    case 'derived':
      return tag === def.default.text ? undefined : `@default should be "${def.default.text}", got ${tag}`
    case 'per-model': {
      const values = new Set(Object.values(MODELS).flatMap((caps) => (caps.defaults as Record<string, string | undefined>)[name] ?? []))
      if (fallback) values.add(fallback)
      const missing = [...values].filter((value) => !tag?.includes(literal(value)))
      return missing.length === 0 ? undefined : `@default should name ${missing.map(literal).join(', ')} (the defaults of the capability table), got ${tag}`
    }
  }
}

describe('the @default tags of types.ts say what the table says', () => {
  for (const [interfaceName, table] of [
    ['ImageSpec', SPEC_FIELDS],
    ['EmitOptions', EMIT_FIELDS],
  ] as const) {
    it(`${interfaceName}: every field's tag matches its default`, () => {
      const tags = defaultTags(interfaceName)
      const problems = Object.entries(table as Readonly<Record<string, FieldDef>>).flatMap(([name, def]) => {
        const problem = problemWithTag(name, def, tags.get(name))
        return problem ? [`${interfaceName}.${name} ${problem}`] : []
      })
      expect(problems).toEqual([])
    })
  }

  it('the check itself: a tag that disagrees is reported', () => {
    expect(problemWithTag('n', SPEC_FIELDS.n, '2')).toMatch(/should start with 1/)
    expect(problemWithTag('size', SPEC_FIELDS.size, "'auto'")).toMatch(/should name '1024x1024'/)
    expect(problemWithTag('alt', SPEC_FIELDS.alt, 'the file name')).toMatch(/should be "the prompt"/)
    expect(problemWithTag('user', SPEC_FIELDS.user, "'me'")).toMatch(/no default/)
  })
})

describe('the validator and the recipe come from the table', () => {
  const validate = (fields: Record<string, unknown>) =>
    validateSpec({ source: { kind: 'named', name: 'x' }, label: 'x', dir: REPO, fields }, { root: REPO, defaults: {}, warn: () => {} })

  it('fills in every plain default of the table', () => {
    const spec = validate({ prompt: 'a red door' })
    expect(spec.model).toBe(SPEC_FIELDS.model.default.value)
    expect(spec.request).toMatchObject({
      n: SPEC_FIELDS.n.default.value,
      output_format: SPEC_FIELDS.output_format.default.value,
      background: SPEC_FIELDS.background.default.value,
      moderation: SPEC_FIELDS.moderation.default.value,
    })
    expect(spec.pick).toBe(SPEC_FIELDS.pick.default.value)
    expect(spec.transport).toEqual({ stream: SPEC_FIELDS.stream.default.value, partialImages: SPEC_FIELDS.partial_images.default.value })
    expect(spec.emit).toEqual({
      widths: EMIT_FIELDS.widths.default.value,
      placeholder: EMIT_FIELDS.placeholder.default.value,
      background: EMIT_FIELDS.background.default.value,
      metadata: EMIT_FIELDS.metadata.default.value,
    })
    expect(validate({ prompt: 'x', output_format: 'jpeg' }).request.output_compression).toBe(SPEC_FIELDS.output_compression.default.value)
  })

  it('keys exactly the API fields the table marks keyed (a model the table does not know passes every one through)', () => {
    const set: Record<string, unknown> = {
      prompt: 'a red door',
      model: 'compatible-image-model',
      size: '512x512',
      quality: 'high',
      n: 2,
      background: 'opaque',
      output_format: 'webp',
      output_compression: 80,
      moderation: 'low',
      style: 'natural',
      input_fidelity: 'high',
      user: 'someone',
      stream: true,
      partial_images: 2,
    }
    const spec = validate(set)
    expect(Object.keys(spec.request).sort()).toEqual([...KEYED_REQUEST_FIELDS].sort())
    const sentNotKeyed = Object.entries(SPEC_FIELDS as Readonly<Record<string, FieldDef>>).filter(([, def]) => def.api && !def.keyed).map(([name]) => name)
    expect(sentNotKeyed.sort()).toEqual(['partial_images', 'stream', 'user'])
    for (const name of sentNotKeyed) expect(spec.request).not.toHaveProperty(name)
  })

  it('the recipe has exactly the emit fields', () => {
    const spec = validate({ prompt: 'x', emit: { format: 'webp', quality: 70, widths: [64], placeholder: 'blur', background: '#000' } })
    expect(Object.keys(recipeFor(spec.emit, 'image/png', true)).sort()).toEqual(Object.keys(EMIT_FIELDS).sort())
  })
})
