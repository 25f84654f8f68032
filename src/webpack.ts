import { unplugin } from './index.js'

/** webpack plugin of unplugin-ai-image: `webpackPlugin(options)`. */
export default unplugin.webpack
