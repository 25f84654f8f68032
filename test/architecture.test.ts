/**
 * The layers of `src/` (DESIGN.md "Architecture", README "Development"), checked on the import graph that
 * TypeScript's own pre-processor reads from each file (static, type-only, re-exports and dynamic imports
 * alike): no cycle anywhere, no import of a higher layer (nor, on a floor of independent parts, of a
 * neighbour), the bundler glue and the command reach the core through its front door only, and the spec
 * suffix is spelled in one module.
 */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

/** Every module of `src/`, relative to it, with `/` separators. */
function modules(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return modules(full)
    return entry.name.endsWith('.ts') ? [path.relative(SRC, full).split(path.sep).join('/')] : []
  })
}

/** The modules of `src/` a module imports (packages and Node built-ins left out). */
function importsOf(module: string): string[] {
  const text = readFileSync(path.join(SRC, module), 'utf8')
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((file) => file.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => path.posix.normalize(path.posix.join(path.posix.dirname(module), specifier)).replace(/\.js$/, '.ts'))
}

const ALL = modules()
const GRAPH = new Map(ALL.map((module) => [module, importsOf(module)]))

/**
 * Floors from the ground up. Parts of one floor may import each other only where the floor says so:
 * `together` parts form one unit; otherwise the parts of a floor are independent (cache and providers,
 * engine, emit and the Batch API layer).
 */
const FLOORS: ReadonlyArray<{ name: string; parts: ReadonlyArray<{ name: string; match: (module: string) => boolean }>; together?: boolean }> = [
  {
    name: 'ground floor',
    together: true,
    parts: [
      {
        name: 'vocabulary',
        match: (m) =>
          m === 'types.ts' ||
          ['errors', 'log', 'secrets', 'image-format', 'clock', 'spec-path', 'hash', 'regular-file', 'atomic-write', 'read-inside-root', 'option-values'].some((name) => m === `core/${name}.ts`),
      },
    ],
  },
  { name: 'specs', parts: [{ name: 'spec', match: (m) => m.startsWith('core/spec/') }] },
  {
    name: 'cache and providers',
    parts: [
      { name: 'cache', match: (m) => m.startsWith('core/cache/') },
      { name: 'providers', match: (m) => m.startsWith('core/providers/') },
    ],
  },
  {
    name: 'engine, emit and the Batch API',
    parts: [
      { name: 'engine', match: (m) => m.startsWith('core/engine/') },
      { name: 'emit', match: (m) => m.startsWith('core/emit/') },
      { name: 'batch', match: (m) => m.startsWith('core/batch/') },
    ],
  },
  {
    name: 'front door',
    together: true,
    parts: [
      {
        name: 'service',
        match: (m) => ['core/options.ts', 'core/config-file.ts', 'core/discover.ts', 'core/service.ts'].includes(m) || m.startsWith('core/service/'),
      },
    ],
  },
  {
    // Features built on the front door (they use it; it knows nothing of them), each with its own door.
    name: 'features on the front door',
    parts: [{ name: 'gallery', match: (m) => m.startsWith('core/gallery/') }],
  },
  {
    name: 'front ends',
    parts: [
      { name: 'plugin', match: (m) => m.startsWith('plugin/') },
      { name: 'cli', match: (m) => m.startsWith('cli/') },
    ],
  },
  { name: 'entry points', parts: [{ name: 'entries', match: (m) => !m.includes('/') }] },
]

function placeOf(module: string): { floor: number; part: string } {
  for (const [floor, { parts }] of FLOORS.entries()) {
    const part = parts.find((p) => p.match(module))
    if (part) return { floor, part: part.name }
  }
  throw new Error(`${module} is on no floor: add it to FLOORS (and to the layout of the README and DESIGN.md)`)
}

/** Every import cycle, as `a → b → … → a` (one per strongly connected component). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[] = []
  let counter = 0
  const visit = (node: string): void => {
    index.set(node, counter)
    low.set(node, counter++)
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(node, Math.min(low.get(node)!, low.get(next)!))
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!))
    }
    if (low.get(node) !== index.get(node)) return
    const component: string[] = []
    let member: string
    do {
      member = stack.pop()!
      onStack.delete(member)
      component.push(member)
    } while (member !== node)
    const selfLoop = (graph.get(node) ?? []).includes(node)
    if (component.length > 1 || selfLoop) found.push([...component.reverse(), component[0]].join(' → '))
  }
  for (const node of graph.keys()) if (!index.has(node)) visit(node)
  return found
}

describe('the layers of src/', () => {
  it('reads the graph: every relative import names a module of src/', () => {
    expect(ALL.length).toBeGreaterThan(50)
    const dangling = [...GRAPH].flatMap(([module, imports]) => imports.filter((target) => !GRAPH.has(target)).map((target) => `${module} → ${target}`))
    expect(dangling).toEqual([])
  })

  it('has no import cycle', () => {
    expect(cycles(GRAPH)).toEqual([])
  })

  it('finds a cycle when there is one (the check itself)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual(['a → b → c → a'])
    expect(cycles(new Map([['a', ['a']]]))).toEqual(['a → a'])
  })

  it('imports only downward: never a higher floor, never a neighbour on a floor of independent parts', () => {
    const wrong: string[] = []
    for (const [module, imports] of GRAPH) {
      const from = placeOf(module)
      for (const target of imports) {
        const to = placeOf(target)
        if (to.floor > from.floor) wrong.push(`${module} → ${target} (up from the ${FLOORS[from.floor]!.name} to the ${FLOORS[to.floor]!.name})`)
        else if (to.floor === from.floor && to.part !== from.part && !FLOORS[from.floor]!.together) {
          wrong.push(`${module} → ${target} (${from.part} and ${to.part} are independent)`)
        }
      }
    }
    expect(wrong).toEqual([])
  })

  it('the bundler glue and the command import from the core only its front door (and the doors of the features on it), the error type and the public types', () => {
    const allowed = new Set(['core/service.ts', 'core/errors.ts', 'types.ts', 'core/gallery/index.ts'])
    const wrong = [...GRAPH]
      .filter(([module]) => module.startsWith('plugin/') || module.startsWith('cli/'))
      .flatMap(([module, imports]) => imports.filter((target) => !allowed.has(target) && !target.startsWith('plugin/') && !target.startsWith('cli/')).map((target) => `${module} → ${target}`))
    expect(wrong).toEqual([])
  })

  it('the features on the front door reach the cache through it: they import nothing of core/cache/', () => {
    const wrong = [...GRAPH]
      .filter(([module]) => placeOf(module).floor === FLOORS.findIndex((floor) => floor.name === 'features on the front door'))
      .flatMap(([module, imports]) => imports.filter((target) => target.startsWith('core/cache/')).map((target) => `${module} → ${target}`))
    expect(wrong).toEqual([])
  })

  it('spells the spec suffix in one module: every other string, template and pattern is built from it', () => {
    const spelled: string[] = []
    for (const module of ALL) {
      const source = ts.createSourceFile(module, readFileSync(path.join(SRC, module), 'utf8'), ts.ScriptTarget.Latest, true)
      const visit = (node: ts.Node): void => {
        if ((ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isRegularExpressionLiteral(node)) && /imgprompt/i.test(node.text)) {
          spelled.push(`${module}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`)
        }
        ts.forEachChild(node, visit)
      }
      visit(source)
    }
    expect(spelled).toEqual(['core/spec-path.ts:7'])
  })
})
