/**
 * The one string order of every store: by Unicode code points, as Postgres' `COLLATE "C"` orders
 * UTF-8 bytes. JavaScript's `<` compares UTF-16 units instead, which puts astral characters
 * (U+10000 and above, emoji) before U+E000..U+FFFF. Memory stores sort and page with this, so
 * they list keys, files and index names in the order the SQL stores do.
 *
 * @internal
 * @module
 */

export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    // At the first differing unit, the code points starting there (or the low surrogates after
    // an equal high one) order the strings.
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!
  }
  return a.length - b.length
}

/**
 * The smallest string above every string that starts with `prefix` (code-point order), or
 * `undefined` if there is none. A list by prefix scans `key >= prefix and key < successor`: a range on
 * the primary key, where `LIKE` would need `%`, `_` and `\` escaped and might not use the index.
 */
export function successor(prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0)!)
  while (points.length > 0 && points[points.length - 1] === 0x10ffff) points.pop()
  if (points.length === 0) return undefined
  const last = points.pop()! + 1
  // Surrogate code points never occur in stored text: step over them.
  points.push(last === 0xd800 ? 0xe000 : last)
  return String.fromCodePoint(...points)
}
