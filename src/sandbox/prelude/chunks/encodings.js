// Chunk "encodings": the decoders of UTF-16 and of the single-byte encodings of the Encoding
// Standard (TextDecoder reads the latter's tables off them), and its labels, from @exodus/bytes (https://github.com/ExodusOSS/bytes: spec
// code that passes the web-platform-tests, where Node's own ICU decoders are wrong for
// windows-1252, big5, euc-kr, ...). Loaded by TextDecoder for a label other than UTF-8's.
// Its platform probes see the guest's own TextDecoder, not a native one, so it decodes in JS.
import { provide } from '../shared.js'
import { TextDecoder, normalizeEncoding } from '@exodus/bytes/encoding-lite.js'

provide('encodings', { TextDecoder, normalizeEncoding })
