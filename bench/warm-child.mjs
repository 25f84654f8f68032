// One `vite build` of the project in the current folder, as the `vite build` command runs it, for
// bench/warm.ts. At exit it prints the process's CPU time (every thread: JS, Rolldown, libuv, sharp),
// a figure that other load on the machine disturbs less than wall-clock time.
import { createBuilder } from 'vite'

process.on('exit', () => {
  const usage = process.resourceUsage()
  process.stdout.write(`${JSON.stringify({ cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 })}\n`)
})
// BENCH_VITE_CONFIG: another config file of the same app (bench/remote-build.ts builds one app two ways).
const configFile = process.env.BENCH_VITE_CONFIG
const builder = await createBuilder({ root: process.cwd(), logLevel: 'warn', ...(configFile ? { configFile } : {}) }, null)
await builder.buildApp()
