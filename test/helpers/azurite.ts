/**
 * Azurite (Microsoft's Azure Storage emulator, from the registry) for a test file: the blob service only, in
 * memory, on 127.0.0.1 at a free port, telemetry off. It runs as a child process, so a test can also kill it.
 * There is no fallback: when it cannot start, the test fails (with or without CI).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob'

/** Azurite's published development account and key (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1'
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

export interface Azurite {
  /** `http://127.0.0.1:<port>` */
  origin: string
  port: number
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  blobEndpoint: string
  /** A connection string for this Azurite, optionally through another origin (a proxy in front of it). */
  connectionString(origin?: string): string
  credential: StorageSharedKeyCredential
  /** A client of `name` that bypasses the plugin (to set up and tamper with). Creates the container. */
  container(name: string): Promise<ContainerClient>
  stop(): Promise<void>
}

const STARTUP_MS = 30_000

/** `memoryMB`: Azurite's in-memory store limit; past it, writes are refused with 409 MemoryExtentStoreAtSizeLimit. */
export async function startAzurite(options: { memoryMB?: number } = {}): Promise<Azurite> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js')
  const cwd = await mkdtemp(path.join(tmpdir(), 'azurite-'))
  const env = { ...process.env }
  delete env.AZURITE_ACCOUNTS // the published development account only
  const child = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--extentMemoryLimit', String(options.memoryMB ?? 256), '--skipApiVersionCheck', '--loose', '--silent', '--disableTelemetry'],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'], env },
  )
  // A test process that ends without its afterAll (a crash, a timeout) must not leave the emulator behind.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  child.once('exit', () => process.off('exit', killOnExit))
  let origin: string
  try {
    origin = await listeningOrigin(child)
  } catch (error) {
    child.kill('SIGKILL')
    await rm(cwd, { recursive: true, force: true })
    throw error
  }
  const port = Number(new URL(origin).port)
  const blobEndpoint = `${origin}/${AZURITE_ACCOUNT}`
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)
  const connectionString = (through = origin) =>
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${through}/${AZURITE_ACCOUNT};`
  return {
    origin,
    port,
    blobEndpoint,
    connectionString,
    credential,
    async container(name) {
      const client = new ContainerClient(`${blobEndpoint}/${name}`, credential)
      await client.createIfNotExists()
      return client
    },
    async stop() {
      await stopChild(child)
      await rm(cwd, { recursive: true, force: true })
    },
  }
}

function listeningOrigin(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within ${STARTUP_MS} ms:\n${output.slice(-2000)}`)), STARTUP_MS)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        cleanup()
        resolve(match[1]!)
      }
    }
    const onExit = (code: number | null) => fail(new Error(`Azurite exited (${code}) before it listened:\n${output.slice(-2000)}`))
    const fail = (error: Error) => {
      cleanup()
      reject(error)
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      child.off('error', fail)
      // Keep draining, so a full pipe never blocks the emulator.
      child.stdout?.resume()
      child.stderr?.resume()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
    child.once('error', fail)
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}
