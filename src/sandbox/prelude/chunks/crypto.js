// Chunk "crypto": crypto, Crypto, SubtleCrypto and CryptoKey.
import { provide } from '../shared.js'
import { crypto, Crypto } from '../crypto.js'
import { SubtleCrypto, CryptoKey } from '../subtle.js'

provide('crypto', { crypto, Crypto, SubtleCrypto, CryptoKey })
