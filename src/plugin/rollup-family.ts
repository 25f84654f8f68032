/**
 * The plugin for Vite, Rollup and Rolldown, made from the factory without unplugin's runtime. These
 * bundlers take the factory's hooks as they are; what unplugin's adapter for them adds, this does too: the
 * bundler's own hooks (`vite`, `rollup`, `rolldown`) merged in, `loadInclude` applied in `load`, and the
 * hooks' id filters applied where the bundler does not filter natively (Rollup before 4.40; checking again
 * where it does costs one regular expression). unplugin ships every bundler's adapter in one module with
 * picomatch and a source-map library: loading it would be most of what a warm Vite build spends on the
 * plugin (README, "Warm-build benchmark"). webpack, Rspack and esbuild go through unplugin (`index.ts`).
 */
import type { UnpluginOptions } from 'unplugin'
import type { AiImageOptions } from '../types.js'
import { createPlugin } from './factory.js'

export type RollupFamily = 'vite' | 'rollup' | 'rolldown'

type Hook = ((this: unknown, id: string, ...rest: unknown[]) => unknown) | { handler: (this: unknown, id: string, ...rest: unknown[]) => unknown; filter?: { id?: RegExp } }

/** The factory `(options) => plugin` of one bundler of the Rollup family (`P`: that bundler's `Plugin` type). */
export function rollupFamilyPlugin<P>(framework: RollupFamily): (options?: AiImageOptions) => P {
  return (options) => toRollupFamily(createPlugin(options, { framework, versions: {} }), framework) as P
}

function toRollupFamily(plugin: UnpluginOptions, framework: RollupFamily): Record<string, unknown> {
  const { loadInclude, resolveId, load, vite, rollup, rolldown, webpack: _webpack, rspack: _rspack, esbuild: _esbuild, farm: _farm, ...rest } = plugin
  const own = { vite, rollup, rolldown }[framework]
  return {
    ...rest,
    ...(resolveId ? { resolveId: filtered(resolveId as Hook) } : {}),
    ...(load ? { load: filtered(load as Hook, loadInclude) } : {}),
    ...(own as Record<string, unknown> | undefined),
  }
}

/** The hook, answering nothing for an id its filter (or `include`) does not take. */
function filtered(hook: Hook, include?: (id: string) => boolean | null | undefined): Hook {
  const handler = typeof hook === 'function' ? hook : hook.handler
  const pattern = typeof hook === 'function' ? undefined : hook.filter?.id
  const run = function (this: unknown, id: string, ...rest: unknown[]) {
    if (include && !include(id)) return undefined
    // As unplugin tests a filter: on the id with `/` separators.
    if (pattern && !pattern.test(id.includes('\\') ? id.replace(/\\/g, '/') : id)) return undefined
    return handler.call(this, id, ...rest)
  }
  return typeof hook === 'function' ? run : { ...hook, handler: run }
}
