// setTimeout and friends (HTML "timers") on host timers: native.setTimer(ms) arms one, the host
// calls entry.fireTimer(hostId) when it is due. Host timers may fire late and out of order on a
// busy machine, so the guest keeps its own order: when one fires, every guest timer due by then
// runs, earliest due first (ties in the order they were set), as the standard orders them. Guest
// ids stay stable across interval re-arms.
import { native, shared, reportError } from './shared.js'

const timers = new Map() // guest id -> Timer
const byHost = new Map() // host id -> guest id
let nextId = 1
const then = shared.then
const resolved = shared.resolved
// Indirect eval: a string handler runs as a global script would.
const globalEval = eval

class Timer {
  constructor(handler, args, ms, repeat) {
    this.handler = handler
    this.args = args
    this.ms = ms
    this.repeat = repeat
    this.due = 0
    this.hostId = 0
  }
}
Object.setPrototypeOf(Timer.prototype, null)

// ---- due timers, earliest first: a binary heap of [due, id] --------------------------------

const heap = []

function before(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
}

function push(entry) {
  heap.push(entry)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (!before(heap[i], heap[parent])) break
    ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
    i = parent
  }
}

function pop() {
  const top = heap[0]
  const last = heap.pop()
  if (heap.length > 0) {
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && before(heap[l], heap[min])) min = l
      if (r < heap.length && before(heap[r], heap[min])) min = r
      if (min === i) break
      ;[heap[i], heap[min]] = [heap[min], heap[i]]
      i = min
    }
  }
  return top
}

// ---- the timers ---------------------------------------------------------------------------

/** The timeout as WebIDL's `long` converts it (ToInt32); negative means 0. */
function delayOf(timeout) {
  const ms = Number(timeout) | 0
  return ms > 0 ? ms : 0
}

function arm(id, timer) {
  timer.due = native.now() + timer.ms
  timer.hostId = native.setTimer(timer.ms)
  byHost.set(timer.hostId, id)
  push([timer.due, id])
}

function add(handler, timeout, args, repeat) {
  const id = nextId++
  const h = typeof handler === 'function' ? handler : String(handler)
  const timer = new Timer(h, args, delayOf(timeout), repeat)
  timers.set(id, timer)
  arm(id, timer)
  return id
}

export function setTimeout(handler, timeout = 0, ...args) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'setTimeout': 1 argument required")
  return add(handler, timeout, args, false)
}

export function setInterval(handler, timeout = 0, ...args) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'setInterval': 1 argument required")
  return add(handler, timeout, args, true)
}

export function clearTimeout(id = 0) {
  const key = Number(id) | 0
  const timer = timers.get(key)
  if (!timer) return
  timers.delete(key)
  byHost.delete(timer.hostId)
  native.clearTimer(timer.hostId)
}

export const clearInterval = clearTimeout

export function queueMicrotask(callback) {
  if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function')
  then.call(resolved, () => {
    try {
      callback()
    } catch (err) {
      reportError(err)
    }
  })
}

function run(id, timer) {
  // Re-arm before running, so clearInterval inside the callback cancels the next run.
  if (timer.repeat) arm(id, timer)
  else timers.delete(id)
  try {
    if (typeof timer.handler === 'function') timer.handler.apply(globalThis, timer.args)
    else globalEval(timer.handler)
  } catch (err) {
    reportError(err)
  }
}

/**
 * Called by the host (through the entry) when host timer `hostId` is due: runs it and every
 * other guest timer due by now, earliest first. A timer run ahead of its own host timer has that
 * host timer cleared.
 */
export function fireTimer(hostId) {
  const fired = byHost.get(hostId)
  if (fired === undefined) return
  byHost.delete(hostId)
  const firedTimer = timers.get(fired)
  if (firedTimer) firedTimer.hostId = 0
  const now = Math.max(native.now(), firedTimer ? firedTimer.due : 0)
  while (heap.length > 0 && heap[0][0] <= now) {
    const [due, id] = pop()
    const timer = timers.get(id)
    // A cleared timer, or an interval's earlier run, leaves a stale entry behind.
    if (!timer || timer.due !== due) continue
    if (timer.hostId !== 0) {
      byHost.delete(timer.hostId)
      native.clearTimer(timer.hostId)
      timer.hostId = 0
    }
    run(id, timer)
  }
}
