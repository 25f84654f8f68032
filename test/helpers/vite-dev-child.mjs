/**
 * A `vite dev` server in its own process with the built plugin (dist/), for tests that record what it loads
 * (`record-loads.mjs`). Usage: node vite-dev-child.mjs <root>. It serves the app's page and entry module,
 * writes `{"marker":"gallery"}` into the RECORD_LOADS file, then asks for the gallery, and prints the status
 * of each answer as JSON.
 */
import { appendFileSync } from 'node:fs'
import { createServer } from 'vite'
import aiImage from '../../dist/vite.js'

const [root] = process.argv.slice(2)
const server = await createServer({
  root,
  configFile: false,
  logLevel: 'error',
  plugins: [aiImage()],
  server: { host: '127.0.0.1', port: 0 },
  optimizeDeps: { noDiscovery: true, include: [] },
})
await server.listen()
const origin = `http://127.0.0.1:${server.httpServer.address().port}`
const get = async (path) => {
  const response = await fetch(`${origin}${path}`)
  await response.arrayBuffer()
  return response.status
}
const statuses = { page: await get('/'), main: await get('/src/main.js') }
appendFileSync(process.env.RECORD_LOADS, `${JSON.stringify({ marker: 'gallery' })}\n`)
statuses.gallery = await get('/__ai-image/')
await server.close()
process.stdout.write(JSON.stringify(statuses))
