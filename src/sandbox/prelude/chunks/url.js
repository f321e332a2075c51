// Chunk "url": URL and URLSearchParams.
import { provide } from '../shared.js'
import { URL, URLSearchParams } from '../url.js'

provide('url', { URL, URLSearchParams })
