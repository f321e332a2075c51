/**
 * Database hooks: a trigger on a table of the host app that turns each row change into a job in
 * the same transaction (an outbox: a rolled-back insert starts nothing; a committed one always
 * does, even if the host dies right after).
 *
 * The trigger inserts one job per row change (task `fnbox.hook`, payload `{ event, table, op,
 * row, old }`); the runtime's handler of that task fans it out to the event's subscribers, one
 * job each, atomically with its completion ({@link hookFanOut}). So the trigger never names a
 * function: deploys add and remove subscribers without touching it, and an event reaches the
 * subscribers deployed when it is fanned out (moments after its commit). Installing it is DDL on
 * the user's table: done once (`watchTable` again replaces it), undone by `unwatchTable`.
 *
 * Row-level only: `TRUNCATE` fires nothing. The payload is the row as `to_jsonb` gives it.
 *
 * @internal
 * @module
 */
import type { Kysely } from 'kysely'
import { rawQuery } from '../../storage/raw-query.js'
import { FnboxError } from '../../errors.js'
import type { JsonValue } from '../../host/domains/types.js'
import { invalid } from '../../host/domains/validate.js'
import { JOB_DEFAULTS, type ClaimedJob, type JobRequest, type VersionGonePolicy } from '../../host/jobs/jobs.js'
import { taskName } from '../../host/jobs/validate.js'
import type { JobOutcome } from '../jobs/worker.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>

/** The event each operation on the table emits; an operation left out emits nothing. */
export interface TableEvents {
  insert?: string
  update?: string
  delete?: string
}

/** The payload of a table hook's job, as its subscribers receive it. */
export interface TableChange {
  event: string
  /** `schema.table`. */
  table: string
  op: 'insert' | 'update' | 'delete'
  /** The row after the change (insert, update). */
  row: Record<string, JsonValue> | null
  /** The row before the change (update, delete). */
  old: Record<string, JsonValue> | null
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/** `schema.table` (or `table`, in `public`) as a quoted SQL name. */
function tableName(table: unknown): { schema: string; name: string; sql: string } {
  if (typeof table !== 'string') throw invalid('table', 'must be a string like "public.orders"')
  const parts = table.split('.')
  const [schema, name] = parts.length === 1 ? ['public', parts[0]!] : parts
  if (parts.length > 2 || !IDENT.test(schema!) || !IDENT.test(name!)) {
    throw invalid('table', `must be "schema.table" of plain identifiers (got ${JSON.stringify(table)})`)
  }
  return { schema: schema!, name: name!, sql: `"${schema}"."${name}"` }
}

const OPS = ['insert', 'update', 'delete'] as const

/**
 * Installs (or replaces) the hook trigger on `table`: each row change of a listed operation
 * enqueues a `fnbox.hook` job in the changing transaction.
 *
 * @example
 * ```ts
 * await watchTable(db, 'public.orders', { insert: 'order.created', delete: 'order.deleted' })
 * ```
 */
export async function watchTable(db: Db, table: string, events: TableEvents): Promise<void> {
  const target = tableName(table)
  if (typeof events !== 'object' || events === null) throw invalid('events', 'must be an object')
  const names = OPS.map((op) => (events[op] === undefined ? '' : taskName(events[op], `events.${op}`)))
  const unknown = Object.keys(events).filter((k) => !(OPS as readonly string[]).includes(k))
  if (unknown.length > 0) throw invalid(`events.${unknown[0]}`, 'is not an operation (insert, update, delete)')
  const ops = OPS.filter((_, i) => names[i] !== '')
  if (ops.length === 0) throw invalid('events', 'must name an event for insert, update or delete')
  await assertTable(db, target)
  // Event names are checked above (letters, digits, _ $ . : / -): safe as string literals.
  const args = names.map((n) => `'${n}'`).join(', ')
  await db.executeQuery(
    await rawQuery(
      `create or replace trigger fnbox_hook after ${ops.join(' or ')} on ${target.sql}
       for each row execute function fnbox_table_hook(${args})`,
    ),
  )
}

/** Removes the hook trigger of `table` (if any). */
export async function unwatchTable(db: Db, table: string): Promise<void> {
  const target = tableName(table)
  await assertTable(db, target)
  await db.executeQuery(await rawQuery(`drop trigger if exists fnbox_hook on ${target.sql}`))
}

async function assertTable(db: Db, target: { schema: string; name: string; sql: string }): Promise<void> {
  const { rows } = await db.executeQuery<{ found: boolean }>(
    await rawQuery(`select exists (select 1 from pg_tables where schemaname = $1 and tablename = $2) as found`, [
      target.schema,
      target.name,
    ]),
  )
  if (!rows[0]?.found) {
    throw new FnboxError('ERR_NOT_FOUND', `no table ${target.schema}.${target.name}`, {
      details: { argument: 'table' },
    })
  }
}

/** A function's subscription to an event: the task its jobs run as, and the version it is. */
export interface HookSubscriber {
  task: string
  version?: string
  onVersionGone?: VersionGonePolicy
}

/** The jobs of one event: one per subscriber, each with the event's payload. */
export function hookJobs(payload: JsonValue, subscribers: readonly HookSubscriber[]): JobRequest[] {
  return subscribers.map((s) => {
    const request: JobRequest = {
      task: s.task,
      payload,
      priority: JOB_DEFAULTS.priority,
      maxAttempts: JOB_DEFAULTS.maxAttempts,
      onVersionGone: s.onVersionGone ?? JOB_DEFAULTS.onVersionGone,
    }
    if (s.version !== undefined) request.version = s.version
    return request
  })
}

/**
 * The handler of `fnbox.hook` jobs: completes each with one job per subscriber of its event
 * (`subscribers` answers them as this host's deployments have them), atomically.
 */
export function hookFanOut(
  subscribers: (event: string) => readonly HookSubscriber[],
): (job: ClaimedJob) => Promise<JobOutcome> {
  return (job) => {
    const change = job.payload as unknown as TableChange
    return Promise.resolve({ enqueue: hookJobs(job.payload, subscribers(change.event)) })
  }
}
