import type { InvocationLimits } from '../../src/reliability/deadline.js'
import type { SandboxLimits } from '../../src/sandbox/protocol.js'

/** Limits for tests that drive an engine of one thread directly, without a runtime. */
export const TEST_LIMITS: SandboxLimits = {
  memoryMb: 32,
  maxStackKb: 256,
  maxResponseBytes: 1 << 20,
  maxLogBytes: 1 << 16,
  instancesPerModule: 16,
}

/**
 * The limits of one invocation driven directly (no runtime), starting now: `timeoutMs` for every
 * wall-clock limit and the CPU time unless `overrides` say otherwise.
 */
export function invocationLimits(timeoutMs: number, overrides: Partial<InvocationLimits> = {}): InvocationLimits {
  return {
    startedAt: Date.now(),
    timeoutMs,
    cpuMs: timeoutMs,
    streamIdleMs: timeoutMs,
    streamTotalMs: timeoutMs,
    ...overrides,
  }
}
