// ByteLengthQueuingStrategy and CountQueuingStrategy.
import { internal, tag, isObject, illegal, enumerableMembers } from '../util.js'

const kHwm = internal('highWaterMark')

function hwmOf(strategy) {
  if (!isObject(strategy) || !(kHwm in strategy)) throw illegal()
  return strategy[kHwm]
}

/** A queuing strategy class: a high-water mark from its init dictionary, and a size function. */
function strategyClass(name, size) {
  const cls = class {
    constructor(init) {
      if (!isObject(init) || init.highWaterMark === undefined) {
        throw new TypeError(`${name}: the init dictionary needs a highWaterMark`)
      }
      this[kHwm] = Number(init.highWaterMark)
    }
    get highWaterMark() {
      return hwmOf(this)
    }
    get size() {
      hwmOf(this)
      return size
    }
  }
  tag(cls, name)
  enumerableMembers(cls)
  return cls
}

export const CountQueuingStrategy = strategyClass('CountQueuingStrategy', { size: () => 1 }.size)
export const ByteLengthQueuingStrategy = strategyClass(
  'ByteLengthQueuingStrategy',
  { size: (chunk) => chunk.byteLength }.size,
)
