/**
 * The options of `Runtime.deploy`: their public type, and their resolution into one version's
 * settings and its content hash (the same code and settings give the same version).
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { FnboxError, invalidOption } from '../errors.js'
import { checkScope, DEFAULT_SCOPE } from '../host/domains/clients.js'
import { parseAllowedHosts } from '../host/net/index.js'
import { bundle, type BundleOptions } from '../bundle/bundle.js'
import { StackMapper } from '../bundle/source-map.js'
import {
  checkFunctionName,
  checkKeys,
  MAX_CODE_BYTES,
  resolveHosts,
  resolveLimits,
  resolvePool,
  type Limits,
  type PoolOptions,
} from '../options.js'
import { resolveCallRetry, type CallRetryOptions, type ResolvedCallRetry } from '../reliability/backoff.js'
import { resolveBreaker, type BreakerOptions, type ResolvedBreakerOptions } from '../reliability/breaker.js'
import { resolveQuota, type QuotaOptions, type ResolvedQuota } from '../reliability/quota.js'
import { resolvePriority, type Priority } from '../reliability/shedding.js'
import { resolveUpstreamGrants } from '../reliability/upstreams.js'
import type { ResolvedRuntimeOptions } from './runtime-options.js'
import {
  resolveBackgroundSpec,
  specForHash,
  type BackgroundSpec,
  type CronOptions,
  type JobHandlerOptions,
} from '../triggers/jobs/background-options.js'

/**
 * Options of {@link Runtime.deploy}.
 *
 * @public
 */
export interface DeployOptions {
  /**
   * The function: an ES module (`export default { fetch }`, `export function GET`, named exports).
   * Give either `code` or `entry`.
   */
  code?: string
  /**
   * A TypeScript or JavaScript entry file with npm dependencies, bundled into `code` (with its
   * source map) by {@link bundle} at deploy. `bundle` passes options on.
   */
  entry?: string
  /** Options of the bundler when `entry` is given (`cwd`, `minify`, ...). */
  bundle?: BundleOptions
  /**
   * The source map of `code` (JSON): guest stack traces in errors (`details.stack`) and
   * `invoke` events are mapped through it to the original files. Filled in for `entry`.
   */
  sourceMap?: string
  /**
   * The files the bundle was made of, as {@link bundle} returns them. Not used by the deploy:
   * accepted so that `bundle()`'s result deploys as it is, `deploy(name, await bundle(entry))`
   * or `{ ...(await bundle(entry)), allowedHosts }`.
   */
  inputs?: Readonly<Record<string, number>>
  /** Overrides of the runtime's limits for this function. */
  limits?: Partial<Limits>
  /** Overrides of the runtime's pool options for this function. */
  pool?: Partial<PoolOptions>
  /**
   * Destinations this function may fetch, in addition to the runtime's `allowedHosts`. Giving
   * either list limits the function's egress to the two together (plus its granted upstreams);
   * `[]` with no runtime list allows no destination but its upstreams. See
   * {@link RuntimeOptions.allowedHosts} for the entries.
   */
  allowedHosts?: string[]
  /** File name shown in guest stack traces. Default `<name>.js`. */
  filename?: string
  /**
   * The data scope of the function's kv, vector and files: functions in one scope share data,
   * other scopes are invisible to them. Default `'default'` (the scope of `runtime.kv`).
   */
  scope?: string
  /**
   * Names of the secrets the function may read with `secrets.get`. Their values are redacted
   * from its errors and logs (verbatim and common encodings; see the README's Secrets section).
   */
  secrets?: string[]
  /** Overrides of the runtime's breaker for this function, or `false` for none. */
  breaker?: BreakerOptions | false
  /** Overrides of the runtime's quota for this function. */
  quota?: QuotaOptions
  /** Which functions are refused first when the host is overloaded. Default `'normal'`. */
  priority?: Priority
  /**
   * Declared upstreams (`createRuntime({ upstreams })`) whose credentials the host adds to this
   * function's requests; their origins may be fetched even when private.
   */
  upstreams?: string[]
  /** Retries of `runtime.call` of this function (its exports must be idempotent), or `false`. */
  retry?: CallRetryOptions | false
  /**
   * Tasks this function runs: `{ resize: 'resize' }` runs each job of task `resize` as
   * `resize(payload, ctx)` (`ctx.job`: id, task, attempt, maxAttempts, scheduledTime), under
   * `limits.jobTimeoutMs`. One function per task name.
   */
  jobs?: Record<string, string | JobHandlerOptions>
  /** Cron schedules: each slot runs `export({ scheduledTime })` once across every host of the database. */
  cron?: CronOptions[]
  /** Events this function subscribes to (`runtime.hooks`): `{ 'order.created': 'onOrder' }`. */
  hooks?: Record<string, string>
}

/** What {@link Runtime.deploy} returns. @public */
export interface Deployment {
  name: string
  /** Content hash of the code and its settings: the same input gives the same version. */
  version: string
}

/** @internal Also the keys of a function in fnbox.json (src/dev/manifest.ts). */
export const DEPLOY_KEYS = [
  'code',
  'entry',
  'bundle',
  'sourceMap',
  'inputs',
  'limits',
  'pool',
  'allowedHosts',
  'filename',
  'scope',
  'secrets',
  'breaker',
  'quota',
  'priority',
  'upstreams',
  'retry',
  'jobs',
  'cron',
  'hooks',
] as const
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** One deploy's settings, checked and filled, with its version. @internal */
export interface ResolvedDeploy {
  name: string
  version: string
  code: string
  filename: string
  limits: Limits
  pool: PoolOptions
  /** The destinations it may fetch (`['*']`: any public one). */
  hosts: string[]
  /** Host:ports of its granted upstreams: reachable even when private. */
  vouched: string[]
  /** True when an allow-list (the runtime's or its own) limits its egress. */
  restricted: boolean
  scope: string
  /** Names of the secrets granted. */
  grants: string[]
  breaker: ResolvedBreakerOptions | undefined
  quota: ResolvedQuota
  priority: Priority
  upstreams: string[]
  retry: ResolvedCallRetry | undefined
  stacks: StackMapper | undefined
  /** Its jobs, cron schedules and hook subscriptions; undefined when it declares none. */
  background: BackgroundSpec | undefined
}

