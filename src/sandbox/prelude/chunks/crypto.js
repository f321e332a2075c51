// Chunk "crypto": crypto and Crypto.
import { provide } from '../shared.js'
import { crypto, Crypto } from '../crypto.js'

provide('crypto', { crypto, Crypto })
