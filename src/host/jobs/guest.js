// The jobs domain's guest client: `jobs` of `fnbox:host`, and `t.jobs` inside `tx` (then `tx` is
// the transaction's id: the job commits with it, or not at all). Runs inside the sandbox, bundled
// into the prelude's `host` chunk.

export default function jobsClient({ call, tx }) {
  return Object.freeze({
    enqueue: (task, payload, options) => {
      const opts = options?.runAt instanceof Date ? { ...options, runAt: options.runAt.toISOString() } : options
      return call('jobs.enqueue', { task, payload: payload === undefined ? null : payload, options: opts, tx })
    },
  })
}
