import { unplugin } from './index.js'

/** rspack plugin of unplugin-ai-image: `rspackPlugin(options)`. */
export default unplugin.rspack
