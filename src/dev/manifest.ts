/**
 * `fnbox.json`: the manifest of a folder of functions, read by `fnbox dev` and
 * {@link loadFunctions}. It names each function's entry file and the options `deploy` takes:
 *
 * ```json
 * {
 *   "functions": {
 *     "chat": {
 *       "entry": "functions/chat.ts",
 *       "limits": { "timeoutMs": 10000 },
 *       "secrets": ["OPENAI_API_KEY"],
 *       "allowedHosts": ["api.openai.com"]
 *     }
 *   }
 * }
 * ```
 *
 * Validated by hand, in two layers, rather than with a schema library (zod, ajv): this file checks
 * the manifest's own shape (known keys, an entry per function, the bundler's options), and the
 * values of deploy options are checked by `deploy` itself, whose errors are renamed to the
 * manifest's field (`options.limits.timeoutMs` becomes `functions.chat.limits.timeoutMs`). A
 * schema would restate every range of limits, pools, breakers and quotas, and drift from the
 * runtime's own checks, which depend on the runtime's options anyway (upstream names, defaults
 * `pool.min` is compared with).
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import type { BundleOptions } from '../bundle/bundle.js'
import { FnboxError, invalidOption, isFnboxError } from '../errors.js'
import { checkFunctionName } from '../options.js'
import { DEPLOY_KEYS } from '../runtime/deploy-options.js'

/** The manifest's file name in a functions folder. */
export const MANIFEST_FILE = 'fnbox.json'

/** Keys of a function's entry handled by the loader itself; the others are passed to `deploy`. */
const OWN_KEYS = ['entry', 'bundle']
/**
 * Deploy options of the design that this version of the runtime may not take yet. They are passed
 * to `deploy` too, so they work as soon as it takes them; until then its refusal is reported as
 * "not supported yet", naming the field.
 */
const LATER_KEYS = ['routes']
/** What `deploy` takes, but the code itself: the manifest names an entry, bundled with its map. */
// Computed when first needed: the runtime imports this module (runtime.load), and in the CommonJS
// build a module-level read of DEPLOY_KEYS ran before the runtime's modules had defined it.
const functionKeys = (): readonly string[] => [
  ...new Set([...DEPLOY_KEYS.filter((k) => k !== 'code' && k !== 'sourceMap' && k !== 'inputs'), ...LATER_KEYS]),
]
const BUNDLE_KEYS = ['minify', 'define', 'external']
const TOP_KEYS = ['$schema', 'functions']

/** One function of a manifest. */
export interface ManifestFunction {
  name: string
  /** The entry file, absolute. */
  entry: string
  /** The bundler's options (`cwd` is the manifest's folder). */
  bundle: BundleOptions
  /** Everything else: passed to `deploy` with the bundled code. */
  deploy: Record<string, unknown>
  /** The entry as written, for comparing two readings of the manifest. */
  spec: string
}

/** A validated manifest. */
export interface Manifest {
  /** The manifest file, absolute. */
  file: string
  /** Its folder: entries, bundling and watching start there. */
  dir: string
  /** In the manifest's order. */
  functions: ManifestFunction[]
}

/**
 * Reads and checks `<dir>/fnbox.json`. Entries must exist; deploy options are checked later, by
 * `deploy` (see {@link deployError}).
 *
 * @throws FnboxError `ERR_NOT_FOUND` when there is no manifest; `ERR_INVALID_OPTION` naming the
 * field (`fnbox.json: functions.chat.entry must be ...`).
 */
export async function readManifest(dir: string, fileName = MANIFEST_FILE): Promise<Manifest> {
  const file = resolve(dir, fileName)
  const shown = displayPath(file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    throw new FnboxError(
      'ERR_NOT_FOUND',
      `${shown} not found: it names each function, e.g. {"functions": {"hello": {"entry": "functions/hello.ts"}}}`,
      { details: { file } },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new FnboxError(
      'ERR_INVALID_OPTION',
      `${shown}${jsonErrorPlace(err, text)}: not valid JSON (${(err as Error).message})`,
      {
        details: { file },
      },
    )
  }
  const fail = (err: unknown): never => {
    throw inManifest(err, file)
  }
  const top = objectAt(json, '(the top level)', fail)
  unknownKeys(top, '', TOP_KEYS, fail)
  const functions = objectAt(top.functions, 'functions', fail)
  const out: ManifestFunction[] = []
  for (const [name, value] of Object.entries(functions)) {
    try {
      checkFunctionName(name)
    } catch {
      fail(
        invalidOption(
          `functions[${JSON.stringify(name)}]`,
          'named with letters, digits, "_" or "-" (1-64 chars, starting with a letter or digit)',
          name,
        ),
      )
    }
    const path = `functions.${name}`
    const spec = objectAt(value, path, fail)
    unknownKeys(spec, `${path}.`, functionKeys(), fail)
    if (typeof spec.entry !== 'string' || spec.entry === '') {
      fail(invalidOption(`${path}.entry`, 'the path of the function file (TypeScript or JavaScript)', spec.entry))
    }
    const entry = resolve(dirname(file), spec.entry as string)
    const isFile = await stat(entry).then(
      (s) => s.isFile(),
      () => false,
    )
    if (!isFile) fail(invalidOption(`${path}.entry`, `a file (there is none at ${displayPath(entry)})`, spec.entry))
    const deploy: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(spec)) if (!OWN_KEYS.includes(key)) deploy[key] = v
    out.push({
      name,
      entry,
      bundle: { cwd: dirname(file), ...bundleOptions(spec.bundle, `${path}.bundle`, fail) },
      deploy,
      spec: JSON.stringify(spec),
    })
  }
  return { file, dir: dirname(file), functions: out }
}

