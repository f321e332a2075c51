// Chunk "bytestreams": web-streams-polyfill (its UMD build, included verbatim), for byte streams
// (`new ReadableStream({ type: 'bytes' })`) and their BYOB readers. Loaded only when one is made:
// every other stream is the streams chunk's. The polyfill's streams pipe into, and through, the
// streams chunk's WritableStream and TransformStream.
import run from 'web-streams-polyfill/dist/ponyfill.js?guest-script'
import { load, provide } from '../shared.js'
import { markPlatform } from '../util.js'

// The UMD build fills `exports` when it sees CommonJS-like `exports` and `module`.
const polyfill = {}
run(polyfill, { exports: polyfill })
for (const name of Object.keys(polyfill)) markPlatform(polyfill[name].prototype)

const streams = load('streams')
const proto = polyfill.ReadableStream.prototype
const methods = {
  pipeTo(destination, options) {
    return streams.pipeForeign(this, destination, options)
  },
  pipeThrough(transform, options) {
    return streams.pipeThroughAny(this, this.locked, transform, options)
  },
}
for (const name of ['pipeTo', 'pipeThrough']) {
  Object.defineProperty(proto, name, { value: methods[name], writable: true, configurable: true, enumerable: true })
  Object.defineProperty(methods[name], 'length', { value: 1 })
}

provide('bytestreams', {
  ReadableStream: polyfill.ReadableStream,
  ReadableStreamDefaultReader: polyfill.ReadableStreamDefaultReader,
  ReadableStreamDefaultController: polyfill.ReadableStreamDefaultController,
  ReadableStreamBYOBReader: polyfill.ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest: polyfill.ReadableStreamBYOBRequest,
  ReadableByteStreamController: polyfill.ReadableByteStreamController,
})
