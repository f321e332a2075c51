/**
 * `fnbox dev`: a folder's functions served over HTTP on the embedded storage, rebuilt and
 * swapped when their files change.
 *
 * A change to a function's files bundles it again and deploys the new version; calls in flight
 * finish on the old one (deploy swaps versions without dropping them). A bundle or deploy that
 * fails is printed and the previous version keeps serving. A change to `fnbox.json` deploys new
 * and changed functions and removes dropped ones. Guest console output, failed calls (with their
 * stacks mapped to the TypeScript source) and one line per request are printed.
 *
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { basename, dirname, join } from 'node:path'
import { isFnboxError } from '../errors.js'
import { createRuntime, type Runtime, type RuntimeOptions, type StorageOption } from '../index.js'
import { bundleFunction, deployFunction, type BundledFunction } from './load.js'
import { displayPath, readManifest, type Manifest, type ManifestFunction } from './manifest.js'
import { SourceWatcher } from './watch.js'
import { makeDir } from '../storage/make-dir.js'

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** The folder holding `fnbox.json`. */
  dir: string
  /** Default 8787; 0 picks a free port. */
  port?: number
  /** Default `127.0.0.1` (this machine only). */
  host?: string
  /** Default `{ pglite: '<dir>/.fnbox/pglite' }`. */
  storage?: StorageOption
  /** Where lines go. */
  print: (line: string) => void
}

export interface DevServer {
  /** `http://host:port` */
  readonly url: string
  /** Stops watching, lets calls in flight finish (up to `timeoutMs`), closes everything. */
  close(timeoutMs?: number): Promise<void>
}

/** Whether a function may use data before it is bundled: its entry names fnbox:host, or it has secrets. */
async function mayUseData(functions: readonly ManifestFunction[]): Promise<boolean> {
  const texts = await Promise.all(functions.map((fn) => readFile(fn.entry, 'utf8').catch(() => '')))
  return functions.some((fn, i) => fn.deploy.secrets !== undefined || texts[i]!.includes('fnbox:host'))
}

/**
 * Opens the storage (any store call does; a read of an absent key changes nothing), saying what
 * it does first: a first start on this machine (no template of a migrated database yet) runs
 * initdb and the migrations, ~10-20 s that must not look like a hang.
 */
