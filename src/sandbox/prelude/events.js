// Event, CustomEvent and EventTarget (DOM standard, without a tree: the target is the only node).
import { native, reportError, domException } from './shared.js'
import { internal, tag, illegal, isObject, dictionary } from './util.js'

const kEvent = internal('event')
const kListeners = internal('listeners')

export class Event {
  constructor(type, eventInitDict) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required")
    const init = dictionary(eventInitDict, 'eventInitDict')
    this[kEvent] = {
      type: String(type),
      bubbles: !!init.bubbles,
      cancelable: !!init.cancelable,
      composed: !!init.composed,
      canceled: false,
      stop: false,
      stopImmediate: false,
      passive: false,
      dispatching: false,
      target: null,
      currentTarget: null,
      phase: 0,
      timeStamp: native.now(),
    }
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
  get isTrusted() {
    return false
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

function flatten(options) {
  if (typeof options === 'boolean' || !isObject(options))
    return { capture: !!options, once: false, passive: false, signal: undefined }
  return { capture: !!options.capture, once: !!options.once, passive: !!options.passive, signal: options.signal }
}

function listeners(target) {
  const l = target[kListeners]
  if (!l) throw illegal()
  return l
}

export class EventTarget {
  constructor() {
    this[kListeners] = new Map()
  }

  addEventListener(type, callback, options) {
    const all = listeners(this)
    if (callback === null || callback === undefined) return
    if (!isObject(callback)) throw new TypeError('The "listener" argument must be an object or a function')
    const { capture, once, passive, signal } = flatten(options)
    if (signal !== undefined && signal !== null && signal.aborted) return
    type = String(type)
    let list = all.get(type)
    if (!list) all.set(type, (list = []))
    if (list.some((l) => l.callback === callback && l.capture === capture)) return
    list.push({ callback, capture, once, passive, removed: false })
    if (signal !== undefined && signal !== null) {
      signal.addEventListener('abort', () => this.removeEventListener(type, callback, { capture }), { once: true })
    }
  }

  removeEventListener(type, callback, options) {
    const list = listeners(this).get(String(type))
    if (!list) return
    const capture = flatten(options).capture
    const i = list.findIndex((l) => l.callback === callback && l.capture === capture)
    if (i !== -1) {
      list[i].removed = true
      list.splice(i, 1)
    }
  }

  dispatchEvent(event) {
    const all = listeners(this)
    if (!(event instanceof Event)) throw new TypeError('The "event" argument must be an instance of Event')
    const s = state(event)
    if (s.dispatching) throw domException('The event is already being dispatched', 'InvalidStateError')
    s.dispatching = true
    s.target = s.currentTarget = this
    s.phase = 2 // AT_TARGET
    const list = all.get(s.type)
    if (list) {
      const snapshot = list.slice()
      // At the target, capturing listeners run before the others.
      for (const capturing of [true, false]) {
        for (const l of snapshot) {
          if (l.removed || l.capture !== capturing) continue
          if (l.once) this.removeEventListener(s.type, l.callback, { capture: l.capture })
          s.passive = l.passive
          try {
            if (typeof l.callback === 'function') l.callback.call(this, event)
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
}
tag(EventTarget, 'EventTarget')

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
