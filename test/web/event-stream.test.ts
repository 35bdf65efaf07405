import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { EventStream, frame } from '../../src/web/event-stream.js';
import { openEventStream } from './helpers.js';

test('frame: one event per block, JSON on one data line', () => {
  assert.equal(frame('interval', { a: 'x\ny' }, 7), 'id: 7\nevent: interval\ndata: {"a":"x\\ny"}\n\n');
  assert.equal(frame('ping', 1), 'event: ping\ndata: 1\n\n');
});

test('a page that stops reading is dropped once its backlog passes the limit; the others keep streaming', async (t) => {
  const counts: number[] = [];
  const stream = new EventStream({ heartbeatMs: 60_000, maxBacklogBytes: 256 * 1024, onClientCount: (n) => counts.push(n) });
  const server = createServer((req, res) => stream.attach(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    stream.close();
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const reader = await openEventStream(`http://127.0.0.1:${port}/`);
  const stuck = connect(port, '127.0.0.1');
  await new Promise<void>((r) => stuck.once('connect', () => r()));
  stuck.write(`GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  stuck.pause();
  t.after(() => stuck.destroy());
  while (stream.size < 2) await new Promise((r) => setTimeout(r, 10));

  const payload = 'x'.repeat(64 * 1024);
  let sent = 0;
  // Far more than socket buffers hold; the reader keeps up, the stuck one cannot.
  for (let k = 0; k < 400 && stream.size === 2; k++) {
    stream.broadcast('blob', { k, payload });
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(stream.size, 1, `the stuck client was still held after ${sent} events of 64 KiB`);
  stream.broadcast('after', { ok: true });
  assert.deepEqual(JSON.parse((await reader.next('after')).data), { ok: true });
  assert.equal(counts.at(-1), 1);
  reader.res.destroy();
});
