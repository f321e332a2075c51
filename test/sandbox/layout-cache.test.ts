// The QuickJS build's layout facts are kept on disk, named by the binary's hash: executor threads
// of later processes skip probing a fresh module (130-230 ms of a thread's start).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime } from 'fnbox'
import { compiledModule } from '../../src/sandbox/engine.js'
import { cachedLayout, layoutCacheFile } from '../../src/sandbox/layout-cache.js'
import { instantiate, MIN_MODULE_MB } from '../../src/sandbox/module-cell.js'
import { discoverLayout, type EngineLayout } from '../../src/sandbox/snapshot.js'

const probe = () => discoverLayout(() => instantiate(compiledModule(), MIN_MODULE_MB))

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fnbox-layout-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('the engine layout cache', () => {
  it('rests on a layout being a fact of the binary: two fresh modules give the same one', async () => {
    const [a, b] = [await probe(), await probe()]
    expect(a).toEqual(b)
    expect(a.freshDirty.length).toBeGreaterThan(0)
  })

  it('probes once, then reads the file; a file that is not a layout is probed again and replaced', async () => {
    const file = join(dir, 'cache', 'layout.json')
    let probes = 0
    const discover = async (): Promise<EngineLayout> => {
      probes++
      return probe()
    }
    const first = await cachedLayout(file, discover)
    expect(probes).toBe(1)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first)
    expect(await cachedLayout(file, discover)).toEqual(first)
    expect(probes).toBe(1)

    for (const broken of ['not json', '{"brkAddress":-4,"freshBrk":1,"randomStateOffset":8,"freshDirty":[0]}']) {
      writeFileSync(file, broken)
      expect(await cachedLayout(file, discover)).toEqual(first)
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first)
    }
    expect(probes).toBe(3)
  })

  it('probes every time where the file cannot be written, or there is no cache folder', async () => {
    let probes = 0
    const discover = async (): Promise<EngineLayout> => {
      probes++
      return probe()
    }
    await cachedLayout('/proc/fnbox-no-cache/layout.json', discover)
    await cachedLayout(undefined, discover)
    expect(probes).toBe(2)
  })

  it('is named by the binary beside its package, and nothing outside a node_modules', () => {
    const wasm = new Uint8Array([0, 97, 115, 109, 1])
    const path = ['', 'app', 'node_modules', '@jitl', 'q', 'dist', 'm.wasm'].join(sep)
    const file = layoutCacheFile(path, wasm)!
    expect(file.startsWith(['', 'app', 'node_modules', '.cache', 'fnbox', 'quickjs-layout-'].join(sep))).toBe(true)
    expect(layoutCacheFile(path, new Uint8Array([0, 97, 115, 109, 2]))).not.toBe(file)
    expect(layoutCacheFile(join(sep, 'app', 'm.wasm'), wasm)).toBeUndefined()
  })

  it("is written by an executor thread's start, and holds what a probe finds", async () => {
    const require = createRequire(import.meta.url)
    const wasmPath = require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')
    const file = layoutCacheFile(wasmPath, readFileSync(wasmPath))!
    const runtime = await createRuntime({ storage: 'memory' })
    try {
      await runtime.deploy('echo', { code: 'export const echo = (x) => x' })
      expect(await runtime.call('echo', 'echo', 1)).toBe(1)
    } finally {
      await runtime.close()
    }
    expect(existsSync(file)).toBe(true)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(await probe())
  })
})
