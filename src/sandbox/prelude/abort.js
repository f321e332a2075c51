// AbortController and AbortSignal (DOM standard), with AbortSignal.abort/timeout/any.
import { load, reportError } from './shared.js'
import { internal, tag, illegal } from './util.js'
import { EventTarget, Event, defineEventHandler } from './events.js'

const kSignal = internal('signal')
const kController = internal('controller')
let constructing = false

export class AbortSignal extends EventTarget {
  constructor() {
    if (!constructing) throw new TypeError('Illegal constructor')
    super()
    // Dependents are held weakly: a long-lived signal must not keep every `any()` result alive.
    this[kSignal] = { aborted: false, reason: undefined, algorithms: new Set(), dependents: new Set() }
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

  static abort(reason) {
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
    const result = createSignal()
    const list = Array.from(signals)
    for (const source of list) {
      if (!(source instanceof AbortSignal)) throw new TypeError('AbortSignal.any() takes an iterable of AbortSignal')
    }
    for (const source of list) {
      const s = source[kSignal]
      if (s.aborted) {
        result[kSignal].aborted = true
        result[kSignal].reason = s.reason
        return result
      }
    }
    for (const source of list) source[kSignal].dependents.add(weak(result))
    return result
  }
}
tag(AbortSignal, 'AbortSignal')
defineEventHandler(AbortSignal, 'abort')

const weak = typeof WeakRef === 'function' ? (v) => new WeakRef(v) : (v) => ({ deref: () => v })

function signalState(signal) {
  const s = signal[kSignal]
  if (!s) throw illegal()
  return s
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

/** Runs `fn` once when the signal aborts; returns a function that unregisters it. */
export function onAbort(signal, fn) {
  const s = signal[kSignal]
  s.algorithms.add(fn)
  return () => s.algorithms.delete(fn)
}

/** The DOM's "signal abort": marks dependents first, then runs steps and fires `abort` events. */
export function signalAbort(signal, reason) {
  const s = signal[kSignal]
  if (s.aborted) return
  s.aborted = true
  s.reason = reason === undefined ? load('domexception').abortError() : reason
  const toAbort = []
  const collect = (sig) => {
    for (const ref of sig[kSignal].dependents) {
      const dep = ref.deref()
      if (dep && !dep[kSignal].aborted) {
        dep[kSignal].aborted = true
        dep[kSignal].reason = s.reason
        toAbort.push(dep)
        collect(dep)
      }
    }
    sig[kSignal].dependents.clear()
  }
  collect(signal)
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
  signal.dispatchEvent(new Event('abort'))
}

export class AbortController {
  constructor() {
    this[kController] = createSignal()
  }

  get signal() {
    const signal = this[kController]
    if (!signal) throw illegal()
    return signal
  }

  abort(reason) {
    signalAbort(this.signal, reason)
  }
}
tag(AbortController, 'AbortController')
