/** The shared fixture app built by rspack (see suite.ts). */
import { rspackDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(rspackDriver)
