/**
 * Real `vite build` runs of a temp project, with the plugin from source and every log line captured.
 */
import { build, createLogger, type InlineConfig, type Logger } from 'vite'
import aiImage from '../../src/vite.js'
import type { AiImageOptions } from '../../src/types.js'

export interface CapturedLogs {
  lines: string[]
  logger: Logger
  text(): string
}

export function captureLogs(): CapturedLogs {
  const lines: string[] = []
  const base = createLogger('info', { allowClearScreen: false })
  const logger: Logger = {
    ...base,
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    warnOnce: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  }
  return { lines, logger, text: () => lines.join('\n') }
}

export interface ViteBuildResult {
  logs: CapturedLogs
}

export async function viteBuild(root: string, options: AiImageOptions = {}, extra: InlineConfig = {}): Promise<ViteBuildResult> {
  const logs = captureLogs()
  await build({
    root,
    configFile: false,
    logLevel: 'info',
    customLogger: logs.logger,
    plugins: [aiImage(options)],
    build: { minify: false, ...(extra.build ?? {}) },
    ...extra,
  })
  return { logs }
}
