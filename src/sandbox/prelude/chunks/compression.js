// Chunk "compression": CompressionStream and DecompressionStream.
import { provide } from '../shared.js'
import { CompressionStream, DecompressionStream } from '../compression.js'

provide('compression', { CompressionStream, DecompressionStream })
