import type { Plugin } from 'vite'
import { rollupFamilyPlugin } from './plugin/rollup-family.js'

/** vite plugin of unplugin-ai-image: `vitePlugin(options)`. */
export default rollupFamilyPlugin<Plugin>('vite')
