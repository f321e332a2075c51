// @fnbox-guest-shared
// What the prelude chunks get from the core (index.js): its registry, handed to a chunk's function
// when the core loads it (the bundle wraps each chunk as `(function (__fnbox_shared) { ... })`, see
// build/guest-source.ts). Guest code never sees it. Only chunk code may import this module.
/* global __fnbox_shared */

export const shared = __fnbox_shared
/** The host's natives (see bridge-types.ts). */
export const native = shared.native
/** `load(name)`: the exports of chunk `name`, evaluating it on first use. */
export const load = shared.load
/** `peek(name)`: the exports of chunk `name` if it is loaded, else undefined (never loads). */
export const peek = shared.peek
/** `provide(name, exports)`: what a chunk's entry calls last, with what other chunks may use. */
export const provide = shared.provide

/** Reports an error nobody caught (timer callbacks, listeners, waitUntil) as console.error. */
export function reportError(err) {
  load('console').reportError(err)
}

export function domException(message, name) {
  const { DOMException } = load('domexception')
  return new DOMException(message, name)
}
