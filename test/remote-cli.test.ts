/**
 * `ai-image push`, `ai-image pull` and `ai-image check` with a remote cache on Azurite, run as the built
 * binary in child processes: push uploads what the remote lacks (and nothing twice), check says where each
 * spec's entry is (local, remote, missing), pull fetches what the project uses, verified, and every failure
 * or bad set-up has its exit code and a message that names the remote.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { rawObjects, remoteFor, remoteServers, uniquePrefix } from './helpers/remote.js'
import { emulatorSuite } from './helpers/suite.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const servers = remoteServers({ azure: true })
const suite = emulatorSuite()

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** The CLI in `project`, CI unset, no key and no remote variable but those given. */
function cli(project: TempProject, args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env, CI: '', NO_COLOR: '1', OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '' }
  for (const name of Object.keys(base)) if (name.startsWith('AI_IMAGE_REMOTE') || name === 'AZURE_STORAGE_CONNECTION_STRING') delete base[name]
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: project.root, env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

const SPECS = {
  'src/a.imgprompt.json': spec({ prompt: 'a shared apple', model: 'gpt-image-2', size: '1024x1024' }),
  'src/b.imgprompt.json': spec({ prompt: 'two shared pears', model: 'gpt-image-2', size: '1024x1024', n: 2 }),
}

