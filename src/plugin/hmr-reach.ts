/**
 * Whether Vite's HMR update of a module would reach a boundary that accepts it on every path to the page, or
 * reload the whole page instead. This is the rule of Vite's own `propagateUpdate` (a self-accepting module,
 * an importer accepting this dependency, or accepted exports stop a path; an importer-less module reached
 * without one, or a module not analyzed yet, means a full reload), so the dev server can refresh an image
 * module through HMR where the page handles it and leave a vanilla page alone.
 */
import type { EnvironmentModuleNode } from 'vite'

export function hmrUpdateReloadsPage(module: EnvironmentModuleNode, seen = new Set<EnvironmentModuleNode>()): boolean {
  if (seen.has(module)) return false
  seen.add(module)
  if (module.id && module.isSelfAccepting === undefined) return true
  if (module.isSelfAccepting) return false
  if (!module.acceptedHmrExports && module.importers.size === 0) return true
  for (const importer of module.importers) {
    if (importer.acceptedHmrDeps.has(module)) continue
    if (module.id && module.acceptedHmrExports && importer.importedBindings) {
      const used = importer.importedBindings.get(module.id)
      if (used && [...used].every((name) => module.acceptedHmrExports!.has(name))) continue
    }
    if (hmrUpdateReloadsPage(importer, seen)) return true
  }
  return false
}
