/**
 * Terminal output of the CLI: results on stdout, progress and diagnostics on stderr, colour only on a
 * terminal and never when NO_COLOR is set (https://no-color.org); FORCE_COLOR forces it.
 */
import { styleText } from 'node:util'
import type { LogSink } from '../core/service.js'

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
}

type Style = 'red' | 'green' | 'yellow' | 'dim' | 'bold' | 'cyan'

export interface Output {
  out(line?: string): void
  err(line?: string): void
  style(style: Style, text: string): string
  /** Where the service's logger writes (progress, warnings, the closing summary). */
  sink: LogSink
}

export function colorEnabled(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true
  return Boolean(stream.isTTY) && env.TERM !== 'dumb'
}

export function createOutput(streams: Streams, env: Readonly<Record<string, string | undefined>>): Output {
  const color = colorEnabled(streams.stdout, env)
  // Our own decision (stdout's TTY, NO_COLOR, FORCE_COLOR) stands; Node must not second-guess it.
  const paint = styleText as (format: Style, text: string, options: { validateStream: boolean }) => string
  const style = (name: Style, text: string) => (color ? paint(name, text, { validateStream: false }) : text)
  const err = (line = '') => void streams.stderr.write(`${line}\n`)
  return {
    out: (line = '') => void streams.stdout.write(`${line}\n`),
    err,
    style,
    sink: {
      info: (m) => err(style('dim', m)),
      warn: (m) => err(style('yellow', m)),
      error: (m) => err(style('red', m)),
    },
  }
}
