// Chunk "clone": structuredClone.
import { provide } from '../shared.js'
import { structuredClone } from '../clone.js'

provide('clone', { structuredClone })
