/**
 * Redaction of secret values from what a function's errors and logs show the host. It runs at
 * one place: where the function's text leaves its executor thread (`pool/executor.ts`), so every
 * later path (errors thrown to callers, `invoke` and `log` events, HTTP answers, deploy errors,
 * source-mapped stacks) sees redacted text only.
 *
 * What it finds, for each value granted to the function since its deploy (a rotated-out value
 * stays secret): the value itself, anywhere in any string; and for values of 8 characters or
 * more, the forms a secret takes when code prints it without meaning to: JSON-escaped (a
 * serialised object holding it), escaped in a string literal (an object printed by `console.log`), percent-encoded (a URL
 * or a form body), base64 and base64url at
 * any alignment (an `Authorization: Basic` header of `user:secret`, a token inside a JWT), and
 * hex. What it cannot find: a value the guest splits (across two log arguments, or one character
 * per line), reverses, encrypts, hashes or encodes some other way, and part of a value (a
 * prefix an error message cut short). A guest meaning to leak a secret can, and can also send it
 * out with `fetch` or in its response; redaction stops accidents. Credential injection (declared
 * upstreams: the host adds the key, the guest never holds it) is the guard against a hostile guest.
 *
 * @internal
 * @module
 */

const MARK = '[redacted]'
/** Shorter values are redacted verbatim only: their encoded forms are too short to be telling. */
const MIN_DERIVED_LENGTH = 8

/** The secret values of one function version and the forms it looks for (see the module doc). */
export class SecretRedactor {
  readonly #values = new Set<string>()
  /** Every form to replace, longest first (a form containing another is replaced whole). */
  #forms: string[] = []

  constructor(values: Iterable<string> = []) {
    this.add(values)
  }

  /** Adds values (a secret's new value after a rotation); values already known are kept. */
  add(values: Iterable<string>): void {
    let added = false
    for (const value of values) {
      if (value.length === 0 || this.#values.has(value)) continue
      this.#values.add(value)
      added = true
    }
    if (!added) return
    const forms = new Set<string>()
    for (const value of this.#values) for (const form of formsOf(value)) forms.add(form)
    this.#forms = [...forms].sort((a, b) => b.length - a.length)
  }

  get empty(): boolean {
    return this.#forms.length === 0
  }

  /** `text` with every form of every value replaced by `[redacted]`. */
  redact(text: string): string {
    let out = text
    for (const form of this.#forms) if (out.includes(form)) out = out.split(form).join(MARK)
    return out
  }

  /**
   * `value` with every string in it redacted: object values and array items at any depth (keys
   * are left: they name fields). Returns `value` itself when nothing changed; other values
   * (numbers, buffers) as they are.
   */
  redactDeep<T>(value: T): T {
    return this.empty ? value : (this.#deep(value, 0) as T)
  }

  #deep(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.redact(value)
    if (typeof value !== 'object' || value === null || depth > 32) return value
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value
    if (Array.isArray(value)) {
      let changed = false
      const out = value.map((item) => {
        const next = this.#deep(item, depth + 1)
        changed ||= next !== item
        return next
      })
      return changed ? out : value
    }
    let changed = false
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const next = this.#deep(v, depth + 1)
      changed ||= next !== v
      out[k] = next
    }
    return changed ? out : value
  }
}

const QUOTES = ["'", '"', '`'] as const
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r' }

/**
 * `value` inside a JS string literal quoted with `q`, escaped as the guest's console prints
 * strings inside objects (`quote` in prelude/console.js) and as Node's inspector does.
 */
function literal(value: string, q: (typeof QUOTES)[number]): string {
  return value.replace(/[\\\x00-\x1f\x7f'"`]/g, (ch) => {
    if (ch === q) return '\\' + ch
    const named = ESCAPES[ch]
    if (named) return named
    return ch === "'" || ch === '"' || ch === '`'
      ? ch
      : '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()
  })
}

/** The forms of one secret value that redaction looks for. */
function formsOf(value: string): string[] {
  const forms = [value]
  if (value.length < MIN_DERIVED_LENGTH) return forms
  forms.push(JSON.stringify(value).slice(1, -1))
  for (const q of QUOTES) forms.push(literal(value, q))
  const uri = encodeURIComponent(value)
  forms.push(uri, uri.replaceAll('%20', '+'))
  const bytes = Buffer.from(value, 'utf8')
  forms.push(bytes.toString('hex'), bytes.toString('hex').toUpperCase())
  // Base64 of text that holds the value: the characters that depend only on its bytes, for each
  // of the three positions it can start at within a 3-byte group.
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64')
    const core = encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6))
    if (core.length < MIN_DERIVED_LENGTH) continue
    forms.push(core, core.replaceAll('+', '-').replaceAll('/', '_'))
  }
  return [...new Set(forms)]
}
