// Issue 14: a download consumes its upstream body through eachChunk ('data' events, pausing on
// a returned promise) instead of for await. What it must keep from the async iterator: order,
// backpressure, the body destroyed on an error, and a premature end being an error.
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { eachChunk } from '../../server/cache/download.js'

function chunks (count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from([i]))
}

t.test('every chunk in order; a returned promise holds the next one back', async (t) => {
  const body = Readable.from(chunks(50), { objectMode: false })
  const seen: number[] = []
  let busy = false
  let overlapped = false
  await eachChunk(body, (chunk) => {
    if (busy) overlapped = true
    seen.push(chunk[0] as number)
    if (seen.length % 5 !== 0) return
    busy = true
    return sleep(2).then(() => { busy = false })
  })
  t.same(seen, Array.from({ length: 50 }, (_, i) => i), 'all chunks, in order')
  t.notOk(overlapped, 'no chunk arrived while a returned promise was pending')
})

t.test('an error thrown or rejected destroys the body and rejects', async (t) => {
  for (const [how, done] of [['throw', 'thrown'], ['reject', 'rejected']] as const) {
    const body = new Readable({ read () { this.push(Buffer.alloc(16)) } })
    const err = new Error(`stop (${how})`)
    let calls = 0
    await t.rejects(eachChunk(body, () => {
      if (++calls < 3) return
      if (how === 'throw') throw err
      return Promise.reject(err)
    }), err, `the ${done} error`)
    t.ok(body.destroyed, `the body is destroyed after a ${done} error`)
  }
})

t.test('a body destroyed with an error, or closed before its end, rejects', async (t) => {
  const broken = new Readable({ read () {} })
  broken.push(Buffer.from('partial'))
  setTimeout(() => { broken.destroy(new Error('socket hang up')) }, 5)
  await t.rejects(eachChunk(broken, () => {}), /socket hang up/, 'the body\'s error')

  const closed = new Readable({ read () {} })
  closed.push(Buffer.from('partial'))
  setTimeout(() => { closed.destroy() }, 5)
  await t.rejects(eachChunk(closed, () => {}), { code: 'ERR_STREAM_PREMATURE_CLOSE' }, 'a close before the end is no clean end')
})
