import type { SandboxLimits } from '../../src/sandbox/protocol.js'

/** Limits for tests that drive an engine of one thread directly, without a runtime. */
export const TEST_LIMITS: SandboxLimits = {
  memoryMb: 32,
  maxStackKb: 256,
  maxResponseBytes: 1 << 20,
  maxLogBytes: 1 << 16,
  instancesPerModule: 16,
}
