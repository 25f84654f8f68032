/**
 * A `vite build` of a temp project in its own process (plugin from source), for attacks that would hang a
 * build or fill its memory if a fix regressed (an input linked to /dev/zero, a FIFO): the parent kills it
 * after a timeout, and a watchdog here ends it as soon as its buffers pass a bound. It prints one JSON line:
 * `{ outcome: 'built' | 'failed' | 'memory', message?, name? }`.
 * Run with `node --import tsx test/helpers/bounded-build-child.ts <root>`; the API endpoint comes from the
 * environment, like any build.
 */
import { build } from 'vite'
import aiImage from '../../src/vite.js'

/** Far above what a build of a few small images holds, far below what reading /dev/zero reaches. */
const MEMORY_BOUND = { arrayBuffers: 256 * 1024 * 1024, rss: 1536 * 1024 * 1024 }

const [root] = process.argv.slice(2)
if (!root) throw new Error('usage: bounded-build-child <root>')

const report = (result: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(result)}\n`)

// Reading a device or a huge file goes chunk by chunk through the event loop, so this timer still runs.
const watchdog = setInterval(() => {
  const usage = process.memoryUsage()
  if (usage.arrayBuffers > MEMORY_BOUND.arrayBuffers || usage.rss > MEMORY_BOUND.rss) {
    report({ outcome: 'memory', message: `buffers ${usage.arrayBuffers} bytes, rss ${usage.rss} bytes` })
    process.exit(86)
  }
}, 20)

try {
  await build({ root, configFile: false, logLevel: 'silent', plugins: [aiImage()], build: { minify: false } })
  report({ outcome: 'built' })
} catch (error) {
  const { message, name } = error as Error
  report({ outcome: 'failed', message: String(message), name: String(name) })
}
clearInterval(watchdog)
process.exit(0)
