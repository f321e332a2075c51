// The sandbox prelude: evaluated once per context, before the function's module, as one global
// script (bundled into an IIFE by build/guest-source.ts). It hides the natives, defines the web
// globals and leaves the GuestEntry on `globalThis.__fnbox_entry`, which the host reads and
// deletes right after evaluating this script (an IIFE bundle has no completion value to use).
import { native } from './native.js' // first: captures and deletes globalThis.__fnbox_native
import { defineGlobals } from './util.js'
import { DOMException } from './domexception.js'
import { Event, EventTarget, CustomEvent } from './events.js'
import { AbortController, AbortSignal } from './abort.js'
import { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask } from './timers.js'
import { console, reportError } from './console.js'
import { TextEncoder, TextDecoder, atob, btoa } from './encoding.js'
import { URL, URLSearchParams } from './url.js'
import { Headers } from './headers.js'
import { Request, Response } from './body.js'
import { fetch } from './fetch.js'
import { crypto, Crypto } from './crypto.js'
import { structuredClone } from './clone.js'
import { installStreamGlobals } from './streams.js'
import { entry } from './dispatch.js'

const start = native.now()
const timeOrigin = Date.now()
const performance = {
  timeOrigin,
  now: () => native.now() - start,
  toJSON: () => ({ timeOrigin }),
}

defineGlobals({
  self: globalThis,
  console,
  DOMException,
  Event,
  EventTarget,
  CustomEvent,
  AbortController,
  AbortSignal,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  queueMicrotask,
  reportError,
  TextEncoder,
  TextDecoder,
  atob,
  btoa,
  URL,
  URLSearchParams,
  Headers,
  Request,
  Response,
  fetch,
  crypto,
  Crypto,
  structuredClone,
  performance,
  navigator: { userAgent: 'fnbox' },
})
installStreamGlobals()

Object.defineProperty(globalThis, '__fnbox_entry', {
  value: entry,
  configurable: true,
  writable: true,
  enumerable: false,
})
