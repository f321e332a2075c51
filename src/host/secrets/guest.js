// The secrets domain's guest client: `secrets` of `fnbox:host`. Synchronous: the values granted
// to the function reach the sandbox with the invocation (`native.secretGet`), not per call. Runs
// inside the sandbox, bundled into the prelude's `host` chunk.
export default function secretsClient({ native }) {
  return Object.freeze({
    /** The secret's value if it was granted to this function (deploy option `secrets`), else undefined. */
    get: (name) => {
      if (typeof name !== 'string') throw new TypeError('secrets.get takes a secret name')
      return native.secretGet(name)
    },
  })
}