async function openStorage(runtime: Runtime, storage: Exclude<StorageOption, 'memory'>, print: (line: string) => void) {
  const started = Date.now()
  if ('pglite' in storage) {
    const { existsSync } = await import('node:fs')
    const { schemaTemplate } = await import('../storage/sql.js')
    const template = await schemaTemplate()
    if (existsSync(join(storage.pglite, 'PG_VERSION'))) print('starting the embedded database...')
    else if (template !== undefined && existsSync(template))
      print(`creating the embedded database in ${storage.pglite}...`)
    else print('creating the embedded database, the first time on this machine (initdb and the tables: 10-20 s)...')
  } else {
    print('connecting to Postgres...')
  }
  await runtime.kv.get('fnbox-dev:start')
  print(`database ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

/** The folder of the dev server's own data, inside the functions folder. */
const DATA_DIR = '.fnbox'
const MANIFEST_KEY = '\0manifest'

/**
 * Starts serving `options.dir`. Fails (before listening) when the manifest is missing or
 * invalid; a function that fails to bundle or deploy is printed and the others are served.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const print = options.print
  const manifest = await readManifest(options.dir)
  const dataDir = join(manifest.dir, DATA_DIR)
  const storage = options.storage ?? { pglite: join(dataDir, 'pglite') }
  const runtimeOptions: RuntimeOptions = { storage, files: storage === 'memory' ? 'memory' : join(dataDir, 'files') }
  const key = await secretsKey(storage, dataDir)
  if (key !== undefined) runtimeOptions.secrets = { key }
  const runtime = await createRuntime(runtimeOptions)
  const loop = new DevLoop(runtime, manifest, print)
  const mount = runtime.express()
  let url = ''
  // Listening starts before the database and the first deploys (so a port in use fails at once):
  // until they are done, a request is told to come back (503 with Retry-After), not that its
  // function does not exist (404).
  let starting = true
  const server = createServer((req, res) => {
    if (starting) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' })
      res.end('fnbox dev is starting (the database and the first bundles); try again in a moment\n')
      return
    }
    if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end(loop.index(url))
      return
    }
    void mount(req, res, () => undefined)
  })
  const host = options.host ?? '127.0.0.1'
  try {
    // First, so that a port in use fails at once, not after the database started.
    await listen(server, options.port ?? 8787, host)
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : options.port
    url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

    runtime.on('log', (e) => {
      // Structured lines (fields, an Error) print as the console would: fields' JSON, the mapped stack.
      const fields = e.fields ? ` ${JSON.stringify(e.fields)}` : ''
      const stack = e.err?.stack ? `\n${e.err.stack.replace(/\n$/, '')}` : ''
      print(`[${e.function}] ${e.level === 'log' ? '' : `${e.level}: `}${e.message}${fields}${stack}`)
    })
    runtime.on('invoke', (e) => {
      const what = e.kind === 'fetch' ? `${e.target} ${e.status ?? ''}` : `call ${e.target}`
      const took = `${Math.round(e.durationMs)} ms`
      if (e.error === undefined) return print(`[${e.function}] ${what} ${took}`)
      print(`[${e.function}] ${what} ${took} ${e.error}: ${e.errorMessage ?? ''}`)
      // The stack repeats the message on its first line; its frames point at the sources.
      const frames = (e.errorStack ?? '').split('\n').filter((l) => /^\s*at /.test(l))
      for (const frame of frames) print(`    ${frame.trim()}`)
    })

    // The database starts while the functions bundle when an entry names fnbox:host (or a
    // function has secrets): its start is most of a first start, and bundling needs no storage.
    let opening: Promise<void> | undefined
    const open = async (): Promise<void> => {
      if (storage === 'memory') return
      opening ??= openStorage(runtime, storage, print)
      await opening
    }
    if (await mayUseData(manifest.functions)) void open().catch(() => undefined) // awaited below
    const bundles = await loop.bundleAll(manifest.functions)
    const usesData =
      bundles.some((b) => b?.code.includes('fnbox:host')) || manifest.functions.some((f) => f.deploy.secrets)
    if (usesData || opening) await open()
    for (const [i, fn] of manifest.functions.entries()) {
      const bundled = bundles[i]
      if (bundled) await loop.deploy(fn, bundled)
    }
  } catch (err) {
    loop.close()
    server.close()
    await runtime.close()
    throw err
  }
  starting = false
  print(`listening on ${url}`)
  print(loop.index(url).trimEnd())
  loop.watch()

  let closing: Promise<void> | undefined
  return {
    url,
    close(timeoutMs = 5000) {
      closing ??= (async () => {
        loop.close()
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        // Calls in flight finish (up to the timeout); then connections still open are cut.
        await runtime.close({ timeoutMs })
        server.closeAllConnections()
        await closed
      })()
      return closing
    },
  }
}

/** The functions, their bundles and their watches; rebuilds on change, one build per function at a time. */
class DevLoop {
  readonly #runtime: Runtime
  readonly #print: (line: string) => void
  readonly #watcher: SourceWatcher
  #manifest: Manifest
  readonly #deployed = new Map<string, string>()
  readonly #building = new Map<string, Promise<void>>()
  readonly #again = new Set<string>()

  constructor(runtime: Runtime, manifest: Manifest, print: (line: string) => void) {
    this.#runtime = runtime
    this.#manifest = manifest
    this.#print = print
    this.#watcher = new SourceWatcher((key, file) => {
      if (key === MANIFEST_KEY) void this.#rebuild(key, () => this.#reloadManifest())
      else this.#changed(key, file)
    })
  }

  /** Bundles every function; a failed one is printed and watched for a fix (its slot is undefined). */
  async bundleAll(functions: ManifestFunction[]): Promise<(BundledFunction | undefined)[]> {
    return Promise.all(functions.map((fn) => this.#bundle(fn)))
  }

  async deploy(fn: ManifestFunction, bundled: BundledFunction): Promise<void> {
    const started = Date.now()
    try {
      await this.#grantSecrets(fn)
      const { version } = await deployFunction(this.#runtime, this.#manifest, fn, bundled)
      const previous = this.#deployed.get(fn.name)
      this.#deployed.set(fn.name, version)
      if (previous === version) return this.#print(`${fn.name}: unchanged`)
      const verb = previous === undefined ? 'deployed' : 'redeployed'
      this.#print(`${verb} ${fn.name}@${version.slice(0, 8)} (${Date.now() - started} ms)`)
    } catch (err) {
      this.#failed(fn, err)
    }
  }

  watch(): void {
    this.#watcher.watch(MANIFEST_KEY, [this.#manifest.file])
    for (const fn of this.#manifest.functions) if (!this.#watcher.files(fn.name).length) this.#watchFailed(fn)
  }

  index(url: string): string {
    const names = this.#manifest.functions.map((f) => f.name)
    const width = Math.max(0, ...names.map((n) => n.length))
    const lines = names.map(
      (n) => `  ${n.padEnd(width)}  ${url}/${n}${this.#deployed.has(n) ? '' : '  (not deployed)'}`,
    )
    return `functions of ${displayPath(this.#manifest.file)}:\n${lines.join('\n')}\n`
  }

  close(): void {
    this.#watcher.close()
  }

  #changed(name: string, file: string): void {
    const fn = this.#manifest.functions.find((f) => f.name === name)
    if (!fn) return
    void this.#rebuild(name, async () => {
      const current = this.#manifest.functions.find((f) => f.name === name)
      if (!current) return
      const bundled = await this.#bundle(current, `${displayPath(file)} changed`)
      if (bundled) await this.deploy(current, bundled)
    })
  }

  /** Runs `build` for `key`, or once more after the running one when it is busy (changes during a build). */
  async #rebuild(key: string, build: () => Promise<void>): Promise<void> {
    if (this.#building.has(key)) {
      this.#again.add(key)
      return
    }
    const run = (async () => {
      do {
        this.#again.delete(key)
        await build().catch((err: unknown) => this.#print(message(err)))
      } while (this.#again.has(key))
    })()
    this.#building.set(key, run)
    await run
    this.#building.delete(key)
  }

  async #bundle(fn: ManifestFunction, why = displayPath(fn.entry)): Promise<BundledFunction | undefined> {
    this.#print(`bundling ${fn.name} (${why})...`)
    try {
      const bundled = await bundleFunction(fn)
      this.#watcher.watch(fn.name, bundled.files)
      return bundled
    } catch (err) {
      this.#failed(fn, err)
      this.#watchFailed(fn)
      return undefined
    }
  }

  /** After a failed bundle: its last files, and any change in their folders or the entry's. */
  #watchFailed(fn: ManifestFunction): void {
    const files = new Set([...this.#watcher.files(fn.name), fn.entry])
    this.#watcher.watch(fn.name, files, { anyChangeIn: [...files].map((f) => dirname(f)) })
  }

  #failed(fn: ManifestFunction, err: unknown): void {
    this.#print(message(err))
    if (isFnboxError(err) && typeof err.details.stack === 'string') {
      for (const frame of err.details.stack.split('\n').filter((l) => /^\s*at /.test(l)))
        this.#print(`    ${frame.trim()}`)
    }
    const version = this.#deployed.get(fn.name)
    if (version !== undefined) this.#print(`${fn.name}: still serving ${version.slice(0, 8)}`)
  }

  async #reloadManifest(): Promise<void> {
    let next: Manifest
    try {
      next = await readManifest(dirname(this.#manifest.file), basename(this.#manifest.file))
    } catch (err) {
      this.#print(`${message(err)} (serving the functions as they were)`)
      return
    }
    const before = new Map(this.#manifest.functions.map((f) => [f.name, f]))
    this.#manifest = next
    for (const [name] of before) {
      if (next.functions.some((f) => f.name === name)) continue
      this.#watcher.unwatch(name)
      this.#deployed.delete(name)
      await this.#runtime.undeploy(name)
      this.#print(`removed ${name}`)
    }
    for (const fn of next.functions) {
      if (before.get(fn.name)?.spec === fn.spec && this.#deployed.has(fn.name)) continue
      void this.#rebuild(fn.name, async () => {
        const bundled = await this.#bundle(fn, `${displayPath(this.#manifest.file)} changed`)
        if (bundled) await this.deploy(fn, bundled)
      })
    }
  }

  /**
   * Granted secrets whose names are set in the environment get those values (`fnbox dev` reads
   * its own environment: `OPENAI_API_KEY=sk-... npx fnbox dev`); one with no value at all is
   * pointed out.
   */
  async #grantSecrets(fn: ManifestFunction): Promise<void> {
    const names = Array.isArray(fn.deploy.secrets) ? (fn.deploy.secrets as unknown[]) : []
    if (names.length === 0) return
    const stored = new Set(await this.#runtime.secrets.list())
    for (const name of names) {
      if (typeof name !== 'string') continue // deploy names the bad entry
      const value = process.env[name]
      if (value !== undefined) await this.#runtime.secrets.set(name, value)
      else if (!stored.has(name))
        this.#print(`${fn.name}: secret ${name} has no value (set ${name} in the environment of fnbox dev)`)
    }
  }
}

/**
 * The key that encrypts secrets: `FNBOX_SECRET_KEY` when set; else, for the embedded database,
 * a key kept beside it (made on first use), so secrets set in one session open in the next; for
 * memory storage a fresh one. Server Postgres is shared: it needs the hosts' own key.
 */
async function secretsKey(storage: StorageOption, dataDir: string): Promise<string | undefined> {
  if (process.env.FNBOX_SECRET_KEY !== undefined) return undefined
  if (storage === 'memory' || ('pglite' in storage && storage.pglite.startsWith('memory://'))) {
    return randomBytes(32).toString('hex')
  }
  if (!('pglite' in storage)) return undefined
  const file = join(dataDir, 'secret.key')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = randomBytes(32).toString('hex')
  await makeDir(dataDir)
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  return key
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(err)
      const hint = '(another fnbox dev? --port picks another; --port 0 any free one)'
      reject(new Error(`port ${port} on ${host} is in use ${hint}`, { cause: err }))
    })
    server.listen(port, host, () => {
      server.removeAllListeners('error')
      resolve()
    })
  })
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
