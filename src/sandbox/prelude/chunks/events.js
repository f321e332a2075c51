// Chunk "events": Event, CustomEvent, ErrorEvent, PromiseRejectionEvent, EventTarget,
// AbortController and AbortSignal.
import { provide } from '../shared.js'
import { Event, EventTarget, CustomEvent, ErrorEvent, PromiseRejectionEvent } from '../events.js'
import { AbortController, AbortSignal, followSignal, onAbort, isSignal } from '../abort.js'

provide('events', {
  Event,
  EventTarget,
  CustomEvent,
  ErrorEvent,
  PromiseRejectionEvent,
  AbortController,
  AbortSignal,
  followSignal,
  onAbort,
  isSignal,
})
