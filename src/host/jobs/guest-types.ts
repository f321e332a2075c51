/**
 * The jobs domain's guest declarations: its part of `declare module 'fnbox:host'` in `host.d.ts`,
 * which `npm run types` generates from the registry (a test fails when the two drift apart).
 *
 * @internal
 * @module
 */
export const JOBS_GUEST_TYPES = `/** Options of \`jobs.enqueue\`. */
export interface FnboxEnqueueOptions {
  /** When to run at the earliest (by the database's clock). Not with \`delayMs\`. */
  runAt?: Date | string | number
  /** Run at the earliest this many ms from now. */
  delayMs?: number
  /** Dedupe key: while a job with this key is queued, enqueue answers that job's id. */
  key?: string
  /** -1000 to 1000, default 0: a larger number runs earlier. */
  priority?: number
  /** Attempts before the job is dead (1 to 1000, default 5). */
  maxAttempts?: number
  /** Time limit of one attempt, in ms (default: the handling function's \`limits.jobTimeoutMs\`). */
  timeoutMs?: number
}
/**
 * The second argument of an export run as a job (\`deploy({ jobs: { task: 'export' } })\`, a cron
 * slot, a hook's job): \`export async function resize(payload, ctx: FnboxJobContext)\`.
 */
export interface FnboxJobContext {
  job: {
    id: string
    task: string
    /** This attempt, from 1: an export may run more than once (at-least-once). */
    attempt: number
    maxAttempts: number
    /** When the job was due (ISO 8601): its runAt, a cron slot's time. */
    scheduledTime: string
  }
}
/** Durable background jobs, run by the function deployed with \`jobs: { [task]: export }\`. */
export interface FnboxJobs {
  /**
   * Stores a job of \`task\` (its payload at most 256 KiB of JSON): resolves once it is durable (in
   * \`tx\`: it commits with the transaction, or not at all). \`deduplicated\`: a queued job with
   * the same \`key\` was found, and its id is answered.
   */
  enqueue(task: string, payload?: unknown, options?: FnboxEnqueueOptions): Promise<{ id: string; deduplicated: boolean }>
}`
