// DOMException (WebIDL): an Error subclass with a legacy numeric `code` per name.
import { tag } from './util.js'

const CODES = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
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

export class DOMException extends Error {
  constructor(message = '', options = 'Error') {
    super(String(message))
    let name = options
    if (typeof options === 'object' && options !== null) {
      name = 'name' in options ? options.name : 'Error'
      if ('cause' in options)
        Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true })
    }
    Object.defineProperty(this, 'name', { value: String(name), writable: true, configurable: true })
  }

  get code() {
    return CODES[this.name] || 0
  }
}
tag(DOMException, 'DOMException')
CONSTANTS.forEach((c, i) => {
  const d = { value: i + 1, enumerable: true }
  Object.defineProperty(DOMException, c, d)
  Object.defineProperty(DOMException.prototype, c, d)
})

export function abortError(message = 'This operation was aborted') {
  return new DOMException(message, 'AbortError')
}

export function timeoutError(message = 'The operation timed out.') {
  return new DOMException(message, 'TimeoutError')
}
