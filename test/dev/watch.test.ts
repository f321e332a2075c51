/**
 * The watcher behind `fnbox dev`: the files a bundle read, by folder, with bursts of events (an
 * editor's save) reported once.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SourceWatcher } from '../../src/dev/watch.js'
import { tempProject } from '../helpers/cli.js'
import { sleep, waitFor } from '../helpers/wait.js'

let cleanup: (() => void)[] = []
afterEach(() => {
  for (const fn of cleanup) fn()
  cleanup = []
})

function setup(debounceMs = 50): { dir: string; changes: [string, string][]; watcher: SourceWatcher } {
  const project = tempProject({ 'a.ts': '1', 'lib/b.ts': '2', 'node_modules/pkg/index.js': '3', 'other.ts': '4' })
  const changes: [string, string][] = []
  const watcher = new SourceWatcher((key, file) => changes.push([key, file]), debounceMs)
  cleanup.push(
    () => watcher.close(),
    () => project.remove(),
  )
  return { dir: project.dir, changes, watcher }
}

describe('SourceWatcher', () => {
  it('reports a change of a watched file, in any of its folders, once per burst', async () => {
    const { dir, changes, watcher } = setup(200)
    watcher.watch('fn', [join(dir, 'a.ts'), join(dir, 'lib/b.ts')])
    // Written back to back: the events arrive within one debounce window.
    writeFileSync(join(dir, 'lib/b.ts'), 'x')
    writeFileSync(join(dir, 'lib/b.ts'), 'y')
    writeFileSync(join(dir, 'lib/b.ts'), 'z')
    expect(await waitFor(() => changes.length > 0, 10_000)).toBe(true)
    await sleep(400)
    expect(changes).toEqual([['fn', join(dir, 'lib/b.ts')]])
  })

  it('sees a save that renames a new file over the old one (how editors save)', async () => {
    const { dir, changes, watcher } = setup()
    watcher.watch('fn', [join(dir, 'a.ts')])
    writeFileSync(join(dir, 'a.ts.swp'), 'new')
    renameSync(join(dir, 'a.ts.swp'), join(dir, 'a.ts'))
    expect(await waitFor(() => changes.some(([, f]) => f === join(dir, 'a.ts')), 10_000)).toBe(true)
    // And keeps watching it afterwards.
    changes.length = 0
    writeFileSync(join(dir, 'a.ts'), 'again')
    expect(await waitFor(() => changes.length > 0, 10_000)).toBe(true)
  })

  it('ignores files it was not given, and node_modules', async () => {
    const { dir, changes, watcher } = setup()
    watcher.watch('fn', [join(dir, 'a.ts'), join(dir, 'node_modules/pkg/index.js')])
    watcher.watch('control', [join(dir, 'lib/b.ts')])
    writeFileSync(join(dir, 'other.ts'), 'x')
    writeFileSync(join(dir, 'node_modules/pkg/index.js'), 'x')
    // Events arrive in order and debounce alike: a report of 'fn' would come before this one.
    writeFileSync(join(dir, 'lib/b.ts'), 'x')
    expect(await waitFor(() => changes.length > 0, 10_000)).toBe(true)
    expect(changes).toEqual([['control', join(dir, 'lib/b.ts')]])
  })

  it('reports any change in a folder given as anyChangeIn (a file a failed bundle missed)', async () => {
    const { dir, changes, watcher } = setup()
    watcher.watch('fn', [join(dir, 'a.ts')], { anyChangeIn: [join(dir, 'lib')] })
    mkdirSync(join(dir, 'lib'), { recursive: true })
    writeFileSync(join(dir, 'lib/missing.ts'), 'export {}')
    expect(await waitFor(() => changes.some(([, f]) => f === join(dir, 'lib/missing.ts')), 10_000)).toBe(true)
  })

  it('stops reporting a key once unwatched, and everything once closed', async () => {
    const { dir, changes, watcher } = setup()
    watcher.watch('one', [join(dir, 'a.ts')])
    watcher.watch('two', [join(dir, 'other.ts')])
    watcher.unwatch('one')
    writeFileSync(join(dir, 'a.ts'), 'x')
    writeFileSync(join(dir, 'other.ts'), 'x')
    expect(await waitFor(() => changes.length > 0, 10_000)).toBe(true)
    await sleep(150)
    expect(changes).toEqual([['two', join(dir, 'other.ts')]])
    watcher.close()
    changes.length = 0
    writeFileSync(join(dir, 'other.ts'), 'y')
    await sleep(200)
    expect(changes).toEqual([])
  })
})