function bundleOptions(value: unknown, path: string, fail: (err: unknown) => never): BundleOptions {
  if (value === undefined) return {}
  const given = objectAt(value, path, fail)
  unknownKeys(given, `${path}.`, BUNDLE_KEYS, fail)
  const out: BundleOptions = {}
  if (given.minify !== undefined) {
    if (typeof given.minify !== 'boolean') fail(invalidOption(`${path}.minify`, 'true or false', given.minify))
    out.minify = given.minify as boolean
  }
  if (given.define !== undefined) {
    const define = objectAt(given.define, `${path}.define`, fail)
    for (const [k, v] of Object.entries(define)) {
      if (typeof v !== 'string')
        fail(invalidOption(`${path}.define.${k}`, 'a string of JavaScript (e.g. "\\"production\\"")', v))
    }
    out.define = define as Record<string, string>
  }
  if (given.external !== undefined) {
    const external = given.external
    if (!Array.isArray(external)) fail(invalidOption(`${path}.external`, 'an array of module names', external))
    ;(external as unknown[]).forEach((v, i) => {
      if (typeof v !== 'string' || v === '') fail(invalidOption(`${path}.external[${i}]`, 'a module name', v))
    })
    out.external = external as string[]
  }
  return out
}

function objectAt(value: unknown, path: string, fail: (err: unknown) => never): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(invalidOption(path, 'an object', value))
  return value as Record<string, unknown>
}

function unknownKeys(
  value: Record<string, unknown>,
  prefix: string,
  allowed: readonly string[],
  fail: (err: unknown) => never,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(invalidOption(`${prefix}${key}`, `a known key: one of ${allowed.join(', ')}`, key))
  }
}

/**
 * A `deploy` error of a manifest's function, renamed to the manifest's field:
 * `options.limits.timeoutMs must be ...` becomes `fnbox.json: functions.chat.limits.timeoutMs
 * must be ...`, and a key `deploy` does not take yet (`routes`) says so.
 * Other errors stay as they are (they name the function already).
 */
export function deployError(err: unknown, fn: ManifestFunction, file: string): unknown {
  if (!isFnboxError(err)) return err
  const option = err.details.option
  if (err.code === 'ERR_INVALID_OPTION' && typeof option === 'string' && option.startsWith('options.')) {
    const key = option.slice('options.'.length)
    if (LATER_KEYS.includes(key) && / must be one of /.test(err.message)) {
      return new FnboxError(
        'ERR_INVALID_OPTION',
        `${displayPath(file)}: functions.${fn.name}.${key} is not supported yet by this version of fnbox (remove it to deploy the function)`,
        { cause: err, details: { option: `functions.${fn.name}.${key}`, file } },
      )
    }
    const renamed = new FnboxError('ERR_INVALID_OPTION', err.message.replace(/\boptions\./g, `functions.${fn.name}.`), {
      cause: err,
      details: { ...err.details, option: `functions.${fn.name}.${key}` },
    })
    return inManifest(renamed, file)
  }
  return err
}

/** An `ERR_INVALID_OPTION` about a manifest field, with the file in front. */
function inManifest(err: unknown, file: string): unknown {
  if (!isFnboxError(err, 'ERR_INVALID_OPTION')) return err
  return new FnboxError('ERR_INVALID_OPTION', `${displayPath(file)}: ${err.message}`, {
    cause: err.cause,
    details: { ...err.details, file },
  })
}

/** `:line:col` of a JSON.parse error's position, when its message has one. */
function jsonErrorPlace(err: unknown, text: string): string {
  const at = /at position (\d+)/.exec((err as Error).message)
  if (!at) return ''
  const before = text.slice(0, Number(at[1]))
  const line = before.split('\n').length
  return `:${line}:${before.length - before.lastIndexOf('\n')}`
}

/** A path as the user should read it: relative to the working folder when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? file : rel
}
