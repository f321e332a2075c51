// A small Express app serving three sandboxed functions under /fn; `notes` keeps its data in the
// embedded database (PGlite under .fnbox/, created on first use: no server needed).
//   npm run example               serve on http://localhost:3000 until Ctrl-C
//   npm run example -- --self-test  start, call the three functions, print the answers, exit
import { readFile } from 'node:fs/promises'
import express from 'express'
import { createRuntime } from 'fnbox'

const runtime = await createRuntime({ limits: { memoryMb: 64, timeoutMs: 5000 } })
runtime.on('log', (e) => console.log(`[${e.function}@${e.version.slice(0, 7)}] ${e.level}: ${e.message}`))

for (const name of ['greet', 'countdown', 'notes']) {
  const code = await readFile(new URL(`./functions/${name}.js`, import.meta.url), 'utf8')
  const { version } = await runtime.deploy(name, { code })
  console.log(`deployed ${name} (version ${version})`)
}

// The host reads the store too; this first use also opens the embedded database (a few seconds
// the first time), before any request has to wait for it.
console.log('notes so far:', (await runtime.kv.get('notes:count')) ?? 0)

const app = express()
app.get('/', (_req, res) => res.send('try /fn/greet?name=Ada, /fn/countdown?from=5 and /fn/notes'))
app.use('/fn', runtime.express())

const selfTest = process.argv.includes('--self-test')
const server = app.listen(selfTest ? 0 : Number(process.env.PORT ?? 3000), '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
const base = `http://127.0.0.1:${server.address().port}`
console.log(`listening on ${base}`)

if (selfTest) {
  const greet = await fetch(`${base}/fn/greet?name=Ada`)
  console.log(greet.status, await greet.text())
  const countdown = await fetch(`${base}/fn/countdown?from=3`)
  for await (const chunk of countdown.body) process.stdout.write(new TextDecoder().decode(chunk))
  console.log('sum via runtime.call:', await runtime.call('countdown', 'sum', 1, 2, 3))
  const added = await fetch(`${base}/fn/notes`, {
    method: 'POST',
    body: JSON.stringify({ text: 'hello from the self-test' }),
  })
  const { id } = await added.json()
  const { notes } = await (await fetch(`${base}/fn/notes`)).json()
  console.log(
    'note stored:',
    notes.some((n) => n.id === id && n.text === 'hello from the self-test'),
  )
  console.log('notes counted by the host:', await runtime.kv.get('notes:count'))
  server.close()
  await runtime.close()
} else {
  process.on('SIGINT', async () => {
    server.close()
    await runtime.close()
    process.exit(0)
  })
}
