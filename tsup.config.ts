import { mkdir, writeFile } from 'node:fs/promises'
import { defineConfig } from 'tsup'
import { specJsonSchema } from './src/core/spec/json-schema.js'

const bundlers = ['vite', 'rollup', 'rolldown', 'webpack', 'rspack', 'esbuild']

export default defineConfig([
  {
    entry: ['src/index.ts', ...bundlers.map((b) => `src/${b}.ts`)],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    target: 'node20',
    splitting: true,
    shims: false,
    cjsInterop: true,
    // The schema is generated from the validator's field table, so the two cannot drift.
    async onSuccess() {
      await mkdir('dist', { recursive: true })
      await writeFile('dist/schema.json', `${JSON.stringify(specJsonSchema(), null, 2)}\n`)
    },
  },
])
