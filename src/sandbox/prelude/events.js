// Event, CustomEvent and EventTarget (DOM standard, without a tree: the target is the only node).
import { native, shared, reportError, domException } from './shared.js'
import { internal, tag, illegal, isObject, dictionary, enumerableMembers } from './util.js'

const kEvent = internal('event')
const kListeners = internal('listeners')
/** On a target that wants to know (a dependent AbortSignal): called when its listeners change. */
export const kListenersChanged = internal('listeners changed')

/** What abort.js lends this module (it imports this one, so it cannot be imported here). */
const signals = { isSignal: null, onAbort: null }
export function setSignalHooks(isSignal, onAbort) {
  signals.isSignal = isSignal
  signals.onAbort = onAbort
}

/**
 * `isTrusted` is [LegacyUnforgeable]: an own accessor of each event, the same getter for all.
 * True only for events the platform dispatches (an AbortSignal's `abort`).
 */
const isTrustedGetter = Object.getOwnPropertyDescriptor(
  {
    get isTrusted() {
      return state(this).trusted
    },
  },
  'isTrusted',
).get

export class Event {
  constructor(type, eventInitDict) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required")
    const init = dictionary(eventInitDict, 'eventInitDict')
    // EventInit's members, in the order WebIDL reads them.
    const bubbles = !!init.bubbles
    const cancelable = !!init.cancelable
    const composed = !!init.composed
    this[kEvent] = {
      type: String(type),
      bubbles,
      cancelable,
      composed,
      initialized: true,
      trusted: false,
      canceled: false,
      stop: false,
      stopImmediate: false,
      passive: false,
      dispatching: false,
      target: null,
      currentTarget: null,
      phase: 0,
      timeStamp: native.now() - shared.timeOrigin,
    }
    Object.defineProperty(this, 'isTrusted', { get: isTrustedGetter, enumerable: true, configurable: false })
  }

  get type() {
    return state(this).type
  }
  get bubbles() {
    return state(this).bubbles
  }
  get cancelable() {
    return state(this).cancelable
  }
  get composed() {
    return state(this).composed
  }
  get defaultPrevented() {
    return state(this).canceled
  }
  get target() {
    return state(this).target
  }
  get srcElement() {
    return state(this).target
  }
  get currentTarget() {
    return state(this).currentTarget
  }
  get eventPhase() {
    return state(this).phase
  }
  get timeStamp() {
    return state(this).timeStamp
  }
  get returnValue() {
    return !state(this).canceled
  }
  set returnValue(v) {
    if (!v) this.preventDefault()
  }
  get cancelBubble() {
    return state(this).stop
  }
  set cancelBubble(v) {
    if (v) state(this).stop = true
  }

  composedPath() {
    const s = state(this)
    return s.dispatching && s.currentTarget ? [s.currentTarget] : []
  }
  preventDefault() {
    const s = state(this)
    if (s.cancelable && !s.passive) s.canceled = true
  }
  stopPropagation() {
    state(this).stop = true
  }
  stopImmediatePropagation() {
    const s = state(this)
    s.stop = s.stopImmediate = true
  }
  initEvent(type, bubbles = false, cancelable = false) {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'initEvent': 1 argument required")
    const s = state(this)
    if (s.dispatching) return
    s.initialized = true
    s.stop = s.stopImmediate = s.canceled = false
    s.trusted = false
    s.target = null
    s.type = String(type)
    s.bubbles = !!bubbles
    s.cancelable = !!cancelable
  }
}
tag(Event, 'Event')
;['NONE', 'CAPTURING_PHASE', 'AT_TARGET', 'BUBBLING_PHASE'].forEach((name, value) => {
  Object.defineProperty(Event, name, { value, enumerable: true })
  Object.defineProperty(Event.prototype, name, { value, enumerable: true })
})

function state(event) {
  const s = event[kEvent]
  if (!s) throw illegal()
  return s
}

export class CustomEvent extends Event {
  constructor(type, eventInitDict) {
    super(type, eventInitDict)
    const init = dictionary(eventInitDict, 'eventInitDict')
    this[kEvent].detail = init.detail === undefined ? null : init.detail
  }
  get detail() {
    return state(this).detail
  }
}
tag(CustomEvent, 'CustomEvent')

/** ErrorEvent (HTML): an `error` event with the error and where it happened. */
export class ErrorEvent extends Event {
  constructor(type, eventInitDict) {
    super(type, eventInitDict)
    const init = dictionary(eventInitDict, 'eventInitDict')
    const s = this[kEvent]
    s.message = init.message === undefined ? '' : String(init.message)
    s.filename = init.filename === undefined ? '' : String(init.filename)
    s.lineno = init.lineno === undefined ? 0 : Number(init.lineno) >>> 0
    s.colno = init.colno === undefined ? 0 : Number(init.colno) >>> 0
    s.error = init.error
  }
  get message() {
    return state(this).message
  }
  get filename() {
    return state(this).filename
  }
  get lineno() {
    return state(this).lineno
  }
  get colno() {
    return state(this).colno
  }
  get error() {
    return state(this).error
  }
}
tag(ErrorEvent, 'ErrorEvent')

