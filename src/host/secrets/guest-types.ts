/**
 * The secrets domain's guest declarations: its part of `declare module 'fnbox:host'` in `host.d.ts`,
 * which `npm run types` generates from the registry (a test fails when the two drift apart).
 *
 * @internal
 * @module
 */
export const SECRETS_GUEST_TYPES = `/** Secrets granted to this function at deploy (\`deploy(name, { secrets: [...] })\`). */
export interface FnboxSecrets {
  /** The value, or \`undefined\` if it is not granted or not set. Values are redacted from logs. */
  get(name: string): string | undefined
}
`
