/** `import source from './x.js?guest'`: the guest bundle as a string (see build/guest-source.ts). */
declare module '*?guest' {
  const source: string
  export default source
}

/**
 * `import chunks from './dir?guest-chunks'`: `{ [name]: source }` for each `dir/<name>.js`, bundled
 * as a prelude chunk (see build/guest-source.ts).
 */
declare module '*?guest-chunks' {
  const chunks: Readonly<Record<string, string>>
  export default chunks
}
