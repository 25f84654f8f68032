/** The shared fixture app built by esbuild (see suite.ts). */
import { esbuildDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(esbuildDriver)
