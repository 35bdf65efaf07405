import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { memoryCommand, parseStatus, WorkloadController, WorkloadError, workloadRequest, workloadRequestWithRetry } from '../../src/lab/workload-channel.js';

/** Stands in for QEMU's channel socket with a guest that answers as vb-workload does. */
async function fakeGuest(answer: (id: string, command: string) => string[] | undefined): Promise<{ socket: string; received: string[]; close: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-chan-'));
  const socket = path.join(dir, 'workload.sock');
  const received: string[] = [];
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        received.push(line);
        const [id, ...rest] = line.split(' ');
        for (const reply of answer(id!, rest.join(' ')) ?? []) conn.write(`${reply}\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, received, close: async () => { await new Promise((r) => server.close(r)); await rm(dir, { recursive: true, force: true }); } };
}

const STATUS = 'vcpus=2 cpu=0.80,0.20 mem_mib=120 mem_target_mib=300 mem_peak_mib=120 mem_phase=grow memtotal_kib=454172 memfree_kib=300000 memavailable_kib=250000 uptime_s=42 pid=105';

test('a reply is matched by its id: stale replies to abandoned requests are skipped', async () => {
  const guest = await fakeGuest((id, cmd) => [`#old.1 ok cpu=0.10`, `${id} ok ${cmd === 'status' ? STATUS : 'pong'}`]);
  try {
    const status = await new WorkloadController(() => guest.socket).status('aos_vm1');
    assert.equal(status.memMiB, 120);
    assert.deepEqual(status.cpu, [0.8, 0.2]);
    assert.equal(status.memPhase, 'grow');
    assert.match(guest.received[0]!, /^#\S+ status$/);
  } finally {
    await guest.close();
  }
});

test('setCpu and setMemory send the protocol lines vb-workload understands', async () => {
  const guest = await fakeGuest((id, cmd) => [cmd.startsWith('cpu') ? `${id} ok cpu=1.00,0.25` : `${id} ok ${STATUS}`]);
  try {
    const c = new WorkloadController(() => guest.socket);
    assert.deepEqual(await c.setCpu({ name: 'aos_vm1', uuid: 'x' }, [1, 0.25]), [1, 0.25]);
    await c.setMemory('aos_vm1', { rateMiBps: 40, targetMiB: 900, holdSeconds: 10 });
    await c.setMemory('aos_vm1', 'release');
    const sent = guest.received.map((l) => l.replace(/^#\S+ /, ''));
    assert.deepEqual(sent, ['cpu 1,0.25', 'mem rate=40 target=900 hold=10', 'mem release']);
  } finally {
    await guest.close();
  }
});

test('a refusal, a silent guest and a missing socket each give a WorkloadError saying so', async () => {
  const guest = await fakeGuest((id, cmd) => (cmd === 'quiet' ? undefined : [`${id} err unknown command '${cmd}'`]));
  try {
    await assert.rejects(workloadRequest(guest.socket, 'dance'), (e: unknown) => e instanceof WorkloadError && /refused 'dance': unknown command/.test(e.message));
    await assert.rejects(workloadRequest(guest.socket, 'quiet', 200), /no answer .* within 200 ms/);
    await assert.rejects(workloadRequest(path.join(os.tmpdir(), 'vb-no-such.sock'), 'status'), /no such socket/);
    assert.throws(() => workloadRequest(guest.socket, 'cpu 1\nmem release'), /one line/);
  } finally {
    await guest.close();
  }
});

test('requests to one guest are serialised (QEMU serves one client per channel)', async () => {
  const events: Array<[string, number]> = [];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-chan-'));
  const socket = path.join(dir, 's.sock');
  const server = net.createServer((conn) => {
    conn.on('data', (d) => {
      events.push(['request', Date.now()]);
      setTimeout(() => {
        events.push(['reply', Date.now()]);
        conn.write(`${d.toString().split(' ')[0]} ok pong\n`);
      }, 30);
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const c = new WorkloadController(() => socket);
    const results = await Promise.all(Array.from({ length: 4 }, () => c.ping('g')));
    assert.deepEqual(results, [true, true, true, true]);
    // Never a second request before the previous reply.
    assert.deepEqual(events.map(([k]) => k), ['request', 'reply', 'request', 'reply', 'request', 'reply', 'request', 'reply']);
  } finally {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});

test('memory schedules are validated before anything is sent', () => {
  assert.equal(memoryCommand({ rateMiBps: 0, targetMiB: 100 }), 'mem rate=0 target=100');
  assert.equal(memoryCommand({ rateMiBps: 5, targetMiB: 100, holdSeconds: 3, releaseMiBps: 20 }), 'mem rate=5 target=100 hold=3 release=20');
  assert.throws(() => memoryCommand({ rateMiBps: -1, targetMiB: 100 }), /rate/);
  assert.throws(() => memoryCommand({ rateMiBps: 1, targetMiB: Number.NaN }), /target/);
});

test('a status line missing a field is an error, not a zero', () => {
  assert.throws(() => parseStatus(STATUS.replace(' mem_mib=120', '')), /mem_mib/);
  assert.throws(() => parseStatus(STATUS.replace('mem_phase=grow', 'mem_phase=dance')), /mem_phase/);
});

test('a request whose reply is lost is sent again (with a new id) until the overall timeout', async () => {
  let n = 0;
  // Drops the first two requests, as a guest does when its reply write fails with EAGAIN.
  const guest = await fakeGuest((id) => (++n <= 2 ? undefined : [`${id} ok pong`]));
  try {
    const t0 = Date.now();
    assert.equal(await workloadRequestWithRetry(guest.socket, 'ping', 2_000, 100), 'pong');
    assert.equal(guest.received.length, 3);
    assert.equal(new Set(guest.received.map((l) => l.split(' ')[0])).size, 3, 'each attempt has its own id');
    assert.ok(Date.now() - t0 < 1_000);
  } finally {
    await guest.close();
  }
  const silent = await fakeGuest(() => undefined);
  try {
    await assert.rejects(workloadRequestWithRetry(silent.socket, 'ping', 350, 100), /within 350 ms \([3-4] attempts/);
  } finally {
    await silent.close();
  }
  // A refusal is an answer: never repeated.
  const refusing = await fakeGuest((id) => [`${id} err no`]);
  try {
    await assert.rejects(workloadRequestWithRetry(refusing.socket, 'dance', 1_000, 100), /refused/);
    assert.equal(refusing.received.length, 1);
  } finally {
    await refusing.close();
  }
});
