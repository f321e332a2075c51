// Chunk "streams": the WHATWG stream classes and the text streams (everything streams.js exports).
import { provide } from '../shared.js'
import * as streams from '../streams.js'

provide('streams', { ...streams })
