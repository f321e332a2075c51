// Chunk "encoding": TextEncoder, TextDecoder, atob and btoa.
import { provide } from '../shared.js'
import { TextEncoder, TextDecoder, atob, btoa } from '../encoding.js'

provide('encoding', { TextEncoder, TextDecoder, atob, btoa })
