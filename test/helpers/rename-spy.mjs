/**
 * Preloaded (`node --import`) into a child process: appends the target of every `fs.promises.rename` (the
 * last step of each atomic cache write) to the file named by RENAME_LOG, one JSON line per rename, so a test
 * can count how many times each cache file was written across processes.
 */
import { appendFileSync } from 'node:fs'
import fsPromises from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'

const log = process.env.RENAME_LOG
if (log) {
  const rename = fsPromises.rename
  fsPromises.rename = async (from, to) => {
    await rename(from, to)
    appendFileSync(log, `${JSON.stringify({ pid: process.pid, to: String(to) })}\n`)
  }
  // Named imports of node:fs/promises (`import { rename } from …`) see the patched function too.
  syncBuiltinESMExports()
}
