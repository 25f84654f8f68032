/**
 * The `ai-image` command: parse the arguments, open the project, run one command, return the exit code.
 * Errors carry the same codes and messages as the bundler plugins.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { isAiImageError } from '../core/errors.js'
import type { Env } from '../core/service.js'
import { check } from './commands/check.js'
import { gallery } from './commands/gallery.js'
import { generateBatch, type BatchCommandOptions } from './commands/batch.js'
import { generate } from './commands/generate.js'
import { list } from './commands/ls.js'
import { prune } from './commands/prune.js'
import { describeError } from './describe.js'
import { EXIT, HELP } from './help.js'
import { createOutput, type Streams } from './output.js'
import { openProject } from './project.js'

export interface RunContext extends Streams {
  cwd: string
  env: Env
}

const COMMON_OPTIONS = {
  root: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options']

const COMMANDS = {
  generate: {
    options: { ...COMMON_OPTIONS, 'dry-run': { type: 'boolean' }, batch: { type: 'boolean' }, wait: { type: 'boolean' }, cancel: { type: 'boolean' }, interval: { type: 'string' } },
    positionals: true,
  },
  check: { options: COMMON_OPTIONS, positionals: false },
  prune: { options: { ...COMMON_OPTIONS, 'dry-run': { type: 'boolean' } }, positionals: false },
  ls: { options: { ...COMMON_OPTIONS, json: { type: 'boolean' } }, positionals: false },
  gallery: { options: { ...COMMON_OPTIONS, out: { type: 'string' }, since: { type: 'string' } }, positionals: false },
} as const

type Command = keyof typeof COMMANDS

export async function run(argv: readonly string[], context: RunContext): Promise<number> {
  const output = createOutput(context, context.env)
  const [first, ...rest] = argv
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    output.out(HELP.main)
    return first === undefined ? EXIT.usage : EXIT.ok
  }
  if (first === '-v' || first === '--version') {
    output.out(version())
    return EXIT.ok
  }
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, first)) {
    output.err(output.style('red', `unknown command "${first}"`))
    output.err(HELP.main)
    return EXIT.usage
  }
  const command = first as Command
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] }
  try {
    const config = COMMANDS[command] as { options: ParseArgsConfig['options']; positionals: boolean }
    parsed = parseArgs({ args: [...rest], options: config.options, allowPositionals: config.positionals, strict: true }) as typeof parsed
  } catch (error) {
    output.err(output.style('red', (error as Error).message))
    output.err(HELP[command]!)
    return EXIT.usage
  }
  if (parsed.values.help) {
    output.out(HELP[command]!)
    return EXIT.ok
  }

  const batch = command === 'generate' ? batchOptions(parsed.values, parsed.positionals) : undefined
  if (typeof batch === 'string') {
    output.err(output.style('red', batch))
    output.err(HELP[command]!)
    return EXIT.usage
  }

  const root = typeof parsed.values.root === 'string' ? parsed.values.root : context.cwd
  let project
  try {
    // `generate` is the explicit go-ahead to spend: it is never frozen, in CI or not.
    project = await openProject(root, output, context.env, command === 'generate' ? { frozen: false } : {}, parsed.positionals)
  } catch (error) {
    output.err(output.style('red', describeError(error)))
    return isAiImageError(error) ? EXIT.usage : EXIT.problems
  }
  try {
    switch (command) {
      case 'generate':
        if (batch) return await generateBatch(project, output, batch)
        return await generate(project, output, { dryRun: parsed.values['dry-run'] === true })
      case 'check':
        return await check(project, output)
      case 'prune':
        return await prune(project, output, { dryRun: parsed.values['dry-run'] === true })
      case 'ls':
        return await list(project, output, { json: parsed.values.json === true })
      case 'gallery':
        return await gallery(project, output, { out: parsed.values.out as string | undefined, since: parsed.values.since as string | undefined, cwd: context.cwd, env: context.env })
    }
  } catch (error) {
    output.err(output.style('red', describeError(error)))
    return EXIT.problems
  } finally {
    await project.service.close()
  }
}

/** The options of `generate --batch`; undefined without --batch; a usage error as a string. */
function batchOptions(values: Record<string, string | boolean | undefined>, positionals: readonly string[]): BatchCommandOptions | undefined | string {
  if (!values.batch) {
    const stray = (['wait', 'cancel', 'interval'] as const).find((name) => values[name] !== undefined)
    return stray ? `--${stray} goes with --batch` : undefined
  }
  if (values.cancel && values['dry-run']) return '--cancel and --dry-run do not go together: a dry run sends nothing'
  let intervalMs = BATCH_INTERVAL_MS
  if (values.interval !== undefined) {
    const seconds = Number(values.interval)
    if (!Number.isFinite(seconds) || seconds < 1) return `--interval must be a number of seconds, at least 1 (got ${JSON.stringify(values.interval)})`
    intervalMs = seconds * 1000
  }
  return { dryRun: values['dry-run'] === true, wait: values.wait === true, cancel: values.cancel === true, intervalMs, selection: positionals.length > 0 }
}

/** Between two looks at pending batches with --wait or --cancel: results take minutes to hours. */
const BATCH_INTERVAL_MS = 60_000

/** Set by the build (tsup `define`); running from source says so. */
declare const __AI_IMAGE_VERSION__: string | undefined

function version(): string {
  return typeof __AI_IMAGE_VERSION__ === 'string' ? __AI_IMAGE_VERSION__ : '0.0.0-source'
}
