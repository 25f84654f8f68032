// Runs a TypeScript benchmark through Vite's module runner, so benchmarks need no TS runner of their own:
//   node bench/run.mjs bench/warm.ts
import path from 'node:path'
import { runnerImport } from 'vite'

const file = process.argv[2]
if (!file) {
  console.error('usage: node bench/run.mjs <benchmark.ts>')
  process.exit(2)
}
await runnerImport(path.resolve(file))
