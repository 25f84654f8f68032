/**
 * Remote-tier benchmark (`node --import tsx bench/remote-pull.ts`): the cache tier alone, no bundler.
 *
 *   pull   200 entries (1536x1024 PNGs of a few MB, as generated photos are) fetched from Azurite, each
 *          verified (envelope, sidecar check, SHA-256, header) and written into an empty local cache
 *   local  the same 200 entries read and verified from the local cache (what a warm build with committed
 *          images does per image)
 *
 * Prints both (median of BENCH_REPS runs) and their ratio. The target (≤ 1.5) is for whole builds
 * (bench/warm.ts once the remote is wired into the build), where the bundler's own work dilutes this ratio.
 * Env: BENCH_IMAGES (default 200), BENCH_REPS (default 3), BENCH_CONCURRENCY (default 8).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'
import { computeKey, type KeyMaterial } from '../src/core/cache/key.js'
import { sha256 } from '../src/core/hash.js'
import { resolveRemote } from '../src/core/cache/remote/config.js'
import { openRemoteCache } from '../src/core/cache/remote/open.js'
import { CacheStore, sidecarFor } from '../src/core/cache/store.js'
import { readHeader } from '../src/core/image-format.js'
import { startAzurite } from '../test/helpers/azurite.js'
import { standInCheck } from '../test/helpers/remote-entries.js'
import { ensureImages, promptOf } from './warm-fixtures.js'

const COUNT = Number(process.env.BENCH_IMAGES ?? 200)
const REPS = Number(process.env.BENCH_REPS ?? 3)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const repo = fileURLToPath(new URL('..', import.meta.url))
const sources = await ensureImages(path.join(repo, 'node_modules/.cache/unplugin-ai-image-bench', 'sources'), COUNT)

const azurite = await startAzurite({ memoryMB: 4096 })
const work = await mkdtemp(path.join(os.tmpdir(), 'remote-pull-'))
try {
  await azurite.container('bench')
  const config = resolveRemote({ url: 'azure://bench/site' }, { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString() })!
  const remote = await openRemoteCache(config, { check: standInCheck, warn: (m) => console.warn(m) })

  // The entries, pushed once.
  const keys: string[] = []
  const limit = pLimit(CONCURRENCY)
  let bytes = 0
  await Promise.all(
    sources.map((file, i) =>
      limit(async () => {
        const data = await readFile(file)
        bytes += data.length
        const header = readHeader(data)!
        const material: KeyMaterial = { endpoint: 'generations', request: { model: 'gpt-image-1.5', prompt: promptOf(i), size: '1536x1024', n: 1 }, inputs: [], mask: null, seed: null }
        const key = computeKey(material)
        keys[i] = key
        const sidecar = sidecarFor(key, material, {
          provider: { kind: 'openai' },
          created: 1_760_000_000,
          revised_prompt: null,
          usage: null,
          request_id: null,
          images: [{ file: `${key}-0.png`, sha256: sha256(data), bytes: data.length, width: header.width, height: header.height, mime: header.mime }],
        })
        await remote.putEntry(sidecar, [data])
      }),
    ),
  )
  console.log(`${COUNT} entries in Azurite, ${(bytes / 1e6).toFixed(0)} MB`)

  const pull = async (dir: string) => {
    const local = new CacheStore(dir)
    await Promise.all(
      keys.map((key) =>
        limit(async () => {
          const found = await remote.getEntry(key)
          if (found.status !== 'hit') throw new Error(`entry ${key} did not come back: ${found.status}`)
          const { sidecar, images } = found.value
          await Promise.all(images.map((image, index) => local.writeImage(key, index, image.data, sidecar.images[index]!)))
          await local.commit(sidecar)
        }),
      ),
    )
  }
  const readLocal = async (dir: string) => {
    const local = new CacheStore(dir)
    await Promise.all(keys.map((key) => limit(async () => void (await local.read(key))!.images)))
  }

  const pulls: number[] = []
  const reads: number[] = []
  const pullCpu: number[] = []
  for (let rep = 0; rep < REPS; rep++) {
    const dir = path.join(work, `local-${rep}`)
    let started = performance.now()
    const cpu = process.cpuUsage()
    await pull(dir)
    pulls.push(performance.now() - started)
    const used = process.cpuUsage(cpu)
    pullCpu.push((used.user + used.system) / 1000)
    started = performance.now()
    await readLocal(dir)
    reads.push(performance.now() - started)
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const [p, r] = [median(pulls), median(reads)]
  console.log(`pull from Azurite into an empty local cache: ${p.toFixed(0)} ms (${pulls.map((v) => v.toFixed(0)).join(', ')})`)
  console.log(`  of which this process's CPU time: ${median(pullCpu).toFixed(0)} ms (the rest is the emulator serving and the disk)`)
  console.log(`read the same entries from the local cache: ${r.toFixed(0)} ms (${reads.map((v) => v.toFixed(0)).join(', ')})`)
  console.log(`ratio (cache tier alone): ${(p / r).toFixed(2)}`)
} finally {
  await azurite.stop()
  await rm(work, { recursive: true, force: true })
}
