// crypto.getRandomValues / crypto.randomUUID on the host's CSPRNG, and crypto.subtle (subtle.js).
import { native, domException } from './shared.js'
import { tag } from './util.js'
import { subtle } from './subtle.js'

const INTEGER_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
]
const QUOTA = 65536

export class Crypto {
  constructor() {
    throw new TypeError('Illegal constructor')
  }

  getRandomValues(array) {
    if (!ArrayBuffer.isView(array)) throw new TypeError('The "array" argument must be an integer-typed ArrayBufferView')
    if (!INTEGER_ARRAYS.some((C) => array instanceof C)) {
      throw domException('The data argument must be an integer-type TypedArray', 'TypeMismatchError')
    }
    if (array.byteLength > QUOTA) {
      throw domException(
        `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (${QUOTA})`,
        'QuotaExceededError',
      )
    }
    if (array.byteLength) {
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(
        new Uint8Array(native.randomBytes(array.byteLength)),
      )
    }
    return array
  }

  randomUUID() {
    return native.randomUUID()
  }

  get subtle() {
    return subtle
  }
}
tag(Crypto, 'Crypto')

export const crypto = Object.create(Crypto.prototype)
