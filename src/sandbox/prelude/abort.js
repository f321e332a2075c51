// AbortController and AbortSignal (DOM standard), with AbortSignal.abort/timeout/any.
//
// AbortSignal.any() makes a dependent signal that follows the non-dependent sources only (a
// dependent source lends its own sources), so a chain of any() calls needs none of its middle
// links, and abort events fire in the order the standard gives: the signal, then its dependents
// in the order they were made. Links are weak both ways, as the standard asks, except that a
// source holds a dependent strongly while the dependent has abort listeners or algorithms: an
// `any()` result nobody references but whose listener waits must still fire.
import { load, reportError } from './shared.js'
import { internal, tag, illegal, isObject, enumerableMembers } from './util.js'
import {
  EventTarget,
  defineEventHandler,
  fireEvent,
  listenerCount,
  kListenersChanged,
  setSignalHooks,
} from './events.js'

const kSignal = internal('signal')
const kController = internal('controller')
let constructing = false

class SignalState {
  constructor() {
    this.aborted = false
    this.reason = undefined
    this.algorithms = new Set()
    /** Dependent signals (WeakRefs, in the order they were made). */
    this.dependents = new Set()
    /** The dependents that must stay alive: they have listeners or algorithms. */
    this.held = new Set()
    /** For a dependent signal: its sources (WeakRefs). */
    this.sources = null
    this.kept = false
  }
}

export class AbortSignal extends EventTarget {
  constructor() {
    if (!constructing) throw new TypeError('Illegal constructor')
    super()
    this[kSignal] = new SignalState()
  }

  get aborted() {
    return signalState(this).aborted
  }

  get reason() {
    return signalState(this).reason
  }

  throwIfAborted() {
    const s = signalState(this)
    if (s.aborted) throw s.reason
  }

  static abort(reason = undefined) {
    const signal = createSignal()
    const s = signal[kSignal]
    s.aborted = true
    s.reason = reason === undefined ? load('domexception').abortError() : reason
    return signal
  }

  static timeout(milliseconds) {
    const ms = Number(milliseconds)
    if (!Number.isFinite(ms) || ms < 0)
      throw new TypeError('The "milliseconds" argument must be a non-negative finite number')
    const signal = createSignal()
    const timeout = () => load('domexception').timeoutError('The operation was aborted due to timeout')
    load('timers').setTimeout(() => signalAbort(signal, timeout()), ms)
    return signal
  }

  static any(signals) {
    const list = sequenceOfSignals(signals)
    const result = createSignal()
    const r = result[kSignal]
    for (const source of list) {
      const s = source[kSignal]
      if (s.aborted) {
        r.aborted = true
        r.reason = s.reason
        return result
      }
    }
    // The non-dependent signals to follow, each once, in order.
    const roots = new Set()
    for (const source of list) {
      const s = source[kSignal]
      if (s.sources === null) roots.add(source)
      else for (const ref of s.sources) roots.add(ref.deref() ?? result)
    }
    roots.delete(result) // a source that is gone can no longer abort
    r.sources = []
    const ref = new WeakRef(result)
    for (const root of roots) {
      r.sources.push(new WeakRef(root))
      root[kSignal].dependents.add(ref)
    }
    result[kListenersChanged] = () => keepAlive(result)
    return result
  }
}
tag(AbortSignal, 'AbortSignal')
defineEventHandler(AbortSignal, 'abort')
enumerableMembers(AbortSignal)

/** `sequence<AbortSignal>` conversion: iterates the argument and checks every item. */
function sequenceOfSignals(value) {
  if (!isObject(value) || typeof value[Symbol.iterator] !== 'function') {
    throw new TypeError('AbortSignal.any() takes an iterable of AbortSignal')
  }
  const list = []
  for (const item of value) {
    if (!isSignal(item)) throw new TypeError('AbortSignal.any() takes an iterable of AbortSignal')
    list.push(item)
  }
  return list
}

export function isSignal(value) {
  return isObject(value) && value[kSignal] instanceof SignalState
}

function signalState(signal) {
  const s = isObject(signal) ? signal[kSignal] : undefined
  if (!s) throw illegal()
  return s
}

/** A dependent signal with listeners or algorithms is held by its sources; otherwise only weakly. */
function keepAlive(signal) {
  const s = signal[kSignal]
  const keep = !s.aborted && (s.algorithms.size > 0 || listenerCount(signal, 'abort') > 0)
  if (keep === s.kept || s.sources === null) return
  s.kept = keep
  for (const ref of s.sources) {
    const source = ref.deref()
    if (!source) continue
    if (keep) source[kSignal].held.add(signal)
    else source[kSignal].held.delete(signal)
  }
}

export function createSignal() {
  constructing = true
  try {
    return new AbortSignal()
  } finally {
    constructing = false
  }
}

/** A signal that aborts when `parent` does (a fresh, never-aborting one when there is none). */
export function followSignal(parent) {
  return parent ? AbortSignal.any([parent]) : createSignal()
}

/** Runs `fn` once when the signal aborts (its abort algorithms); returns a function that unregisters it. */
export function onAbort(signal, fn) {
  const s = signal[kSignal]
  s.algorithms.add(fn)
  if (s.sources !== null) keepAlive(signal)
  return () => {
    s.algorithms.delete(fn)
    if (s.sources !== null) keepAlive(signal)
  }
}
setSignalHooks(isSignal, onAbort)

/** The DOM's "signal abort": marks dependents, then runs the abort steps of each in order. */
export function signalAbort(signal, reason) {
  const s = signal[kSignal]
  if (s.aborted) return
  s.aborted = true
  s.reason = reason === undefined ? load('domexception').abortError() : reason
  const toAbort = []
  for (const ref of s.dependents) {
    const dep = ref.deref()
    if (dep && !dep[kSignal].aborted) {
      dep[kSignal].aborted = true
      dep[kSignal].reason = s.reason
      toAbort.push(dep)
    }
  }
  s.dependents.clear()
  s.held.clear()
  runAbortSteps(signal)
  for (const dep of toAbort) runAbortSteps(dep)
}

function runAbortSteps(signal) {
  const s = signal[kSignal]
  const algorithms = Array.from(s.algorithms)
  s.algorithms.clear()
  for (const fn of algorithms) {
    try {
      fn()
    } catch (err) {
      reportError(err)
    }
  }
  fireEvent(signal, 'abort')
  // Aborted: nothing holds it for its sources' sake any more.
  if (s.sources !== null) {
    keepAlive(signal)
    s.sources = []
  }
}

export class AbortController {
  constructor() {
    this[kController] = createSignal()
  }

  get signal() {
    return controllerSignal(this)
  }

  abort(reason = undefined) {
    signalAbort(controllerSignal(this), reason)
  }
}
tag(AbortController, 'AbortController')
enumerableMembers(AbortController)

function controllerSignal(controller) {
  const signal = isObject(controller) ? controller[kController] : undefined
  if (!signal) throw illegal()
  return signal
}
