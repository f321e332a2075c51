// What the stream modules share: intrinsics captured before guest code runs, microtasks, the bound
// on a chunk's nested way through pipes, and the brand of internal records.
export const { then } = Promise.prototype
export const noop = () => {}
export const resolvedUndefined = Promise.resolve()

export function microtask(fn) {
  then.call(resolvedUndefined, fn)
}

/**
 * Chunks cross pipes and fused chains in nested calls: a chunk written into a TransformStream can
 * come out and be written into the next one at once. Past MAX_DEPTH such deliveries on the stack,
 * the next waits for a microtask, so a long series of pipes cannot overflow QuickJS's stack.
 */
const MAX_DEPTH = 16
let depth = 0
export function nested(fn) {
  if (depth >= MAX_DEPTH) {
    microtask(fn)
    return
  }
  depth++
  try {
    fn()
  } finally {
    depth--
  }
}

/**
 * Makes a class's instances immune to what guest code defines on Object.prototype: with no
 * Object.prototype above them, `this.x = v` in their constructors creates the property instead of
 * calling a setter a guest patched in (the standard's streams hold their state in internal slots).
 */
export function record(cls) {
  Object.setPrototypeOf(cls.prototype, null)
  return cls
}

/** A promise with its settle functions, and whether it has settled (for "if pending"). */
export class Deferred {
  constructor() {
    this.settled = false
    this.promise = new Promise((resolve, reject) => {
      this.res = resolve
      this.rej = reject
    })
  }
  resolve(value) {
    this.settled = true
    this.res(value)
  }
  reject(err) {
    this.settled = true
    then.call(this.promise, undefined, noop)
    this.rej(err)
  }
}
record(Deferred)

export function settledDeferred(err, isError) {
  const d = new Deferred()
  if (isError) d.reject(err)
  else d.resolve(undefined)
  return d
}

/** Whether `value` is a thenable-looking object (a pull or start that returned a promise). */
export function isThenable(value) {
  return (typeof value === 'object' && value !== null) || typeof value === 'function'
}
