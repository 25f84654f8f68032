/**
 * For `vi.mock('sharp', …)`: the real sharp, with every `sharp(…)` call counted, so a test can show
 * that a path (the warm build) never runs it.
 *
 *   const sharpCalls = vi.hoisted(() => ({ count: 0 }))
 *   vi.mock('sharp', async (importOriginal) => (await import('./helpers/sharp-spy.js')).countedSharp(importOriginal, sharpCalls))
 */
import type sharp from 'sharp'

type SharpFn = typeof sharp

export async function countedSharp(importOriginal: <T>() => Promise<T>, counter: { count: number }): Promise<{ default: SharpFn }> {
  const actual = (await importOriginal<{ default: SharpFn }>()).default
  const counted = new Proxy(actual, {
    apply(target, thisArg, args) {
      counter.count++
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args)
    },
  })
  return { default: counted }
}
