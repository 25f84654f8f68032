/**
 * Token usage as the Images API reports it (`usage`, with nested details), summed across stream events and
 * across the calls of one spec.
 */

/** Sum token counts field by field (nested details included); used across events and across calls. */
export function addUsage(
  total: Record<string, unknown> | undefined,
  next: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!next) return total
  if (!total) return structuredClone(next)
  const out: Record<string, unknown> = { ...total }
  for (const [k, v] of Object.entries(next)) {
    const prev = out[k]
    if (typeof v === 'number') out[k] = (typeof prev === 'number' ? prev : 0) + v
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = addUsage(prev && typeof prev === 'object' ? (prev as Record<string, unknown>) : undefined, v as Record<string, unknown>)
    } else if (prev === undefined) out[k] = v
  }
  return out
}
