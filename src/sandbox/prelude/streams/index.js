// The WHATWG streams (chunk "streams"): ReadableStream with default and byte controllers and both
// readers, WritableStream, TransformStream with fused pipeThrough chains, the queuing strategies,
// TextEncoderStream and TextDecoderStream; all fnbox's own, written for QuickJS (see the module
// comments of readable-state.js, default-controller.js and transform.js for where they take
// fewer promises than the standard's text, and the tests for how they are checked against it).
// Body code (body.js) avoids loading this chunk unless a stream is asked for.
import { tag, enumerableMembers } from '../util.js'
import { ReadableStream } from './readable.js'
import { ReadableStreamDefaultReader, ReadableStreamBYOBReader } from './readers.js'
import { ReadableStreamDefaultController } from './default-controller.js'
import { ReadableByteStreamController, ReadableStreamBYOBRequest } from './byte-controller.js'
import { WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController } from './writable.js'
import { TransformStream, TransformStreamDefaultController } from './transform.js'
import { CountQueuingStrategy, ByteLengthQueuingStrategy } from './strategies.js'
import { fuse } from './transform-chain.js'
import { hooks } from './readable.js'

const CLASSES = {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  ReadableStreamBYOBRequest,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
}
for (const name of Object.keys(CLASSES)) {
  tag(CLASSES[name], name)
  enumerableMembers(CLASSES[name])
}
hooks.fuse = fuse
for (const name of ['pipeThrough', 'pipeTo']) {
  Object.defineProperty(ReadableStream.prototype[name], 'length', { value: 1 })
}

export {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  ReadableStreamBYOBRequest,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  CountQueuingStrategy,
  ByteLengthQueuingStrategy,
}
export { TextEncoderStream, TextDecoderStream } from './text-streams.js'
export { internalTransformStream } from './transform.js'
export { createReadable, createByteStream } from './readable.js'
export { isReadable } from './readable-state.js'
export { bodyStreams } from './body-streams.js'
