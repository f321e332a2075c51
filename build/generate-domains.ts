/**
 * `npm run types`: writes the files generated from the domain registry (see src/host/generate.ts),
 * formatted as prettier formats the repository. `--check` writes nothing and fails when a
 * committed file differs.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { format, resolveConfig } from 'prettier'
import { generateDomainFiles, type GeneratedFile } from '../src/host/generate.js'

/** A generated file as prettier would leave it in the repository at `root`. */
export async function formatted(root: string, file: GeneratedFile): Promise<string> {
  const filepath = join(root, file.path)
  const config = await resolveConfig(filepath)
  return format(file.text, { ...config, filepath })
}

/** The generated files whose committed text differs from the registry's (written unless `check`). */
export async function generate(root: string, check: boolean): Promise<string[]> {
  const stale: string[] = []
  for (const file of generateDomainFiles()) {
    const text = await formatted(root, file)
    const current = await readFile(join(root, file.path), 'utf8').catch(() => undefined)
    if (current === text) continue
    stale.push(file.path)
    if (!check) await writeFile(join(root, file.path), text)
  }
  return stale
}