/**
 * Checks a deploy's options against the runtime's defaults (bundling `entry` first), and hashes
 * the code with its settings into the version. Throws `ERR_INVALID_OPTION` naming the option.
 *
 * @internal
 */
export async function resolveDeploy(
  name: string,
  options: DeployOptions,
  defaults: ResolvedRuntimeOptions,
): Promise<ResolvedDeploy> {
  checkFunctionName(name)
  const opts = checkKeys(options, 'options', DEPLOY_KEYS)
  let code = opts.code
  let sourceMap = opts.sourceMap
  if (opts.entry !== undefined) {
    if (code !== undefined) throw invalidOption('options.code', 'absent when options.entry is given', code)
    if (typeof opts.entry !== 'string' || opts.entry.length === 0) {
      throw invalidOption('options.entry', 'a path to the function entry file', opts.entry)
    }
    if (opts.bundle !== undefined && (typeof opts.bundle !== 'object' || opts.bundle === null)) {
      throw invalidOption('options.bundle', 'an object of bundle options', opts.bundle)
    }
    const bundled = await bundle(opts.entry, opts.bundle as BundleOptions | undefined)
    code = bundled.code
    sourceMap ??= bundled.sourceMap
  }
  if (typeof code !== 'string' || code.length === 0) throw invalidOption('options.code', 'a non-empty string', code)
  if (opts.inputs !== undefined && (typeof opts.inputs !== 'object' || opts.inputs === null)) {
    throw invalidOption('options.inputs', "an object (bundle()'s inputs)", opts.inputs)
  }
  if (sourceMap !== undefined && typeof sourceMap !== 'string') {
    throw invalidOption('options.sourceMap', 'a source map (JSON string)', sourceMap)
  }
  const codeBytes = Buffer.byteLength(code)
  if (codeBytes > MAX_CODE_BYTES) {
    throw new FnboxError('ERR_INVALID_OPTION', `options.code is ${codeBytes} bytes; the limit is ${MAX_CODE_BYTES}`, {
      details: { option: 'options.code', limit: MAX_CODE_BYTES, value: codeBytes },
    })
  }
  const limits = resolveLimits(opts.limits, 'options.limits', defaults.limits)
  const pool = resolvePool(opts.pool, 'options.pool', defaults.pool)
  const ownHosts = resolveHosts(opts.allowedHosts, 'options.allowedHosts')
  parseAllowedHosts(ownHosts, 'options.allowedHosts') // validates, naming the index in this list
  // Either list given limits egress to both together; with neither, any public destination.
  const restricted = defaults.allowedHosts !== undefined || opts.allowedHosts !== undefined
  const hosts = restricted ? [...(defaults.allowedHosts ?? []), ...ownHosts] : ['*']
  if (opts.filename !== undefined && typeof opts.filename !== 'string') {
    throw invalidOption('options.filename', 'a string', opts.filename)
  }
  const filename = (opts.filename as string | undefined) ?? `${name}.js`
  let stacks: StackMapper | undefined
  try {
    stacks = sourceMap ? new StackMapper(sourceMap, filename) : undefined
  } catch (err) {
    throw invalidOption('options.sourceMap', `a source map (${(err as Error).message})`, sourceMap?.slice(0, 40))
  }
  const scope = opts.scope === undefined ? DEFAULT_SCOPE : checkScope(opts.scope, 'options.scope')
  const grants = resolveGrants(opts.secrets)
  const breaker = resolveBreaker(opts.breaker, 'options.breaker', defaults.breaker)
  const quota = resolveQuota(opts.quota, 'options.quota', defaults.quota)
  const priority = resolvePriority(opts.priority, 'options.priority', 'normal')
  const upstreams = resolveUpstreamGrants(opts.upstreams, defaults.upstreams)
  const retry = resolveCallRetry(opts.retry, 'options.retry', defaults.retry)
  const background = resolveBackgroundSpec(opts)
  // A granted upstream's origin is vouched for by the host: reachable, even when private.
  const vouched = upstreams.map((u) => defaults.upstreams.get(u)!.hostPort)
  const policies = {
    breaker: breaker ?? false,
    quota,
    priority,
    upstreams,
    retry: retry && { ...retry, on: [...retry.on] },
  }
  const version = createHash('sha256')
    .update(code)
    .update('\0')
    .update(
      JSON.stringify({
        limits,
        pool,
        hosts,
        vouched,
        filename,
        scope,
        grants,
        ...policies,
        background: specForHash(background),
      }),
    )
    .digest('hex')
    .slice(0, 16)
  return {
    name,
    version,
    code,
    filename,
    limits,
    pool,
    hosts,
    vouched,
    restricted,
    scope,
    grants,
    breaker,
    quota,
    priority,
    upstreams,
    retry,
    stacks,
    background,
  }
}

function resolveGrants(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalidOption('options.secrets', 'an array of secret names', value)
  for (const [i, name] of value.entries()) {
    if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
      throw invalidOption(
        `options.secrets[${i}]`,
        'a secret name (letters, digits and _, not starting with a digit)',
        name,
      )
    }
  }
  return [...new Set(value as string[])].sort()
}
