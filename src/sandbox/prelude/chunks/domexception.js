// Chunk "domexception": DOMException and the errors aborts reject with.
import { provide } from '../shared.js'
import { DOMException, abortError, timeoutError } from '../domexception.js'

provide('domexception', { DOMException, abortError, timeoutError })
