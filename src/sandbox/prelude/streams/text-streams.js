// TextEncoderStream and TextDecoderStream (Encoding standard): GenericTransformStreams over a
// TransformStream of this folder.
import { load } from '../shared.js'
import { internal, tag, illegal, isObject, genericTransformStream, enumerableMembers } from '../util.js'
import { utf8Encode } from '../utf8.js'
import { internalTransformStream } from './transform.js'

const kTransform = internal('transform')
const kDecoder = internal('decoder')

export class TextEncoderStream {
  constructor() {
    let high = '' // a lead surrogate waiting for its pair in the next chunk
    this[kTransform] = internalTransformStream(
      (chunk, enqueue) => {
        let s = high + String(chunk)
        high = ''
        const last = s.charCodeAt(s.length - 1)
        if (last >= 0xd800 && last <= 0xdbff) {
          high = s.slice(-1)
          s = s.slice(0, -1)
        }
        if (s) enqueue(utf8Encode(s))
      },
      (enqueue) => {
        if (high) enqueue(new Uint8Array([0xef, 0xbf, 0xbd]))
      },
    )
  }
  get encoding() {
    if (!isObject(this) || !this[kTransform]) throw illegal()
    return 'utf-8'
  }
}
genericTransformStream(TextEncoderStream, kTransform)
tag(TextEncoderStream, 'TextEncoderStream')

function decoderOf(stream) {
  const d = isObject(stream) ? stream[kDecoder] : undefined
  if (!d) throw illegal()
  return d
}

export class TextDecoderStream {
  constructor(label = 'utf-8', options = undefined) {
    const decoder = new (load('encoding').TextDecoder)(label, options)
    this[kDecoder] = decoder
    this[kTransform] = internalTransformStream(
      (chunk, enqueue) => {
        const text = decoder.decode(chunk, { stream: true })
        if (text) enqueue(text)
      },
      (enqueue) => {
        const text = decoder.decode()
        if (text) enqueue(text)
      },
    )
  }
  get encoding() {
    return decoderOf(this).encoding
  }
  get fatal() {
    return decoderOf(this).fatal
  }
  get ignoreBOM() {
    return decoderOf(this).ignoreBOM
  }
}
genericTransformStream(TextDecoderStream, kTransform)
tag(TextDecoderStream, 'TextDecoderStream')
enumerableMembers(TextEncoderStream, TextDecoderStream)
