// The kv domain's guest client: `kv` of `fnbox:host`, and `t.kv` inside `tx` (then `tx` is the
// transaction's id). Runs inside the sandbox, bundled into the prelude's `host` chunk.
import { jsonArg } from '../guest-support.js'

export default function kvClient({ call, tx }) {
  return Object.freeze({
    /** The value, or undefined when the key is absent or expired (as on the host). */
    get: (key) => call('kv.get', { key, tx }),
    set: (key, value, options) => call('kv.set', { key, value: jsonArg(value, 'kv.set value'), options, tx }),
    delete: (key) => call('kv.delete', { key, tx }),
    list: (options) => call('kv.list', { options, tx }),
    incr: (key, by) => call('kv.incr', { key, by, tx }),
    /** `expected` undefined or null-ish absent: use `undefined` for "the key must not exist". */
    compareAndSet: (key, expected, value, options) =>
      call('kv.compareAndSet', { key, expected, value: jsonArg(value, 'kv.compareAndSet value'), options, tx }),
  })
}
