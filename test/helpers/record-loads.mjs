// `node --import ./record-loads.mjs …`: records every module the process loads, as edges from the module that
// asked to the module it got, one JSON line each in the file named by RECORD_LOADS. ES modules through a
// resolve hook (`record-loads-hooks.mjs`, on the loader's thread), CommonJS through Module._load.
import { appendFileSync } from 'node:fs'
import Module, { register } from 'node:module'
import { pathToFileURL } from 'node:url'

const file = process.env.RECORD_LOADS
if (!file) throw new Error('record-loads.mjs: set RECORD_LOADS to the file to write')
register('./record-loads-hooks.mjs', import.meta.url, { data: { file } })

const load = Module._load
Module._load = function (request, parent, isMain) {
  let url = null
  try {
    const resolved = Module._resolveFilename(request, parent, isMain)
    url = resolved.startsWith('/') || /^[A-Za-z]:[\\/]/.test(resolved) ? pathToFileURL(resolved).href : resolved
  } catch {
    // Left to the real load to fail.
  }
  const from = parent?.filename ? pathToFileURL(parent.filename).href : null
  appendFileSync(file, `${JSON.stringify({ kind: 'cjs', specifier: request, parent: from, url })}\n`)
  return load.apply(this, arguments)
}
