// Ambient types of the `fnbox:host` virtual module, referenced by guest.d.ts (a script file:
// in a module file this would be an augmentation of a module that does not exist).

/**
 * The host SDK, imported by functions: `import { utils } from 'fnbox:host'`. It grows with the
 * host's data domains (kv, vector, files, jobs, secrets, tx).
 */
declare module 'fnbox:host' {
  /** Small helpers computed by the host. */
  export interface FnboxUtils {
    /** A UUID v7: time-ordered (48-bit Unix milliseconds first), the rest random. */
    uuid(): string
    /**
     * Hex digest of a string (as UTF-8) or bytes.
     * @param algorithm - `'sha256'` (default), `'sha384'`, `'sha512'`, `'sha1'` or `'md5'`.
     */
    hash(
      data: string | ArrayBuffer | ArrayBufferView,
      algorithm?: 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5',
    ): string
  }
  export const utils: FnboxUtils
  const host: { readonly utils: FnboxUtils }
  export default host
}
