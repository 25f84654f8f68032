import type { Plugin } from 'rolldown'
import { rollupFamilyPlugin } from './plugin/rollup-family.js'

/** rolldown plugin of unplugin-ai-image: `rolldownPlugin(options)`. */
export default rollupFamilyPlugin<Plugin>('rolldown')
