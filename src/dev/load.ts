/**
 * Loading a folder of functions: its `fnbox.json` read and checked, each entry bundled with
 * {@link bundle} (its source map kept, so guest stacks point at the TypeScript), each function
 * deployed. `fnbox dev` uses the same steps one function at a time when a file changes.
 *
 * @module
 */
import { isAbsolute, relative, resolve } from 'node:path'
import { bundle, type BundleResult } from '../bundle/bundle.js'
import { FnboxError } from '../errors.js'
import type { DeployOptions, Deployment } from '../index.js'
import { deployError, readManifest, type Manifest, type ManifestFunction } from './manifest.js'

/**
 * What {@link loadFunctions} needs of a runtime: its `deploy`.
 *
 * @public
 */
export interface DeployTarget {
  deploy(name: string, options: DeployOptions): Promise<Deployment>
}

/**
 * A step of {@link loadFunctions}, for progress lines.
 *
 * @public
 */
export interface LoadProgress {
  phase: 'bundle' | 'deploy'
  /** The function's name in the manifest. */
  function: string
  /** Its entry file, absolute. */
  entry: string
}

/**
 * Options of {@link loadFunctions}.
 *
 * @public
 */
export interface LoadOptions {
  /** The manifest's file name in the folder. Default `fnbox.json`. */
  manifest?: string
  /** Called before each function is bundled and before it is deployed. */
  onProgress?: (step: LoadProgress) => void
  /** Stops loading before the next step (functions deployed by then stay deployed). */
  signal?: AbortSignal
}

/**
 * One function {@link loadFunctions} deployed.
 *
 * @public
 */
export interface LoadedFunction {
  name: string
  /** The deployed version (content hash of the bundle and its settings). */
  version: string
  /** The entry file, absolute. */
  entry: string
  /** The files bundled into it, absolute (what to watch for changes). */
  inputs: string[]
}

/**
 * What {@link loadFunctions} did.
 *
 * @public
 */
export interface LoadResult {
  /** The manifest file, absolute. */
  manifest: string
  /** In the manifest's order. */
  functions: LoadedFunction[]
}

/**
 * Deploys the functions a folder's `fnbox.json` names: each entry (TypeScript or JavaScript) is
 * bundled with its npm dependencies and source map, then deployed with the options the manifest
 * gives it (`limits`, `pool`, `secrets`, `allowedHosts`, `scope` and the other options of
 * `deploy`). Every entry is bundled before any function is deployed, so a syntax error anywhere
 * deploys nothing; a function that fails to deploy stops the loading (those deployed before it
 * stay deployed). Deploying the same folder again swaps changed functions to their new version
 * without dropping calls in flight, and leaves unchanged ones as they are.
 *
 * This is what `fnbox dev` serves (and what `runtime.load(dir)` will call).
 *
 * @throws FnboxError `ERR_NOT_FOUND` (no manifest), `ERR_INVALID_OPTION` naming the manifest's
 * field (`fnbox.json: functions.chat.limits.timeoutMs must be ...`), `ERR_DEPLOY_FAILED`
 * (a bundling error with file and line, or the function's top-level code threw).
 * @example
 * ```ts
 * // fnbox.json: {"functions": {"chat": {"entry": "functions/chat.ts", "limits": {"timeoutMs": 10000}}}}
 * const { functions } = await loadFunctions(runtime, './my-functions')
 * for (const f of functions) console.log(`${f.name}@${f.version}`)
 * ```
 * @public
 */
export async function loadFunctions(
  runtime: DeployTarget,
  dir: string,
  options: LoadOptions = {},
): Promise<LoadResult> {
  if (typeof dir !== 'string' || dir === '') {
    throw new FnboxError('ERR_INVALID_OPTION', 'dir must be the path of a folder with a fnbox.json', {
      details: { option: 'dir' },
    })
  }
  options.signal?.throwIfAborted()
  const manifest = await readManifest(dir, options.manifest)
  options.signal?.throwIfAborted()
  const bundled = await Promise.all(
    manifest.functions.map((fn) => {
      options.onProgress?.({ phase: 'bundle', function: fn.name, entry: fn.entry })
      return bundleFunction(fn)
    }),
  )
  const functions: LoadedFunction[] = []
  for (const [i, fn] of manifest.functions.entries()) {
    options.signal?.throwIfAborted()
    options.onProgress?.({ phase: 'deploy', function: fn.name, entry: fn.entry })
    const out = bundled[i]!
    const { version } = await deployFunction(runtime, manifest, fn, out)
    functions.push({ name: fn.name, version, entry: fn.entry, inputs: out.files })
  }
  return { manifest: manifest.file, functions }
}

/** A bundled function with its input files as absolute paths. */
export interface BundledFunction extends BundleResult {
  files: string[]
}

/** Bundles one function of a manifest (its source map kept for deploy). */
export async function bundleFunction(fn: ManifestFunction): Promise<BundledFunction> {
  const cwd = fn.bundle.cwd ?? process.cwd()
  // Relative to the manifest's folder: errors and stack traces then read `functions/chat.ts:5:11`.
  const rel = relative(cwd, fn.entry)
  const out = await bundle(rel.startsWith('..') || isAbsolute(rel) ? fn.entry : rel, fn.bundle)
  // esbuild names inputs relative to its working folder; virtual ones carry a namespace.
  const files = Object.keys(out.inputs)
    .filter((p) => !/^\(|^[a-z][\w-]*:/i.test(p))
    .map((p) => resolve(cwd, p))
  return { ...out, files }
}

/** Deploys one bundled function of a manifest, its errors naming the manifest's fields. */
export async function deployFunction(
  runtime: DeployTarget,
  manifest: Manifest,
  fn: ManifestFunction,
  bundled: BundleResult,
): Promise<Deployment> {
  try {
    return await runtime.deploy(fn.name, { ...fn.deploy, code: bundled.code, sourceMap: bundled.sourceMap })
  } catch (err) {
    throw deployError(err, fn, manifest.file)
  }
}
