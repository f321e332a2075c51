// Chunk "blob": Blob, File and FormData, and the FormData body codecs body.js uses.
import { provide } from '../shared.js'
import { Blob, File, FormData, encodeFormData, parseFormData } from '../blob.js'

provide('blob', { Blob, File, FormData, encodeFormData, parseFormData })
