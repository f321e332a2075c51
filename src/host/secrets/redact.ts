/**
 * Redaction of secret values from what a function's logs and errors show the host. Verbatim
 * occurrences only: a guest that encodes a secret (base64, split across lines) can still print
 * it, which is why credential injection (the host adds the key, the guest never has it) is the
 * stronger guard.
 *
 * @internal
 * @module
 */

const MARK = '[redacted]'

/** `text` with every occurrence of a value of `secrets` replaced by `[redacted]`. */
export function redactSecrets(text: string, secrets: Readonly<Record<string, string>>): string {
  let out = text
  // Longest first, so a secret containing another is replaced whole.
  const values = Object.values(secrets)
    .filter((v) => v.length > 0)
    .sort((a, b) => b.length - a.length)
  for (const value of values) if (out.includes(value)) out = out.split(value).join(MARK)
  return out
}