/** PromiseRejectionEvent (HTML): `unhandledrejection` / `rejectionhandled`. */
export class PromiseRejectionEvent extends Event {
  constructor(type, eventInitDict) {
    super(type, eventInitDict)
    const init = dictionary(eventInitDict, 'eventInitDict')
    if (!('promise' in init)) {
      throw new TypeError("Failed to construct 'PromiseRejectionEvent': required member promise is undefined.")
    }
    this[kEvent].promise = init.promise
    this[kEvent].reason = init.reason
  }
  get promise() {
    return state(this).promise
  }
  get reason() {
    return state(this).reason
  }
}
tag(PromiseRejectionEvent, 'PromiseRejectionEvent')

/** EventListenerOptions / AddEventListenerOptions (members read in WebIDL's order), or a boolean. */
function flatten(options, full) {
  if (!isObject(options)) return { capture: !!options, once: false, passive: false, signal: undefined }
  const capture = !!options.capture
  if (!full) return { capture }
  const once = !!options.once
  const passive = !!options.passive
  const signal = options.signal
  if (signal !== undefined && !signals.isSignal?.(signal)) {
    throw new TypeError("Failed to read the 'signal' property from 'AddEventListenerOptions': not an AbortSignal")
  }
  return { capture, once, passive, signal }
}

function listeners(target) {
  const l = target[kListeners]
  if (!l) throw illegal()
  return l
}

function removeListener(target, all, type, callback, capture) {
  const list = all.get(type)
  if (!list) return
  const i = list.findIndex((l) => l.callback === callback && l.capture === capture)
  if (i === -1) return
  list[i].removed = true
  list.splice(i, 1)
  target[kListenersChanged]?.(type)
}

/** The event's listeners at the target, capturing ones first; returns whether it was not canceled. */
function dispatch(target, event, s) {
  s.dispatching = true
  s.target = s.currentTarget = target
  s.phase = 2 // AT_TARGET
  const list = listeners(target).get(s.type)
  if (list) {
    const snapshot = list.slice()
    for (const capturing of [true, false]) {
      for (const l of snapshot) {
        if (l.removed || l.capture !== capturing) continue
        if (l.once) removeListener(target, listeners(target), s.type, l.callback, l.capture)
        s.passive = l.passive
        try {
          if (typeof l.callback === 'function') l.callback.call(target, event)
          else l.callback.handleEvent(event)
        } catch (err) {
          reportError(err)
        }
        s.passive = false
        if (s.stopImmediate) break
      }
      if (s.stopImmediate) break
    }
  }
  s.dispatching = false
  s.currentTarget = null
  s.phase = 0
  s.stop = s.stopImmediate = false
  return !s.canceled
}

/** Fires a trusted event of `type` (no bubbles, not cancelable) at `target`, as the platform does. */
export function fireEvent(target, type) {
  const event = new Event(type)
  const s = event[kEvent]
  s.trusted = true
  return dispatch(target, event, s)
}

export class EventTarget {
  constructor() {
    this[kListeners] = new Map()
  }

  addEventListener(type, callback, options = undefined) {
    const all = listeners(this)
    type = String(type)
    const { capture, once, passive, signal } = flatten(options, true)
    if (callback === null || callback === undefined) return
    if (!isObject(callback)) throw new TypeError('The "listener" argument must be an object or a function')
    if (signal !== undefined && signal.aborted) return
    let list = all.get(type)
    if (!list) all.set(type, (list = []))
    if (list.some((l) => l.callback === callback && l.capture === capture)) return
    list.push({ callback, capture, once, passive, removed: false })
    this[kListenersChanged]?.(type)
    // Removed by the signal's abort steps, before any abort event listener runs.
    if (signal !== undefined) signals.onAbort(signal, () => removeListener(this, all, type, callback, capture))
  }

  removeEventListener(type, callback, options = undefined) {
    const all = listeners(this)
    type = String(type)
    const { capture } = flatten(options, false)
    removeListener(this, all, type, callback, capture)
  }

  dispatchEvent(event) {
    listeners(this)
    if (!(isObject(event) && event[kEvent])) throw new TypeError('The "event" argument must be an instance of Event')
    const s = event[kEvent]
    if (s.dispatching || !s.initialized) {
      throw domException('The event is already being dispatched or was not initialized', 'InvalidStateError')
    }
    s.trusted = false
    return dispatch(this, event, s)
  }
}
tag(EventTarget, 'EventTarget')

/** How many listeners of `type` the target has. */
export function listenerCount(target, type) {
  const list = listeners(target).get(type)
  return list ? list.length : 0
}

/** Makes `on<type>` attributes (e.g. `signal.onabort`) on a class whose instances are EventTargets. */
export function defineEventHandler(cls, type) {
  const key = internal(`on${type}`)
  Object.defineProperty(cls.prototype, `on${type}`, {
    configurable: true,
    enumerable: true,
    get() {
      return this[key] ? this[key].handler : null
    },
    set(value) {
      const handler = typeof value === 'function' || isObject(value) ? value : null
      if (!this[key]) {
        if (!handler) return
        // Registered once, on first set, so it keeps its place among the listeners.
        const slot = { handler }
        this[key] = slot
        this.addEventListener(type, function (event) {
          const h = slot.handler
          if (typeof h === 'function') return h.call(this, event)
        })
      } else {
        this[key].handler = handler
      }
    },
  })
}

enumerableMembers(Event, CustomEvent, ErrorEvent, PromiseRejectionEvent, EventTarget)
