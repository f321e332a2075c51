/** The clock tests move by hand: fnbox's own (`src/clock.ts`), also exported to users. */
export { ManualClock } from '../../src/clock.js'
