/**
 * `vite --host` (testing on a phone) exposes the dev server to the network, where clients are not browsers:
 * they send no `Sec-Fetch-Site` and no `Origin`, so the browser guard serves them. The gallery's page would hand
 * any machine on the network its token, and with it the actions that rewrite spec files and spend on the
 * developer's key. The gallery answers only clients of this machine (loopback); the app itself is served as
 * Vite serves it.
 */
import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { startDevServer } from '../helpers/dev-server.js'
import { GALLERY, tokenOf } from '../helpers/dev-gallery.js'
import { withEnv } from '../helpers/env.js'
import { spec } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'

const suite = emulatorSuite()

/** An address of this machine that is not loopback: how another machine of the network reaches it. */
function networkAddress(): string | undefined {
  const addresses = Object.values(os.networkInterfaces()).flat()
  const found = addresses.find((a) => a && !a.internal && a.family === 'IPv4') ?? addresses.find((a) => a && !a.internal && a.family === 'IPv6' && !a.address.startsWith('fe80'))
  return found && (found.family === 'IPv6' ? `[${found.address}]` : found.address)
}

describe('the dev gallery on a server exposed to the network (vite --host)', () => {
  it('refuses clients of other machines (no page, no token, no action), and still serves this machine', async () => {
    const address = networkAddress()
    // A real part of the test: without a network address there is nothing to attack from (CI must have one).
    expect(address, 'this machine has no network address other than loopback').toBeDefined()
    const project = await suite.project({
      'index.html': '<script type="module" src="/src/main.js"></script>',
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a vase', model: 'gpt-image-2', size: '1024x1024' }),
    })
    await withEnv(suite.openaiEnv(), async () => {
      const dev = await startDevServer(project.root, {}, { server: { host: '::' } })
      try {
        const port = new URL(dev.origin).port
        const remote = `http://${address}:${port}`
        const page = await fetch(`${remote}${GALLERY}`)
        const html = await page.text()
        expect(page.status).toBe(403)
        expect(html).not.toContain('ai-image-token')

        // Even with the token (read by a local page), an action from the network is refused before it is read.
        const local = await fetch(`${dev.origin}${GALLERY}`)
        expect(local.status).toBe(200)
        const token = tokenOf(await local.text())
        const action = await fetch(`${remote}${GALLERY}api/another`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-ai-image-token': token },
          body: JSON.stringify({ spec: 'src/a.imgprompt.json', confirm: true }),
        })
        expect(action.status).toBe(403)
        expect(await project.read('src/a.imgprompt.json').then(String)).not.toContain('seed')
        expect(suite.emulator.requests).toHaveLength(0)

        // The app is Vite's to serve: the network may load it as before.
        expect((await fetch(`${remote}/src/main.js`)).status).toBe(200)
      } finally {
        await dev.close()
      }
    })
  }, 30_000)
})
