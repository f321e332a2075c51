/** Runs `work` and returns the process warnings emitted meanwhile (`MaxListenersExceededWarning`, ...). */
export async function processWarnings(work: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = []
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`)
  }
  process.on('warning', onWarning)
  try {
    await work()
    // Node emits a warning on the next tick after its cause (nextTick: fake timers leave it real).
    await new Promise((resolve) => process.nextTick(resolve))
  } finally {
    process.off('warning', onWarning)
  }
  return warnings
}
