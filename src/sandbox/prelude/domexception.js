// DOMException (WebIDL): its prototype inherits from Error.prototype, the constructor itself does
// not (it is a plain function, not `class extends Error`); `name`, `message`, `code` and `cause`
// are brand-checked getters on the prototype reading internal slots, so an instance's own
// properties are only its `stack`, as an Error's are.
import { internal, tag, illegal } from './util.js'

/** The error names table: names with a legacy code, and those codes. */
const CODES = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
}

/** The legacy code constants, in code order (1 to 25). */
const CONSTANTS = [
  'INDEX_SIZE_ERR',
  'DOMSTRING_SIZE_ERR',
  'HIERARCHY_REQUEST_ERR',
  'WRONG_DOCUMENT_ERR',
  'INVALID_CHARACTER_ERR',
  'NO_DATA_ALLOWED_ERR',
  'NO_MODIFICATION_ALLOWED_ERR',
  'NOT_FOUND_ERR',
  'NOT_SUPPORTED_ERR',
  'INUSE_ATTRIBUTE_ERR',
  'INVALID_STATE_ERR',
  'SYNTAX_ERR',
  'INVALID_MODIFICATION_ERR',
  'NAMESPACE_ERR',
  'INVALID_ACCESS_ERR',
  'VALIDATION_ERR',
  'TYPE_MISMATCH_ERR',
  'SECURITY_ERR',
  'NETWORK_ERR',
  'ABORT_ERR',
  'URL_MISMATCH_ERR',
  'QUOTA_EXCEEDED_ERR',
  'TIMEOUT_ERR',
  'INVALID_NODE_TYPE_ERR',
  'DATA_CLONE_ERR',
]

const kSlots = internal('DOMException')
const { hasOwn } = Object

function slots(e) {
  const s = e !== null && typeof e === 'object' && hasOwn(e, kSlots) ? e[kSlots] : undefined
  if (!s) throw illegal()
  return s
}

/**
 * `new DOMException(message = '', options = 'Error')`: `options` is a name, or a dictionary of
 * `cause` and `name` (read in that order, as WebIDL reads dictionary members).
 */
export function DOMException(message = undefined, options = undefined) {
  if (new.target === undefined) throw new TypeError("Class constructor DOMException cannot be invoked without 'new'")
  const text = message === undefined ? '' : String(message)
  let name = 'Error'
  let cause
  if (options !== undefined) {
    if (options === null || typeof options === 'object' || typeof options === 'function') {
      if (options !== null) {
        cause = options.cause
        const n = options.name
        if (n !== undefined) name = String(n)
      }
    } else {
      name = String(options)
    }
  }
  // An Error made for new.target's prototype: it gets a stack, as any error does.
  const self = Reflect.construct(Error, [], new.target)
  Object.defineProperty(self, kSlots, { value: { name, message: text, cause } })
  return self
}
Object.setPrototypeOf(DOMException.prototype, Error.prototype)
Object.defineProperty(DOMException, 'prototype', { writable: false })

const getters = {
  get name() {
    return slots(this).name
  },
  get message() {
    return slots(this).message
  },
  get code() {
    const name = slots(this).name
    return hasOwn(CODES, name) ? CODES[name] : 0
  },
  get cause() {
    return slots(this).cause
  },
}
for (const key of Object.keys(getters)) {
  const { get } = Object.getOwnPropertyDescriptor(getters, key)
  Object.defineProperty(DOMException.prototype, key, { get, enumerable: true, configurable: true })
}
tag(DOMException, 'DOMException')
CONSTANTS.forEach((c, i) => {
  const d = { value: i + 1, enumerable: true, writable: false, configurable: false }
  Object.defineProperty(DOMException, c, d)
  Object.defineProperty(DOMException.prototype, c, d)
})

export function abortError(message = 'This operation was aborted') {
  return new DOMException(message, 'AbortError')
}

export function timeoutError(message = 'The operation timed out.') {
  return new DOMException(message, 'TimeoutError')
}
