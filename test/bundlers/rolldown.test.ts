/** The shared fixture app built by rolldown (see suite.ts). */
import { rolldownDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(rolldownDriver)
