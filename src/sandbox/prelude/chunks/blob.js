// Chunk "blob": Blob, File and FormData, and what bodies need of them (body.js).
import { provide } from '../shared.js'
import { Blob, File, isBlob, blobBytes, blobFromBytes } from '../blob.js'
import { FormData, isFormData, encodeFormData, parseFormData } from '../form-data.js'

provide('blob', { Blob, File, FormData, isBlob, isFormData, blobBytes, blobFromBytes, encodeFormData, parseFormData })
