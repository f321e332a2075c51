// CompressionStream and DecompressionStream (Compression standard) on fflate's streaming codecs:
// 'gzip', 'deflate' (the zlib format) and 'deflate-raw'. Plain JavaScript in the guest: slower
// than the host's zlib, but nothing crosses to the host and no host state outlives a call.
import { Gzip, Gunzip, Zlib, Unzlib, Deflate, Inflate } from 'fflate'
import { load } from './shared.js'
import { internal, tag, viewOf, genericTransformStream } from './util.js'

const FORMATS = { gzip: [Gzip, Gunzip], deflate: [Zlib, Unzlib], 'deflate-raw': [Deflate, Inflate] }
const kTransform = internal('transform')

function codecs(format, what) {
  const name = String(format)
  if (!Object.prototype.hasOwnProperty.call(FORMATS, name)) {
    throw new TypeError(`Failed to construct '${what}': Unsupported compression format: '${name}'`)
  }
  return FORMATS[name]
}

function codecStream(Codec, decompress) {
  let ended = false
  let enqueue
  const codec = new Codec((data, final) => {
    if (data.length) enqueue(data)
    if (final) ended = true
  })
  const fail = (err) => new TypeError(`${decompress ? 'Decompression' : 'Compression'} failed: ${err && err.message}`)
  return load('streams').internalTransformStream(
    (chunk, enq) => {
      enqueue = enq
      const view = viewOf(chunk)
      if (!view) throw new TypeError('The chunk must be an ArrayBuffer or ArrayBufferView')
      if (ended) {
        if (decompress && view.length) throw new TypeError('Decompression failed: data after the end of the stream')
        return
      }
      try {
        codec.push(view.slice(), false)
      } catch (err) {
        throw fail(err)
      }
    },
    (enq) => {
      enqueue = enq
      if (!ended) {
        try {
          codec.push(new Uint8Array(0), true)
        } catch (err) {
          throw fail(err)
        }
      }
      if (decompress && !ended) throw new TypeError('Decompression failed: the compressed data is truncated')
    },
  )
}

export class CompressionStream {
  constructor(format) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'CompressionStream': 1 argument required")
    this[kTransform] = codecStream(codecs(format, 'CompressionStream')[0], false)
  }
}
genericTransformStream(CompressionStream, kTransform)
tag(CompressionStream, 'CompressionStream')

export class DecompressionStream {
  constructor(format) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'DecompressionStream': 1 argument required")
    this[kTransform] = codecStream(codecs(format, 'DecompressionStream')[1], true)
  }
}
genericTransformStream(DecompressionStream, kTransform)
tag(DecompressionStream, 'DecompressionStream')
