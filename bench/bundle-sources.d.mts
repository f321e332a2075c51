/** See bundle-sources.mjs. */
export function bundleSources(options: { name: string; entry?: string; contents?: string }): Promise<string>
