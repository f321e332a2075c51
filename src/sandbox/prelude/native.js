// The host's natives (see bridge-types.ts), captured before any guest code runs and removed from
// the global so only the prelude can reach them. Imported first by every module that needs them.
export const native = globalThis.__fnbox_native
delete globalThis.__fnbox_native
