// The tests themselves: none may write to a shared server database (a user's app may read it).
// Server Postgres is reached only through test/helpers/postgres.ts, which gives each file a
// database of its own and drops it after the file's tests.
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const TEST_ROOT = new URL('..', import.meta.url).pathname

async function testFiles(folder: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) out.push(...(await testFiles(path)))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

describe('test databases', () => {
  it('no test names a server Postgres database but the per-file helper', async () => {
    const offenders: string[] = []
    for (const file of await testFiles(TEST_ROOT)) {
      const rel = relative(TEST_ROOT, file)
      if (rel === join('helpers', 'postgres.ts') || rel === join('storage', 'test-databases.test.ts')) continue
      const text = await readFile(file, 'utf8')
      // A connection string that could reach a server: not port 1 (the "unreachable server" of
      // error tests), nor a reserved `.invalid` host (option validation), nor a port the test
      // took itself (`:${…}`, a fake server it listens with).
      for (const match of text.matchAll(/postgres(?:ql)?:\/\/[^\s'"`]*/g)) {
        if (!/:1(?:\/|$)|\.invalid(?:\/|$)|:\$\{/.test(match[0])) offenders.push(`${rel}: ${match[0]}`)
      }
      if (/\b5432\b/.test(text)) offenders.push(`${rel}: port 5432`)
    }
    expect(offenders).toEqual([])
  })
})
