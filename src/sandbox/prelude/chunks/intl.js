// Chunk "intl": the Intl namespace, and the locale-sensitive methods of Number, BigInt, Date,
// String and Array that the core routes here (see index.js).
import { provide } from '../shared.js'
import { Intl, builtins } from '../intl.js'

provide('intl', { Intl, ...builtins })
