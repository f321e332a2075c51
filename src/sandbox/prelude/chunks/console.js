// Chunk "console": console and reportError.
import { provide } from '../shared.js'
import { console, reportError } from '../console.js'

provide('console', { console, reportError })
