// The vector domain's guest client: `vector` of `fnbox:host`, and `t.vector` inside `tx` (then
// `tx` is the transaction's id). Runs inside the sandbox, bundled into the prelude's `host` chunk.

export default function vectorClient({ call, tx }) {
  return Object.freeze({
    upsert: (index, items) => call('vector.upsert', { index, items, tx }),
    query: (index, query) => call('vector.query', { index, query, tx }),
    get: (index, ids) => call('vector.get', { index, ids, tx }),
    delete: (index, ids) => call('vector.delete', { index, ids, tx }),
  })
}
