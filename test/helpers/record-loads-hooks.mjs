// Loader hooks of record-loads.mjs: every ES module resolution, with the module that asked for it.
import { appendFileSync } from 'node:fs'

let file
export function initialize(data) {
  file = data.file
}

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  appendFileSync(file, `${JSON.stringify({ kind: 'esm', specifier, parent: context.parentURL ?? null, url: result.url })}\n`)
  return result
}
