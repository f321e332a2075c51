// The byte queue and pull-into descriptors of a ReadableByteStreamController (Streams standard):
// moving queued bytes into waiting BYOB reads, and turning a filled read into the view its reader
// gets. byte-controller.js drives these.
import { record } from './helpers.js'
import { fulfillRequest } from './readable-state.js'

/** The element size and constructor of each kind of view a BYOB read may fill. */
const VIEW_KINDS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
]

/** TransferArrayBuffer: the bytes move to a new ArrayBuffer; `buffer` is left detached. */
export function transfer(buffer) {
  if (buffer.detached) throw new TypeError('The ArrayBuffer is detached')
  return buffer.transfer()
}

export function viewConstructorOf(view) {
  if (view instanceof DataView) return DataView
  for (const C of VIEW_KINDS) if (view instanceof C) return C
  return DataView
}

/** One BYOB read (or auto-allocated default read) waiting to be filled. */
export class PullIntoDescriptor {
  constructor(buffer, byteOffset, byteLength, minimumFill, elementSize, viewConstructor, readerType) {
    this.buffer = buffer
    this.bufferByteLength = buffer.byteLength
    this.byteOffset = byteOffset
    this.byteLength = byteLength
    this.bytesFilled = 0
    this.minimumFill = minimumFill
    this.elementSize = elementSize
    this.viewConstructor = viewConstructor
    /** 'default', 'byob', or 'none' once its reader was released. */
    this.readerType = readerType
  }
}
record(PullIntoDescriptor)

export function enqueueChunkToQueue(c, buffer, byteOffset, byteLength) {
  c.queue.push({ buffer, byteOffset, byteLength })
  c.queueTotalSize += byteLength
}

export function fillHeadPullInto(c, size, d) {
  d.bytesFilled += size
}

/** Copies queued bytes into `d`; whether it now holds at least its minimum (whole elements). */
export function fillPullIntoFromQueue(c, d) {
  const maxBytesToCopy = Math.min(c.queueTotalSize, d.byteLength - d.bytesFilled)
  const maxBytesFilled = d.bytesFilled + maxBytesToCopy
  let totalBytesToCopyRemaining = maxBytesToCopy
  let ready = false
  const maxAlignedBytes = maxBytesFilled - (maxBytesFilled % d.elementSize)
  if (maxAlignedBytes >= d.minimumFill) {
    totalBytesToCopyRemaining = maxAlignedBytes - d.bytesFilled
    ready = true
  }
  const queue = c.queue
  while (totalBytesToCopyRemaining > 0) {
    const head = queue[0]
    const bytesToCopy = Math.min(totalBytesToCopyRemaining, head.byteLength)
    const destStart = d.byteOffset + d.bytesFilled
    new Uint8Array(d.buffer, destStart, bytesToCopy).set(new Uint8Array(head.buffer, head.byteOffset, bytesToCopy))
    if (head.byteLength === bytesToCopy) queue.shift()
    else {
      head.byteOffset += bytesToCopy
      head.byteLength -= bytesToCopy
    }
    c.queueTotalSize -= bytesToCopy
    fillHeadPullInto(c, bytesToCopy, d)
    totalBytesToCopyRemaining -= bytesToCopy
  }
  return ready
}

export function processPullIntosUsingQueue(c) {
  const filled = []
  while (c.pendingPullIntos.length > 0) {
    if (c.queueTotalSize === 0) break
    const d = c.pendingPullIntos[0]
    if (fillPullIntoFromQueue(c, d)) {
      c.pendingPullIntos.shift()
      filled.push(d)
    }
  }
  return filled
}

/** The view a filled descriptor gives its reader (its buffer transferred once more). */
export function convertPullInto(d) {
  const buffer = transfer(d.buffer)
  return new d.viewConstructor(buffer, d.byteOffset, d.bytesFilled / d.elementSize)
}

export function commitPullInto(s, d) {
  const done = s.state === 'closed'
  const view = convertPullInto(d)
  fulfillRequest(s, view, done)
}
