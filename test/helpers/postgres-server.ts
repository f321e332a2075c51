/** A server Postgres database of a test file's own: created with a unique name, dropped at the end. */
import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import pg from 'pg'

export const SERVER = 'postgres://postgres@127.0.0.1:5432'

/** Why the server cannot be reached, or `undefined` when it can. */
export function serverUnreachable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(5432, '127.0.0.1')
    socket.setTimeout(2000)
    socket.once('connect', () => {
      socket.end()
      resolve(undefined)
    })
    socket.once('error', (err) => resolve(err.message))
    socket.once('timeout', () => {
      socket.destroy()
      resolve('no answer within 2 s')
    })
  })
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export interface TempDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

export async function createTempDatabase(prefix: string): Promise<TempDatabase> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '')}`
  await admin((c) => c.query(`create database ${name}`))
  return {
    name,
    url: `${SERVER}/${name}`,
    drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  }
}
