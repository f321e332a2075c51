// WHATWG streams: ReadableStream for default sources (readable.js) and TransformStream
// (transform.js, with fused pipeThrough chains) written for QuickJS; WritableStream, byte streams
// with their BYOB readers, the queuing strategies and the pipe itself from web-streams-polyfill
// (its UMD build, included verbatim); plus TextEncoderStream and TextDecoderStream. The biggest
// chunk: body.js avoids loading it unless a stream is asked for.
import run from 'web-streams-polyfill/dist/ponyfill.js?guest-script'
import { load } from './shared.js'
import { internal, tag, markPlatform, genericTransformStream } from './util.js'
import { utf8Encode } from './utf8.js'
import { makeTransformStream } from './transform.js'
import { makeReadableStream } from './readable.js'

// The UMD build fills `exports` when it sees CommonJS-like `exports` and `module`.
const polyfill = {}
run(polyfill, { exports: polyfill })

export const {
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableByteStreamController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
} = polyfill
for (const name of Object.keys(polyfill)) markPlatform(polyfill[name].prototype)

const readable = makeReadableStream(polyfill)
export const { ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController } = readable
tag(ReadableStream, 'ReadableStream')
tag(ReadableStreamDefaultReader, 'ReadableStreamDefaultReader')
tag(ReadableStreamDefaultController, 'ReadableStreamDefaultController')
// The polyfill's byte streams pipe through TransformStreams the same way.
Object.defineProperty(polyfill.ReadableStream.prototype, 'pipeThrough', {
  value: {
    pipeThrough(transform, options) {
      return readable.pipeThroughAny(this, this.locked, transform, options)
    },
  }.pipeThrough,
  writable: true,
  configurable: true,
  enumerable: true,
})

export const { TransformStream, TransformStreamDefaultController } = makeTransformStream(
  { ReadableStream, WritableStream },
  readable,
)
tag(TransformStream, 'TransformStream')
tag(TransformStreamDefaultController, 'TransformStreamDefaultController')

const kTransform = internal('transform')

export class TextEncoderStream {
  constructor() {
    let high = '' // a lead surrogate waiting for its pair in the next chunk
    this[kTransform] = new TransformStream({
      transform(chunk, controller) {
        let s = high + String(chunk)
        high = ''
        const last = s.charCodeAt(s.length - 1)
        if (last >= 0xd800 && last <= 0xdbff) {
          high = s.slice(-1)
          s = s.slice(0, -1)
        }
        if (s) controller.enqueue(utf8Encode(s))
      },
      flush(controller) {
        if (high) controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]))
      },
    })
  }
  get encoding() {
    return 'utf-8'
  }
}
genericTransformStream(TextEncoderStream, kTransform)
tag(TextEncoderStream, 'TextEncoderStream')

export class TextDecoderStream {
  constructor(label = 'utf-8', options) {
    const decoder = new (load('encoding').TextDecoder)(label, options)
    Object.defineProperties(this, {
      encoding: { value: decoder.encoding },
      fatal: { value: decoder.fatal },
      ignoreBOM: { value: decoder.ignoreBOM },
    })
    this[kTransform] = new TransformStream({
      transform(chunk, controller) {
        const text = decoder.decode(chunk, { stream: true })
        if (text) controller.enqueue(text)
      },
      flush(controller) {
        const text = decoder.decode()
        if (text) controller.enqueue(text)
      },
    })
  }
}
genericTransformStream(TextDecoderStream, kTransform)
tag(TextDecoderStream, 'TextDecoderStream')
