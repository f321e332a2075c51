/** `import source from './x.js?guest'`: the guest bundle as a string (see build/guest-source.ts). */
declare module '*?guest' {
  const source: string
  export default source
}
