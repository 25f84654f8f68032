/**
 * A local S3 server for a test file: s3rver (from the registry) on 127.0.0.1 at a free port, in a temp folder,
 * with the test's buckets. s3rver ignores `If-None-Match` and `If-Match` (it overwrites), so
 * `startConditionalProxy` puts a small proxy in front of it that answers them as AWS S3 does.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The access key s3rver knows (its documented dummy account); any other is refused with 403. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } as const

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  /** Env for `resolveRemote` against `endpoint` (or another origin in front of it). */
  env(endpoint?: string): Record<string, string>
  stop(): Promise<void>
}

const STARTUP_MS = 30_000

/** s3rver in a child process (see s3rver-child.mjs for why), with `buckets` created. */
export async function startS3Server(buckets: string[]): Promise<S3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'))
  const child = spawn(process.execPath, ['--openssl-legacy-provider', path.join(import.meta.dirname, 's3rver-child.mjs'), directory, ...buckets], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // A test process that ends without its afterAll (a crash, a timeout) must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  child.once('exit', () => process.off('exit', killOnExit))
  let port: number
  try {
    port = await announcedPort(child)
  } catch (error) {
    child.kill('SIGKILL')
    await rm(directory, { recursive: true, force: true })
    throw error
  }
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    env: (through = endpoint) => ({ ...S3RVER_CREDENTIALS, AWS_ENDPOINT_URL: through, AWS_REGION: 'us-east-1' }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
      await rm(directory, { recursive: true, force: true })
    },
  }
}

function announcedPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => fail(new Error(`s3rver did not start within ${STARTUP_MS} ms:\n${output.slice(-2000)}`)), STARTUP_MS)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening (\d+)/.exec(output)
      if (match) {
        cleanup()
        resolve(Number(match[1]))
      }
    }
    const onExit = (code: number | null) => fail(new Error(`s3rver exited (${code}) before it listened:\n${output.slice(-2000)}`))
    const fail = (error: Error) => {
      cleanup()
      reject(error)
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      child.stdout?.resume()
      child.stderr?.resume()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
    child.once('error', fail)
  })
}

export interface ConditionalProxy {
  endpoint: string
  /** Conditional requests answered 412 so far. */
  readonly refused: number
  close(): Promise<void>
}

/**
 * Answers `If-None-Match: *` on an existing object and a stale `If-Match` with 412 PreconditionFailed, and
 * `If-Match` on a missing object with 404 NoSuchKey, as AWS S3 does; forwards everything else unchanged
 * (headers included: they are signed). One conditional request per object at a time, so check and write are
 * atomic as in S3.
 */
export async function startConditionalProxy(upstream: string): Promise<ConditionalProxy> {
  const target = new URL(upstream)
  const queues = new Map<string, Promise<void>>()
  let refused = 0
  const serialized = async (key: string, work: () => Promise<void>) => {
    const before = queues.get(key) ?? Promise.resolve()
    const run = before.then(work, work)
    const tail = run.catch(() => {})
    queues.set(key, tail)
    await run
    if (queues.get(key) === tail) queues.delete(key)
  }
  const server = createServer((req, res) => {
    const ifNoneMatch = req.headers['if-none-match']
    const ifMatch = req.headers['if-match']
    const conditional = (req.method === 'PUT' || req.method === 'DELETE') && (ifNoneMatch !== undefined || ifMatch !== undefined)
    if (!conditional) return void forward(target, req, res)
    const objectPath = (req.url ?? '/').split('?')[0]!
    void serialized(objectPath, async () => {
      const etag = await headEtag(target, objectPath)
      let answer: { status: number; code: string } | undefined
      if (ifNoneMatch === '*' && etag !== undefined) answer = { status: 412, code: 'PreconditionFailed' }
      if (ifMatch !== undefined && etag === undefined) answer = { status: 404, code: 'NoSuchKey' }
      if (ifMatch !== undefined && etag !== undefined && ifMatch !== '*' && ifMatch !== etag) answer = { status: 412, code: 'PreconditionFailed' }
      if (answer) {
        refused++
        req.resume()
        res.writeHead(answer.status, { 'content-type': 'application/xml' })
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code}</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`)
        return
      }
      await forward(target, req, res)
    }).catch((error: Error) => {
      res.destroy(error)
    })
  })
  const port = await listen(server)
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get refused() {
      return refused
    },
    close: () => closeServer(server),
  }
}

async function headEtag(target: URL, objectPath: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, method: 'HEAD', path: objectPath }, (res) => {
      res.resume()
      resolve(res.statusCode === 200 ? String(res.headers.etag) : undefined)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Pass a request through to `target` and its answer back; resolves when the answer is complete. */
export function forward(target: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
      answer.on('end', () => resolve())
      answer.on('error', () => {
        res.destroy()
        resolve()
      })
    })
    upstream.on('error', () => {
      res.destroy()
      resolve()
    })
    req.pipe(upstream)
  })
}

export function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}
