// Chunk "events": Event, CustomEvent, EventTarget, AbortController and AbortSignal.
import { provide } from '../shared.js'
import { Event, EventTarget, CustomEvent } from '../events.js'
import { AbortController, AbortSignal, followSignal, onAbort } from '../abort.js'

provide('events', { Event, EventTarget, CustomEvent, AbortController, AbortSignal, followSignal, onAbort })
