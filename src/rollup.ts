import { unplugin } from './index.js'

/** rollup plugin of unplugin-ai-image: `rollupPlugin(options)`. */
export default unplugin.rollup
