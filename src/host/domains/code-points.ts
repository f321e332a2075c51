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
