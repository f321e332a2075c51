// The thread-message batcher (src/sandbox/batch.ts): messages of one tick travel together; an
// urgent one leaves at once with those queued before it.
import { describe, expect, it } from 'vitest'
import { createBatcher } from '../../src/sandbox/batch.js'

function recorder() {
  const posts: { msgs: string[]; transfer: ArrayBuffer[] }[] = []
  const send = createBatcher<string>((batch, transfer) => posts.push({ msgs: batch.msgs, transfer }))
  return { posts, send }
}

describe('createBatcher', () => {
  it('sends the messages of one tick as one batch, in order, with their transfers', async () => {
    const { posts, send } = recorder()
    const buf = new ArrayBuffer(4)
    send('a')
    send('b', [buf])
    send('c')
    expect(posts).toEqual([])
    await Promise.resolve()
    expect(posts).toEqual([{ msgs: ['a', 'b', 'c'], transfer: [buf] }])
  })

  it('an urgent message leaves at once with what was queued before it, and the tick adds no empty batch', async () => {
    const { posts, send } = recorder()
    send('a')
    send('fetch', undefined, true)
    expect(posts).toEqual([{ msgs: ['a', 'fetch'], transfer: [] }])
    send('b')
    await Promise.resolve()
    await Promise.resolve()
    expect(posts.map((p) => p.msgs)).toEqual([['a', 'fetch'], ['b']])
    send('lone', undefined, true)
    await Promise.resolve()
    expect(posts.map((p) => p.msgs)).toEqual([['a', 'fetch'], ['b'], ['lone']])
  })
})
