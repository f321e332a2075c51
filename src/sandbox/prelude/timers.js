// setTimeout and friends on host timers: native.setTimer(ms) arms one, the host calls
// entry.fireTimer(hostId) when it is due. Guest ids stay stable across interval re-arms.
import { native, shared, reportError } from './shared.js'

const timers = new Map() // guest id -> { callback, args, ms, repeat, hostId }
const byHost = new Map() // host id -> guest id
let nextId = 1
const then = shared.then
const resolved = shared.resolved

function delayOf(ms) {
  ms = Number(ms)
  return ms > 0 && ms <= 2147483647 ? ms : ms > 2147483647 ? 1 : 0
}

function arm(id, timer) {
  timer.hostId = native.setTimer(timer.ms)
  byHost.set(timer.hostId, id)
}

function add(callback, ms, args, repeat) {
  if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function')
  const id = nextId++
  const timer = { callback, args, ms: delayOf(ms), repeat, hostId: 0 }
  timers.set(id, timer)
  arm(id, timer)
  return id
}

export function setTimeout(callback, ms, ...args) {
  return add(callback, ms, args, false)
}

export function setInterval(callback, ms, ...args) {
  return add(callback, ms, args, true)
}

export function clearTimeout(id) {
  const timer = timers.get(Number(id))
  if (!timer) return
  timers.delete(Number(id))
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

/** Called by the host (through the entry) when host timer `hostId` is due. */
export function fireTimer(hostId) {
  const id = byHost.get(hostId)
  if (id === undefined) return
  byHost.delete(hostId)
  const timer = timers.get(id)
  if (!timer) return
  // Re-arm before running, so clearInterval inside the callback cancels the next run.
  if (timer.repeat) arm(id, timer)
  else timers.delete(id)
  try {
    timer.callback(...timer.args)
  } catch (err) {
    reportError(err)
  }
}
