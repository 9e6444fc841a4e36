// The admin API's "is this request from loopback" decision, from the socket's remote address only.
import t from 'tap'
import { isLoopbackAddress } from '../../config/loopback.js'

t.test('loopback addresses in every spelling Node reports', async (t) => {
  for (const address of [
    '127.0.0.1', '127.0.0.2', '127.255.255.254', '127.1.2.3',
    '::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001',
    '::ffff:127.0.0.1', '::FFFF:127.9.8.7', '0:0:0:0:0:ffff:127.0.0.1', '::ffff:7f00:1', '::1%lo'
  ]) t.ok(isLoopbackAddress(address), address)
})

t.test('everything else is not loopback', async (t) => {
  for (const address of [
    '10.0.0.1', '192.168.1.10', '172.16.0.1', '0.0.0.0', '128.0.0.1', '1.127.0.0', '8.8.8.8',
    '::ffff:10.0.0.1', '::ffff:192.168.0.1', '::ffff:7e00:1', '::', '::2', '1::1', 'fe80::1', 'fe80::1%eth0',
    '::127.0.0.1', '2001:db8::1', '::ffff:0:127.0.0.1',
    'localhost', '', '127.0.0.1.evil', '127.0.0', 'not an address', ':::1'
  ]) t.notOk(isLoopbackAddress(address), address)
  t.notOk(isLoopbackAddress(undefined), 'no address (a destroyed socket)')
})
