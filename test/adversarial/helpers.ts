/**
 * Tools of the attacks on the committed cache: what a pull request can put in `.ai-image/` (edited
 * sidecars, swapped image files, symbolic links, crafted PNG headers), a Vite build that keeps its log
 * lines when it fails, and the `ai-image` command run in-process.
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Writable } from 'node:stream'
import { deflateSync } from 'node:zlib'
import type { InlineConfig } from 'vite'
import { build } from 'vite'
import aiImage from '../../src/vite.js'
import { sha256 } from '../../src/core/hash.js'
import type { AiImageOptions } from '../../src/types.js'
import { run } from '../../src/cli/run.js'
import { withEnv } from '../helpers/env.js'
import type { TempProject } from '../helpers/project.js'
import { captureLogs } from '../helpers/vite.js'

export interface BuildOutcome {
  /** Every log line of the build, prefixed with its level. */
  logs: string
  error?: Error
}

/** A real `vite build` that never throws: the error, if any, comes back with the log lines. */
export async function tryViteBuild(
  root: string,
  env: Record<string, string | undefined>,
  options: AiImageOptions = {},
  extra: InlineConfig = {},
): Promise<BuildOutcome> {
  const logs = captureLogs()
  try {
    await withEnv(env, () =>
      build({
        root,
        configFile: false,
        logLevel: 'info',
        customLogger: logs.logger,
        plugins: [aiImage(options)],
        ...extra,
        build: { minify: false, ...(extra.build ?? {}) },
      }),
    )
    return { logs: logs.text() }
  } catch (error) {
    return { logs: logs.text(), error: error as Error }
  }
}

/** All text of a folder's files (latin1, so bytes of any kind can be searched). */
export async function folderText(project: TempProject, dir: string): Promise<string> {
  const files = await project.list(dir)
  return (await Promise.all(files.map((f) => project.read(path.join(dir, f))))).map((b) => b.toString('latin1')).join('\n')
}

export interface CommittedEntry {
  key: string
  sidecarPath: string
  sidecar: Record<string, any>
  /** Absolute path of candidate `i`'s image. */
  imagePath(i?: number): string
}

/** The one committed entry of a project (the test made exactly one). */
export async function committedEntry(project: TempProject, cacheDir = '.ai-image'): Promise<CommittedEntry> {
  const sidecars = (await project.list(cacheDir)).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
  if (sidecars.length !== 1) throw new Error(`expected one cache entry, found ${sidecars.length}`)
  const sidecarPath = path.join(project.root, cacheDir, sidecars[0]!)
  const sidecar = JSON.parse(await readFile(sidecarPath, 'utf8')) as Record<string, any>
  return {
    key: sidecar.key as string,
    sidecarPath,
    sidecar,
    imagePath: (i = 0) => path.join(path.dirname(sidecarPath), sidecar.images[i].file as string),
  }
}

/** Rewrite a sidecar as a pull request would. */
export async function editSidecar(entry: CommittedEntry, edit: (sidecar: Record<string, any>) => void): Promise<void> {
  const copy = structuredClone(entry.sidecar)
  edit(copy)
  await writeFile(entry.sidecarPath, `${JSON.stringify(copy, null, 2)}\n`)
}

/** Make the sidecar agree with new image bytes (SHA-256 and size), so only the deeper checks can tell. */
export function agreeWith(image: Record<string, any>, data: Buffer): void {
  image.sha256 = sha256(data)
  image.bytes = data.length
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(data: Buffer): number {
  let c = 0xffffffff
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/**
 * A decompression bomb: a valid PNG of a few hundred bytes whose header declares `width` x `height`
 * RGB pixels (a decoder would allocate width × height × 3 bytes before finding the data short).
 */
export function bombPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.alloc(4096))),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** The `ai-image` command in this process (the same `run` the binary calls), with its output captured. */
export async function aiImageCli(root: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        append(chunk.toString())
        done()
      },
    })
  const code = await run(args, {
    cwd: root,
    env: { NO_COLOR: '1', CI: '', OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '', ...env },
    stdout: sink((t) => (stdout += t)),
    stderr: sink((t) => (stderr += t)),
  })
  return { code, stdout, stderr }
}
