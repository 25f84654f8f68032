/**
 * A `vite build` in its own process with the built plugin (dist/), for tests that run a build beside the
 * `ai-image` command. Usage: node vite-build-child.mjs <root>; the API endpoint comes from the environment.
 */
import { build } from 'vite'
import aiImage from '../../dist/vite.js'

const [root] = process.argv.slice(2)
await build({ root, configFile: false, logLevel: 'error', plugins: [aiImage()], build: { minify: false } })
