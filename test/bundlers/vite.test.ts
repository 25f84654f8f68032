/** The shared fixture app built by vite (see suite.ts). */
import { viteDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(viteDriver)
