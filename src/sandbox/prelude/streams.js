// WHATWG streams from web-streams-polyfill, installed lazily: compiling the polyfill costs ~11 ms
// and ~280 KB per context, so its source ships as a string and is evaluated on first use (the
// globals are getters until then; the prelude's own bodies avoid streams unless asked for one).
import source from 'web-streams-polyfill/dist/ponyfill.js' with { type: 'text' }
import { internal, tag, illegal, markPlatform } from './util.js'
import { TextDecoder, utf8Encode } from './encoding.js'

// Captured now: guest code may replace the global later.
const indirectEval = eval

let streams = null

export const STREAM_GLOBALS = [
  'ReadableStream',
  'ReadableStreamDefaultReader',
  'ReadableStreamBYOBReader',
  'ReadableStreamBYOBRequest',
  'ReadableByteStreamController',
  'ReadableStreamDefaultController',
  'TransformStream',
  'TransformStreamDefaultController',
  'WritableStream',
  'WritableStreamDefaultWriter',
  'WritableStreamDefaultController',
  'ByteLengthQueuingStrategy',
  'CountQueuingStrategy',
  'TextEncoderStream',
  'TextDecoderStream',
]

/** The stream classes, evaluating the polyfill on first call. */
export function loadStreams() {
  if (streams) return streams
  const exports = {}
  // The UMD build fills `exports` when it sees CommonJS-like `exports` and `module`.
  indirectEval(`(function (exports, module) {${source}\n})`)(exports, { exports })
  exports.TextEncoderStream = makeTextEncoderStream(exports.TransformStream)
  exports.TextDecoderStream = makeTextDecoderStream(exports.TransformStream)
  for (const name of STREAM_GLOBALS) markPlatform(exports[name].prototype)
  streams = exports
  // Globals still holding our getter become plain values (ones the guest replaced stay).
  for (const name of STREAM_GLOBALS) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name)
    if (d && lazyGetters.has(d.get)) define(name, exports[name])
  }
  return streams
}

export function isReadableStream(value) {
  return streams !== null && value instanceof streams.ReadableStream
}

function define(name, value) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false })
}

const lazyGetters = new Set()

/** Defines the stream globals as getters that load the polyfill (assigning one just replaces it). */
export function installStreamGlobals() {
  for (const name of STREAM_GLOBALS) {
    const get = () => loadStreams()[name]
    lazyGetters.add(get)
    Object.defineProperty(globalThis, name, {
      configurable: true,
      enumerable: false,
      get,
      set(value) {
        define(name, value)
      },
    })
  }
}

const kTransform = internal('transform')

function transformOf(obj) {
  const t = obj[kTransform]
  if (!t) throw illegal()
  return t
}

function makeTextEncoderStream(TransformStream) {
  class TextEncoderStream {
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
    get readable() {
      return transformOf(this).readable
    }
    get writable() {
      return transformOf(this).writable
    }
  }
  tag(TextEncoderStream, 'TextEncoderStream')
  return TextEncoderStream
}

function makeTextDecoderStream(TransformStream) {
  class TextDecoderStream {
    constructor(label = 'utf-8', options) {
      const decoder = new TextDecoder(label, options)
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
    get readable() {
      return transformOf(this).readable
    }
    get writable() {
      return transformOf(this).writable
    }
  }
  tag(TextDecoderStream, 'TextDecoderStream')
  return TextDecoderStream
}
