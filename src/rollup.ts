import type { Plugin } from 'rollup'
import { rollupFamilyPlugin } from './plugin/rollup-family.js'

/** rollup plugin of unplugin-ai-image: `rollupPlugin(options)`. */
export default rollupFamilyPlugin<Plugin>('rollup')
