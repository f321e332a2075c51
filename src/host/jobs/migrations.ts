/**
 * The tables of the jobs domain, as one versioned migration (registered in
 * `src/storage/migrations.ts`):
 *
 * - `fnbox_jobs`: the queue. Partial indexes cover only the rows a hot statement reads (ready
 *   jobs, running leases, queued keys), so finished rows kept for `get` cost claims nothing.
 * - `fnbox_job_workers`: the workers alive and the versions they run (version affinity).
 * - `fnbox_cron`: the last slot fired of each cron schedule (graphile-worker's `known_crontabs`).
 * - `fnbox_uuid_v7()`: job ids made in the database (the table hooks' trigger inserts jobs too).
 * - A statement trigger that NOTIFYs `fnbox_jobs` when an insert added a job due now: at commit,
 *   so a rolled-back enqueue wakes no one, and whatever inserts (an enqueue, a cron slot, a table
 *   hook) wakes the workers the same way.
 * - `fnbox_table_hook()`: the trigger function of `watchTable` (see `src/triggers/hooks/`).
 *
 * @internal
 * @module
 */
import { sql, type Kysely, type Migration } from 'kysely'

/** The channel of wake-up notifications. */
export const JOBS_CHANNEL = 'fnbox_jobs'

/** The task of the jobs a table hook's trigger inserts (one per row change; the runtime fans out). */
export const TABLE_HOOK_TASK = 'fnbox.hook'

export const jobsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // Functions and the sequence are created or replaced: a database whose fnbox tables were
    // dropped by hand (they were, on a shared test database) still migrates.
    // RFC 9562 method 1: 48 bits of Unix ms, then a 42-bit counter (12 bits, the variant, 30 bits),
    // then 32 random bits (gen_random_uuid's). The counter keeps ids of one millisecond in the order
    // they were made (PGlite's clock has no sub-millisecond precision to do it).
    await sql`create sequence if not exists fnbox_job_id_seq`.execute(db)
    await sql`
      create or replace function fnbox_uuid_v7() returns uuid language plpgsql volatile as $$
      declare
        ms bigint := floor(extract(epoch from clock_timestamp()) * 1000);
        n bigint := nextval('fnbox_job_id_seq') % 4398046511104;
        b bytea := uuid_send(gen_random_uuid());
      begin
        b := overlay(b placing substring(int8send(ms) from 3) from 1 for 6);
        b := set_byte(b, 6, (112 | ((n >> 38) & 15))::int);
        b := set_byte(b, 7, ((n >> 30) & 255)::int);
        b := set_byte(b, 8, (128 | ((n >> 24) & 63))::int);
        b := set_byte(b, 9, ((n >> 16) & 255)::int);
        b := set_byte(b, 10, ((n >> 8) & 255)::int);
        b := set_byte(b, 11, (n & 255)::int);
        return encode(b, 'hex')::uuid;
      end $$`.execute(db)

    await sql`
      create table fnbox_jobs (
        id uuid primary key default fnbox_uuid_v7(),
        task text collate "C" not null,
        payload jsonb not null default 'null',
        state text not null default 'queued'
          check (state in ('queued', 'running', 'completed', 'failed', 'dead', 'cancelled')),
        priority integer not null default 0,
        run_at timestamptz not null default now(),
        attempts integer not null default 0,
        max_attempts integer not null default 5,
        timeout_ms integer,
        key text collate "C",
        version text collate "C",
        on_version_gone text not null default 'latest' check (on_version_gone in ('latest', 'dead')),
        token integer not null default 0,
        locked_by text,
        locked_until timestamptz,
        last_error text,
        created_at timestamptz not null default now(),
        finished_at timestamptz
      )`.execute(db)
    // The claim walks this in order and stops after `limit` rows it can lock.
    await sql`create index fnbox_jobs_ready on fnbox_jobs (priority desc, run_at, id)
      where state in ('queued', 'failed')`.execute(db)
    await sql`create index fnbox_jobs_leases on fnbox_jobs (locked_until) where state = 'running'`.execute(db)
    await sql`create unique index fnbox_jobs_key on fnbox_jobs (key) where state = 'queued' and key is not null`.execute(
      db,
    )
    await sql`create index fnbox_jobs_finished on fnbox_jobs (finished_at) where finished_at is not null`.execute(db)

    await sql`
      create table fnbox_job_workers (
        id text primary key,
        tasks text[] not null,
        versions text[] not null,
        expires_at timestamptz not null
      )`.execute(db)

    await sql`
      create table fnbox_cron (
        id text collate "C" primary key,
        last_slot timestamptz not null,
        updated_at timestamptz not null default now()
      )`.execute(db)

    await sql
      .raw(
        `create or replace function fnbox_jobs_notify() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from inserted where run_at <= now()) then
          perform pg_notify('${JOBS_CHANNEL}', '');
        end if;
        return null;
      end $$`,
      )
      .execute(db)
    await sql`
      create trigger fnbox_jobs_notify after insert on fnbox_jobs
      referencing new table as inserted
      for each statement execute function fnbox_jobs_notify()`.execute(db)

    // tg_argv: the events of insert, update and delete ('' for an operation not watched).
    await sql
      .raw(
        `create or replace function fnbox_table_hook() returns trigger language plpgsql as $$
      declare
        ev text := case tg_op when 'INSERT' then tg_argv[0] when 'UPDATE' then tg_argv[1] else tg_argv[2] end;
      begin
        if ev is null or ev = '' then return null; end if;
        insert into fnbox_jobs (task, payload) values ('${TABLE_HOOK_TASK}', jsonb_build_object(
          'event', ev,
          'table', tg_table_schema || '.' || tg_table_name,
          'op', lower(tg_op),
          'row', case when tg_op = 'DELETE' then null else to_jsonb(new) end,
          'old', case when tg_op = 'INSERT' then null else to_jsonb(old) end));
        return null;
      end $$`,
      )
      .execute(db)
  },
}
