// Chunk "timers": setTimeout and friends; the core's entry.fireTimer calls fireTimer.
import { provide } from '../shared.js'
import { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, fireTimer } from '../timers.js'

provide('timers', { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, fireTimer })
