// WHATWG streams, written for QuickJS: ReadableStream for default sources (readable.js),
// WritableStream (writable.js) and TransformStream (transform.js, with fused pipeThrough chains),
// the queuing strategies, TextEncoderStream and TextDecoderStream. Byte streams and their BYOB
// readers are web-streams-polyfill's, in chunk "bytestreams", loaded only when one is made. Body
// code (body.js) avoids loading this chunk unless a stream is asked for.
import { load } from './shared.js'
import { internal, tag, genericTransformStream, isObject, illegal, enumerableMembers } from './util.js'
import { utf8Encode } from './utf8.js'
import { makeTransformStream } from './transform.js'
import { makeReadableStream } from './readable.js'
import { makeWritableStream } from './writable.js'

const writable = makeWritableStream()
export const { WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController } = writable
tag(WritableStream, 'WritableStream')
tag(WritableStreamDefaultWriter, 'WritableStreamDefaultWriter')
tag(WritableStreamDefaultController, 'WritableStreamDefaultController')

const readable = makeReadableStream(writable)
export const { ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController } = readable
tag(ReadableStream, 'ReadableStream')
tag(ReadableStreamDefaultReader, 'ReadableStreamDefaultReader')
tag(ReadableStreamDefaultController, 'ReadableStreamDefaultController')
/** For chunk "bytestreams": the polyfill's streams pipe and pipe through like ours. */
export const { pipeForeign, pipeThroughAny } = readable

export const { TransformStream, TransformStreamDefaultController } = makeTransformStream(
  { ReadableStream, WritableStream },
  readable,
)
tag(TransformStream, 'TransformStream')
tag(TransformStreamDefaultController, 'TransformStreamDefaultController')

const kHwm = internal('highWaterMark')

function strategyHwm(init, name) {
  if (!isObject(init) || init.highWaterMark === undefined) {
    throw new TypeError(`${name}: the init dictionary needs a highWaterMark`)
  }
  return Number(init.highWaterMark)
}

function hwmOf(strategy) {
  if (!isObject(strategy) || !(kHwm in strategy)) throw illegal()
  return strategy[kHwm]
}

/** A queuing strategy class: a high-water mark from its init dictionary, and a size function. */
function strategyClass(name, size) {
  const cls = class {
    constructor(init) {
      this[kHwm] = strategyHwm(init, name)
    }
    get highWaterMark() {
      return hwmOf(this)
    }
    get size() {
      hwmOf(this)
      return size
    }
  }
  tag(cls, name)
  enumerableMembers(cls)
  return cls
}

export const CountQueuingStrategy = strategyClass('CountQueuingStrategy', { size: () => 1 }.size)
export const ByteLengthQueuingStrategy = strategyClass(
  'ByteLengthQueuingStrategy',
  { size: (chunk) => chunk.byteLength }.size,
)

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
