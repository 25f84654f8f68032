/**
 * A separate build process, for the cross-process tests and the cold-generation benchmark: generates the
 * spec files given on the command line through ImageService.generateAll (the path the plugins and the CLI
 * share), and prints one JSON line with what happened (statuses, the run summary, wall time, peak RSS).
 * Run with `node --import tsx test/helpers/generate-child.ts <root> <options-json> <spec>…`; the API
 * endpoint and key come from the environment, like any build.
 */
import path from 'node:path'
import { ImageService } from '../../src/core/service.js'

const [root, optionsJson, ...files] = process.argv.slice(2)
if (!root || !optionsJson) throw new Error('usage: generate-child <root> <options-json> <spec file>…')

const service = new ImageService(JSON.parse(optionsJson), { root })
if (process.env.AI_IMAGE_TEST_START_ON_GO) {
  // Let the parent start several processes at the same instant: modules are loaded, now wait for "go".
  process.stdout.write('ready\n')
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
  process.stdin.pause()
}
const started = performance.now()
const report = await service.generateAll(files.map((file) => ({ kind: 'file', file: path.resolve(root, file) })))
const wallMs = performance.now() - started
await service.close()
const failed = report.results.filter((r) => r.status === 'failed' || r.status === 'invalid')
process.stdout.write(
  `${JSON.stringify({
    wallMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    statuses: report.results.map((r) => r.status),
    summary: report.summary,
    errors: failed.map((r) => String((r.error as Error)?.message ?? r.error)),
  })}\n`,
)
process.exitCode = failed.length > 0 ? 1 : 0
