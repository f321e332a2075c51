// fetch(): the request (body read fully) goes to the host through native.fetchStart; the response
// body is pulled with native.bodyRead. Aborting the signal aborts both. data: URLs are answered in
// the guest (data-url.js).
import { native, load } from './shared.js'
import { consumeBody } from './body.js'
import { Request, requestParts, requestSignal } from './request.js'
import { fetchedResponse, localResponse } from './response.js'
import { processDataUrl } from './data-url.js'
import { headerPairs } from './headers.js'
import { exactBuffer } from './util.js'

let nextFetchId = 1

export async function fetch(input, init = undefined) {
  const request = new Request(input, init)
  const state = requestParts(request)
  const signal = requestSignal(state)
  if (signal.aborted) throw signal.reason
  // data: URLs are answered here: nothing leaves the guest for them.
  if (state.url.startsWith('data:')) {
    const href = state.url.split('#')[0]
    const data = processDataUrl(href)
    if (data === null) throw new TypeError('fetch failed: invalid data: URL')
    return localResponse(href, data.type, data.body)
  }
  const bytes = state.body.present ? await consumeBody(state.body, signal) : undefined
  if (signal.aborted) throw signal.reason
  const meta = {
    fetchId: nextFetchId++,
    method: state.method,
    url: state.url,
    headers: headerPairs(state.headers),
    redirect: state.redirect,
  }
  return new Promise((resolve, reject) => {
    let settled = false
    const stop = load('events').onAbort(signal, () => {
      if (settled) return
      settled = true
      native.fetchAbort(meta.fetchId)
      reject(signal.reason)
    })
    native.fetchStart(JSON.stringify(meta), bytes ? exactBuffer(bytes) : undefined).then(
      (json) => {
        const res = JSON.parse(json)
        if (settled) {
          if (res.bodyId !== null) native.bodyCancel(res.bodyId)
          return
        }
        settled = true
        stop()
        resolve(fetchedResponse(res, signal))
      },
      (err) => {
        if (settled) return
        settled = true
        stop()
        reject(err instanceof TypeError ? err : new TypeError('fetch failed', { cause: err }))
      },
    )
  })
}
