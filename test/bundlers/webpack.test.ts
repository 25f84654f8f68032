/** The shared fixture app built by webpack (see suite.ts). */
import { webpackDriver } from './drivers.js'
import { bundlerSuite } from './suite.js'

bundlerSuite(webpackDriver)
