import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { defineConfig } from 'tsup'
import { specJsonSchema } from './src/core/spec/json-schema.js'

const bundlers = ['vite', 'rollup', 'rolldown', 'webpack', 'rspack', 'esbuild']
const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }

export default defineConfig([
  {
    // One config (not one per entry): tsup builds configs in parallel, and `clean` of one would race the other.
    entry: { index: 'src/index.ts', ...Object.fromEntries(bundlers.map((b) => [b, `src/${b}.ts`])), cli: 'src/cli/main.ts' },
    define: { __AI_IMAGE_VERSION__: JSON.stringify(version) },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    target: 'node20',
    splitting: true,
    // import.meta.url in the CommonJS build too: lazily required dependencies (image-size's readers, jiti) resolve from it.
    shims: true,
    cjsInterop: true,
    // The schema is generated from the validator's field table, so the two cannot drift.
    async onSuccess() {
      await mkdir('dist', { recursive: true })
      await writeFile('dist/schema.json', `${JSON.stringify(specJsonSchema(), null, 2)}\n`)
    },
  },
])
