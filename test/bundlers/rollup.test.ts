/** The shared fixture app built by rollup (see suite.ts). */
import { rollupDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(rollupDriver)
