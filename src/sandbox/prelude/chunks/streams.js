// Chunk "streams": the WHATWG stream classes, the text streams, and what other chunks build
// streams with (everything streams/index.js exports).
import { provide } from '../shared.js'
import * as streams from '../streams/index.js'

provide('streams', { ...streams })