describe('ai-image push / pull / check with a remote cache (Azurite)', () => {
  it('push uploads what the remote lacks, check says local / remote / missing per spec, pull fetches what the project uses', async () => {
    const prefix = uniquePrefix('cli')
    const remote = remoteFor(servers, 'azure', prefix)
    const remoteEnv = { AI_IMAGE_REMOTE: remote.url, ...remote.env }
    const a = suite.keep(await makeProject(SPECS))
    const generated = await cli(a, ['generate'], suite.openaiEnv())
    expect(generated.code, generated.stderr).toBe(0)
    expect(suite.emulator.billedImages).toBe(3)

    // Machine A: every entry is here.
    const checkA = await cli(a, ['check'], remoteEnv)
    expect(checkA.code, checkA.stderr).toBe(0)
    expect(checkA.stdout).toMatch(/✓ src\/a\.imgprompt\.json {2}local\n/)
    expect(checkA.stdout).toMatch(/✓ src\/b\.imgprompt\.json {2}local\n/)

    const pushed = await cli(a, ['push'], { ...remoteEnv, AI_IMAGE_REMOTE_MODE: 'read-write' })
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(pushed.stdout).toContain(`✓ 2 entries pushed to ${remote.url}, 0 already there`)
    expect(pushed.stderr).toContain('pushed 2 of 2 entries')
    const again = await cli(a, ['push'], { ...remoteEnv, AI_IMAGE_REMOTE_MODE: 'read-write' })
    expect(again.code).toBe(0)
    expect(again.stdout).toContain(`✓ 0 entries pushed to ${remote.url}, 2 already there`)

    // Machine B: the same two specs and one nobody generated; a fresh cache folder.
    const b = suite.keep(await makeProject({ ...SPECS, 'src/c.imgprompt.json': spec({ prompt: 'a cherry nobody drew', model: 'gpt-image-2', size: '1024x1024' }) }))
    const checkB = await cli(b, ['check'], remoteEnv)
    expect(checkB.code).toBe(1)
    expect(checkB.stdout).toMatch(/✓ src\/a\.imgprompt\.json {2}remote\n/)
    expect(checkB.stdout).toMatch(/✓ src\/b\.imgprompt\.json {2}remote\n/)
    expect(checkB.stdout).toMatch(/✗ src\/c\.imgprompt\.json {2}missing \(key [0-9a-f]{12}\)/)
    expect(checkB.stdout).toContain('1 of 3 specs needs attention')
    // check fetched no image: the folder is still empty.
    expect((await b.list('.ai-image')).filter((f) => f.endsWith('.png'))).toEqual([])

    const pulled = await cli(b, ['pull'], remoteEnv)
    expect(pulled.code).toBe(1)
    expect(pulled.stdout).toMatch(/✗ src\/c\.imgprompt\.json {2}missing: not in azure:\/\/\S+ \(key [0-9a-f]{12}\)/)
    expect(pulled.stdout).toContain(`2 entries pulled from ${remote.url}, 0 already here; 1 needs attention`)
    expect(pulled.stderr).toContain('pulled 3 of 3 entries')
    expect((await b.list('.ai-image')).filter((f) => f.endsWith('.png'))).toHaveLength(3)
    // The pulled files are machine A's, byte for byte.
    for (const file of (await a.list('.ai-image')).filter((f) => /^[0-9a-f]{2}\/.*\.(png|json)$/.test(f))) {
      expect((await b.read(`.ai-image/${file}`)).equals(await a.read(`.ai-image/${file}`)), file).toBe(true)
    }
    const checkAfter = await cli(b, ['check'], remoteEnv)
    expect(checkAfter.stdout).toMatch(/✓ src\/a\.imgprompt\.json {2}local\n/)
    expect(checkAfter.stdout).toMatch(/✓ src\/b\.imgprompt\.json {2}local\n/)
    expect(suite.emulator.billedImages).toBe(3)
  })

  it('check with a signing key names unsigned entries; pull --all takes every entry of the remote; a tampered image is refused, never written', async () => {
    const prefix = uniquePrefix('all')
    const remote = remoteFor(servers, 'azure', prefix)
    const remoteEnv = { AI_IMAGE_REMOTE: remote.url, ...remote.env }
    const a = suite.keep(await makeProject(SPECS))
    expect((await cli(a, ['generate'], { ...suite.openaiEnv(), ...remoteEnv })).code).toBe(0)
    // generate pushed what it made (mode read-write where CI is unset): nothing is left to push.
    expect((await cli(a, ['push'], remoteEnv)).stdout).toContain('0 entries pushed')

    const sidecarFile = (await a.list('.ai-image')).find((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f) && f.endsWith('.json'))!
    const sidecar = JSON.parse((await a.read(`.ai-image/${sidecarFile}`)).toString()) as { key: string; images: Array<{ sha256: string; file: string }> }
    const original = await a.read(`.ai-image/${sidecarFile.slice(0, 3)}${sidecar.images[0]!.file}`)
    const tampered = Buffer.from(original)
    tampered[tampered.length - 20]! ^= 0xff
    await (await rawObjects(servers, 'azure')).put(`${prefix}/images/${sidecar.images[0]!.sha256}`, tampered)

    // With a signing key, check names the signing problem of each (unsigned) entry in the remote.
    const signing = suite.keep(await makeProject(SPECS))
    const unsigned = await cli(signing, ['check'], { ...remoteEnv, AI_IMAGE_REMOTE_SIGNING_KEY: 'cli-test-signing-key-0123456789abcdef' })
    expect(unsigned.code).toBe(1)
    expect(unsigned.stdout).toMatch(/✗ src\/a\.imgprompt\.json {2}corrupt: in azure:\/\/\S+: it is unsigned, and remote\.signingKey requires signed entries/)
    expect(unsigned.stdout).toContain('2 of 2 specs need attention')
    expect(unsigned.stdout).not.toContain('cli-test-signing-key')

    // A project with no spec at all: only --all has anything to pull.
    const b = suite.keep(await makeProject({ 'src/main.js': 'console.log(1)\n' }))
    const pulled = await cli(b, ['pull', '--all'], remoteEnv)
    expect(pulled.code).toBe(1)
    expect(pulled.stdout).toMatch(new RegExp(`✗ ${sidecar.key.slice(0, 12)}  refused: .*image 0 .*does not match its SHA-256`))
    expect(pulled.stdout).toContain(`1 entry pulled from ${remote.url}, 0 already here; 1 needs attention`)
    const files = await b.list('.ai-image')
    expect(files.some((f) => f.includes(sidecar.key))).toBe(false)
    expect(files.filter((f) => /\.png$/.test(f)).length).toBeGreaterThan(0)
  })

  it('commitImages: false: pull fetches the images of committed sidecars by SHA-256, leaving each sidecar byte for byte', async () => {
    const prefix = uniquePrefix('sidecars')
    const remote = remoteFor(servers, 'azure', prefix)
    const config = JSON.stringify({ remote: { url: remote.url, commitImages: false } })
    const a = suite.keep(await makeProject({ ...SPECS, 'ai-image.config.json': config }))
    expect((await cli(a, ['generate'], { ...suite.openaiEnv(), ...remote.env })).code).toBe(0)
    expect((await a.read('.ai-image/.gitignore')).toString()).toMatch(/^# unplugin-ai-image: remote\.commitImages is false/)

    // Another clone: the sidecars (and the folder's .gitignore) only, as git has them.
    const b = suite.keep(await makeProject({ ...SPECS, 'ai-image.config.json': config }))
    const sidecars = (await a.list('.ai-image')).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
    expect(sidecars).toHaveLength(2)
    for (const file of [...sidecars, '.gitignore']) await b.write(`.ai-image/${file}`, await a.read(`.ai-image/${file}`))
    // The images are in the remote: check says so (a build would fetch them).
    const before = await cli(b, ['check'], remote.env)
    expect(before.code, before.stdout).toBe(0)
    expect(before.stdout).toMatch(/✓ src\/a\.imgprompt\.json {2}remote\n/)

    const pulled = await cli(b, ['pull'], remote.env)
    expect(pulled.code, pulled.stdout + pulled.stderr).toBe(0)
    expect(pulled.stdout).toContain(`✓ 2 entries pulled from ${remote.url}, 0 already here`)
    for (const file of (await a.list('.ai-image')).filter((f) => /^[0-9a-f]{2}\/.*\.(png|json)$/.test(f))) {
      expect((await b.read(`.ai-image/${file}`)).equals(await a.read(`.ai-image/${file}`)), file).toBe(true)
    }
    expect((await cli(b, ['check'], remote.env)).code).toBe(0)
    expect(suite.emulator.billedImages).toBe(3)
  })

  it('bad set-up exits 2 (no remote; push in mode read); a store that refuses the credentials exits 1 with its AUTH error, once, no secret shown', async () => {
    const project = suite.keep(await makeProject(SPECS))
    const none = await cli(project, ['push'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no remote cache is configured, so there is nothing to push\. Set remote\.url/)
    expect((await cli(project, ['pull'])).code).toBe(2)

    const remote = remoteFor(servers, 'azure', uniquePrefix('setup'))
    const readOnly = await cli(project, ['push'], { CI: 'true', AI_IMAGE_REMOTE: remote.url, ...remote.env })
    expect(readOnly.code).toBe(2)
    expect(readOnly.stderr).toMatch(/remote cache azure:\/\/\S+ is in mode 'read' here .*AI_IMAGE_REMOTE_MODE=read-write/)

    // Azurite's published key with one character changed: the store refuses every request.
    const wrongKey = remote.env.AZURE_STORAGE_CONNECTION_STRING!.replace(/AccountKey=(.)/, (_, c: string) => `AccountKey=${c === 'A' ? 'B' : 'A'}`)
    const refused = await cli(project, ['check'], { AI_IMAGE_REMOTE: remote.url, AZURE_STORAGE_CONNECTION_STRING: wrongKey })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/AUTH: remote cache azure:\/\/\S+: the store refused the credentials/)
    expect(refused.stderr.match(/remote cache/g)).toHaveLength(1)
    expect(`${refused.stdout}${refused.stderr}`).not.toContain(wrongKey.match(/AccountKey=([^;]+)/)![1]!)
    const pullRefused = await cli(project, ['pull'], { AI_IMAGE_REMOTE: remote.url, AZURE_STORAGE_CONNECTION_STRING: wrongKey })
    expect(pullRefused.code).toBe(1)
    expect(pullRefused.stderr).toMatch(/AUTH: remote cache azure:\/\/\S+: the store refused the credentials/)
  })
})
