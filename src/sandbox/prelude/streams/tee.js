// ReadableStreamTee: two branches of one stream. Default streams tee as ReadableStreamDefaultTee,
// byte streams as ReadableByteStreamTee (a branch's BYOB read reads the source with a BYOB reader,
// so its bytes land in the branch reader's own buffer; the other branch gets a copy).
import { acquire, read, readInto, release, streamCancel, kState } from './readable-state.js'
import { microtask } from './helpers.js'
import { controllerError as defaultError, enqueueIfOpen, closeIfOpen } from './default-controller.js'
import {
  controllerError as byteError,
  controllerEnqueue as byteEnqueue,
  controllerClose as byteClose,
  respond,
  respondWithNewView,
  currentByobView,
  hasPendingPullIntos,
} from './byte-controller.js'

/** A promise and its resolve, for the branches' shared cancel result. */
function cancelDeferred() {
  let resolve
  const promise = new Promise((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/**
 * ReadableStreamDefaultTee. `create(pull, cancel)` makes a default branch stream over the
 * algorithms (supplied by readable.js, which owns the class).
 */
export function defaultTee(s, create) {
  const reader = acquire(s, null)
  let reading = false
  let readAgain = false
  let canceled1 = false
  let canceled2 = false
  let reason1
  let reason2
  let branch1
  let branch2
  const cancel = cancelDeferred()
  const request = {
    chunk(chunk) {
      // As the standard: the branches get the chunk in a microtask, after any error of the read.
      microtask(() => {
        readAgain = false
        if (!canceled1) enqueueIfOpen(branch1[kState].controller, chunk)
        if (!canceled2) enqueueIfOpen(branch2[kState].controller, chunk)
        reading = false
        if (readAgain) pull()
      })
    },
    close() {
      reading = false
      if (!canceled1) closeIfOpen(branch1[kState].controller)
      if (!canceled2) closeIfOpen(branch2[kState].controller)
      if (!canceled1 || !canceled2) cancel.resolve(undefined)
    },
    error() {
      reading = false
    },
  }
  const pull = () => {
    if (reading) {
      readAgain = true
      return
    }
    reading = true
    read(reader, request)
  }
  const cancelBoth = () => cancel.resolve(streamCancel(s, [reason1, reason2]))
  branch1 = create(pull, (reason) => {
    canceled1 = true
    reason1 = reason
    if (canceled2) cancelBoth()
    return cancel.promise
  })
  branch2 = create(pull, (reason) => {
    canceled2 = true
    reason2 = reason
    if (canceled1) cancelBoth()
    return cancel.promise
  })
  reader.onError = (err) => {
    defaultError(branch1[kState].controller, err)
    defaultError(branch2[kState].controller, err)
    if (!canceled1 || !canceled2) cancel.resolve(undefined)
  }
  return [branch1, branch2]
}

/** CloneAsUint8Array. */
function cloneAsUint8Array(view) {
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength))
}

/**
 * ReadableByteStreamTee. `create(pull, cancel)` makes a byte branch stream (high-water mark 0, no
 * auto-allocation).
 */
export function byteTee(s, create) {
  let reader = acquire(s, null, false)
  let reading = false
  let readAgainForBranch1 = false
  let readAgainForBranch2 = false
  let canceled1 = false
  let canceled2 = false
  let reason1
  let reason2
  let branch1
  let branch2
  const cancel = cancelDeferred()
  const controllerOf = (branch) => branch[kState].controller

  const forwardReaderError = (thisReader) => {
    thisReader.onError = (err) => {
      if (thisReader !== reader) return
      byteError(controllerOf(branch1), err)
      byteError(controllerOf(branch2), err)
      if (!canceled1 || !canceled2) cancel.resolve(undefined)
    }
  }
  const failBoth = (err) => {
    byteError(controllerOf(branch1), err)
    byteError(controllerOf(branch2), err)
    cancel.resolve(streamCancel(s, err))
  }
  const readAgain = () => {
    if (readAgainForBranch1) pull1()
    else if (readAgainForBranch2) pull2()
  }

  const pullWithDefaultReader = () => {
    if (reader.byob) {
      release(reader)
      reader = acquire(s, null, false)
      forwardReaderError(reader)
    }
    read(reader, {
      chunk(chunk) {
        microtask(() => {
          readAgainForBranch1 = false
          readAgainForBranch2 = false
          const chunk1 = chunk
          let chunk2 = chunk
          if (!canceled1 && !canceled2) {
            try {
              chunk2 = cloneAsUint8Array(chunk)
            } catch (err) {
              failBoth(err)
              return
            }
          }
          if (!canceled1) byteEnqueue(controllerOf(branch1), chunk1)
          if (!canceled2) byteEnqueue(controllerOf(branch2), chunk2)
          reading = false
          readAgain()
        })
      },
      close() {
        reading = false
        if (!canceled1) byteClose(controllerOf(branch1))
        if (!canceled2) byteClose(controllerOf(branch2))
        if (hasPendingPullIntos(controllerOf(branch1))) respond(controllerOf(branch1), 0)
        if (hasPendingPullIntos(controllerOf(branch2))) respond(controllerOf(branch2), 0)
        if (!canceled1 || !canceled2) cancel.resolve(undefined)
      },
      error() {
        reading = false
      },
    })
  }

  const pullWithByobReader = (view, forBranch2) => {
    if (!reader.byob) {
      release(reader)
      reader = acquire(s, null, true)
      forwardReaderError(reader)
    }
    const byobBranch = forBranch2 ? branch2 : branch1
    const otherBranch = forBranch2 ? branch1 : branch2
    readInto(reader, view, 1, {
      chunk(chunk) {
        microtask(() => {
          readAgainForBranch1 = false
          readAgainForBranch2 = false
          const byobCanceled = forBranch2 ? canceled2 : canceled1
          const otherCanceled = forBranch2 ? canceled1 : canceled2
          if (!otherCanceled) {
            let cloned
            try {
              cloned = cloneAsUint8Array(chunk)
            } catch (err) {
              failBoth(err)
              return
            }
            if (!byobCanceled) respondWithNewView(controllerOf(byobBranch), chunk)
            byteEnqueue(controllerOf(otherBranch), cloned)
          } else if (!byobCanceled) {
            respondWithNewView(controllerOf(byobBranch), chunk)
          }
          reading = false
          readAgain()
        })
      },
      close(chunk) {
        reading = false
        const byobCanceled = forBranch2 ? canceled2 : canceled1
        const otherCanceled = forBranch2 ? canceled1 : canceled2
        if (!byobCanceled) byteClose(controllerOf(byobBranch))
        if (!otherCanceled) byteClose(controllerOf(otherBranch))
        if (chunk !== undefined) {
          if (!byobCanceled) respondWithNewView(controllerOf(byobBranch), chunk)
          if (!otherCanceled && hasPendingPullIntos(controllerOf(otherBranch))) respond(controllerOf(otherBranch), 0)
        }
        if (!byobCanceled || !otherCanceled) cancel.resolve(undefined)
      },
      error() {
        reading = false
      },
    })
  }

  const pull1 = () => {
    if (reading) {
      readAgainForBranch1 = true
      return undefined
    }
    reading = true
    const view = currentByobView(controllerOf(branch1))
    if (view === null) pullWithDefaultReader()
    else pullWithByobReader(view, false)
    return undefined
  }
  const pull2 = () => {
    if (reading) {
      readAgainForBranch2 = true
      return undefined
    }
    reading = true
    const view = currentByobView(controllerOf(branch2))
    if (view === null) pullWithDefaultReader()
    else pullWithByobReader(view, true)
    return undefined
  }
  const cancelBoth = () => cancel.resolve(streamCancel(s, [reason1, reason2]))
  branch1 = create(pull1, (reason) => {
    canceled1 = true
    reason1 = reason
    if (canceled2) cancelBoth()
    return cancel.promise
  })
  branch2 = create(pull2, (reason) => {
    canceled2 = true
    reason2 = reason
    if (canceled1) cancelBoth()
    return cancel.promise
  })
  forwardReaderError(reader)
  return [branch1, branch2]
}
