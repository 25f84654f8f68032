/**
 * Logging through whatever the host bundler offers. Every line passes through `redact` (secrets.ts: every
 * known secret value, the keys of the options and the tokens obtained since), so a secret that reached a
 * message by accident (an echoed header, a URL with a key) never reaches the terminal.
 */
import { addSecrets, redactSecrets } from './secrets.js'

export interface LogSink {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export interface Logger extends LogSink {
  /** Warn once per distinct message for the life of the logger (the "no key, using placeholders" notice). */
  warnOnce(message: string): void
  /** Replace the sink, e.g. with Vite's logger once the config is resolved. */
  setSink(sink: LogSink): void
  /** Scrub known secrets from any text that leaves the process (errors too). */
  redact(text: string): string
}

const PREFIX = '[ai-image] '

export const consoleSink: LogSink = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
}

export function createLogger(secrets: readonly string[], sink: LogSink = consoleSink): Logger {
  addSecrets(secrets)
  const warned = new Set<string>()
  let current = sink
  const redact = redactSecrets
  const line = (message: string) => redact(message.startsWith('[ai-image]') ? message : PREFIX + message)
  return {
    info: (m) => current.info(line(m)),
    warn: (m) => current.warn(line(m)),
    error: (m) => current.error(line(m)),
    warnOnce(m) {
      if (warned.has(m)) return
      warned.add(m)
      current.warn(line(m))
    },
    setSink(next) {
      current = next
    },
    redact,
  }
}
