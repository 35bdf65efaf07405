import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cpuCommand, formatCpuLoad, hotCommand, memoryCommand, parseCpuLoads, parseStatus, scanCommand, WorkloadController, WorkloadError, workloadRequest, workloadRequestWithRetry } from '../../src/lab/workload-channel.js';

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

test('a connection QEMU\'s channel socket cannot take yet (EAGAIN: its one pending connection taken) is tried again, not a failure', async (t) => {
  // A listener that accepts nothing for 600 ms (a backlog of one, held by a connection of our own), then answers every
  // request as the guest would: what QEMU's chardev does while its main loop is busy.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-chan-'));
  const socket = path.join(dir, 'workload.sock');
  const server = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0); print("ready", flush=True); time.sleep(0.6)',
    'while True:',
    '    c, _ = s.accept(); line = c.makefile().readline()',
    '    if line: c.sendall((line.split(" ")[0] + " ok pong\\n").encode())',
    '    c.close()',
  ].join('\n'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
  // Fill the backlog so that the next connect is refused for now.
  const held: net.Socket[] = [];
  let refused = false;
  for (let k = 0; k < 8 && !refused; k++) {
    refused = await new Promise<boolean>((resolve) => {
      const c = net.createConnection({ path: socket });
      c.once('connect', () => { held.push(c); resolve(false); });
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EAGAIN'));
    });
  }
  assert.ok(refused, 'the listener refused a connection with EAGAIN');
  await assert.rejects(workloadRequest(socket, 'ping', 300), (e: unknown) => e instanceof WorkloadError && e.again === 'busy' && /EAGAIN/.test(e.message));
  setTimeout(() => held.forEach((c) => c.destroy()), 300);
  assert.equal(await workloadRequestWithRetry(socket, 'ping', 5_000, 1_000), 'pong');
});

const DISK = 'cached_kib=3320 buffers_kib=314000 disk_mib=8192 scan_mib=300 scan_target_mib=1536 scan_phase=run hot_mib=64 hot_every_s=3.0 hot_passes=4 hot_pass_s=0.12 read_mib=556.0 read_mibps=48.7 disk_read_mib=365.0 disk_read_mibps=35.7';

test('a status with disk fields parses them; one without has no disk', () => {
  const s = parseStatus(`${STATUS} ${DISK}`);
  assert.deepEqual(s.disk, {
    diskMiB: 8192, cachedKiB: 3320, buffersKiB: 314000, scanMiB: 300, scanTargetMiB: 1536, scanPhase: 'run',
    hotMiB: 64, hotEverySeconds: 3, hotPasses: 4, hotPassSeconds: 0.12, readMiB: 556, readMiBps: 48.7, diskReadMiB: 365, diskReadMiBps: 35.7,
  });
  assert.equal(parseStatus(STATUS).disk, undefined);
  assert.throws(() => parseStatus(`${STATUS} ${DISK.replace('scan_phase=run', 'scan_phase=later')}`), /scan_phase 'later'/);
  assert.throws(() => parseStatus(`${STATUS} ${DISK.replace(/hot_passes=\d+ /, '')}`), /lacks hot_passes/);
});

test('scan and hot commands: the protocol lines, validated before anything is sent', () => {
  assert.equal(scanCommand({ mib: 1536 }), 'scan 1536');
  assert.equal(scanCommand({ mib: 1536, rateMiBps: 50 }), 'scan 1536 rate=50');
  assert.equal(scanCommand({ mib: 100, rateMiBps: 0 }), 'scan 100');
  assert.equal(scanCommand('stop'), 'scan stop');
  assert.throws(() => scanCommand({ mib: 0 }), /at least 1 MiB/);
  assert.throws(() => scanCommand({ mib: 10, rateMiBps: -1 }), /rate/);
  assert.equal(hotCommand({ mib: 600, everySeconds: 10 }), 'hot 600 every=10');
  assert.equal(hotCommand({ mib: 600, everySeconds: 10, rateMiBps: 100 }), 'hot 600 every=10 rate=100');
  assert.equal(hotCommand({ mib: 0, everySeconds: 10 }), 'hot off');
  assert.equal(hotCommand('off'), 'hot off');
  assert.throws(() => hotCommand({ mib: 600, everySeconds: 0 }), /every S > 0/);
});

test('setScan, setHot and dropCaches send those lines and return the status', async () => {
  const guest = await fakeGuest((id) => [`${id} ok ${STATUS} ${DISK}`]);
  try {
    const c = new WorkloadController(() => guest.socket);
    assert.equal((await c.setScan('aos_vm1', { mib: 1536, rateMiBps: 50 })).disk?.scanTargetMiB, 1536);
    await c.setHot('aos_vm1', { mib: 64, everySeconds: 3 });
    await c.setHot('aos_vm1', 'off');
    await c.dropCaches('aos_vm1');
    assert.deepEqual(guest.received.map((l) => l.replace(/^#\S+ /, '')), ['scan 1536 rate=50', 'hot 64 every=3', 'hot off', 'drop']);
  } finally {
    await guest.close();
  }
});

test('a status with probe fields parses them; no samples means no figures; a broken probe line is an error', () => {
  const s = parseStatus(`${STATUS} probe=on probe_samples=812 probe_p50_us=95 probe_p99_us=4210 probe_max_us=9870`);
  assert.deepEqual(s.probe, { on: true, samples: 812, p50Us: 95, p99Us: 4210, maxUs: 9870 });
  assert.deepEqual(parseStatus(`${STATUS} probe=off probe_samples=0 probe_p50_us=-1 probe_p99_us=-1 probe_max_us=-1`).probe, { on: false, samples: 0 });
  assert.equal(parseStatus(STATUS).probe, undefined);
  assert.throws(() => parseStatus(`${STATUS} probe=maybe probe_samples=0 probe_p50_us=-1 probe_p99_us=-1 probe_max_us=-1`), /probe 'maybe'/);
  assert.throws(() => parseStatus(`${STATUS} probe=on probe_samples=5 probe_p50_us=-1 probe_p99_us=-1 probe_max_us=-1`), /5 probe samples but no figures/);
  assert.throws(() => parseStatus(`${STATUS} probe=on probe_p50_us=1 probe_p99_us=1 probe_max_us=1`), /lacks probe_samples/);
});

test('cpu loads: a period per vCPU as duty@ms, the old forms unchanged, bad input refused before anything is sent', () => {
  assert.equal(cpuCommand(0.8), 'cpu 0.8');
  assert.equal(cpuCommand([1, 0.2]), 'cpu 1,0.2');
  assert.equal(cpuCommand({ duty: 0.4, periodMs: 50 }), 'cpu 0.4@50');
  assert.equal(cpuCommand([{ duty: 0.4, periodMs: 50 }, 1]), 'cpu 0.4@50,1');
  assert.equal(cpuCommand({ duty: 0.4, periodMs: 100 }), 'cpu 0.4', 'the default period is not written');
  assert.equal(cpuCommand({ duty: 0.3, periodMs: 12.5 }), 'cpu 0.3@12.5');
  assert.throws(() => cpuCommand({ duty: 0.4, periodMs: 5 }), /period must be 10\.\.60000 ms, got 5/);
  assert.throws(() => cpuCommand({ duty: 0.4, periodMs: 60_001 }), /period/);
  assert.throws(() => cpuCommand({ duty: 1.2, periodMs: 50 }), /duty must be within 0\.\.1/);
  assert.throws(() => cpuCommand([]), /at least one duty/);
  assert.deepEqual(parseCpuLoads('0.40@50,1.00'), [{ duty: 0.4, periodMs: 50 }, { duty: 1, periodMs: 100 }]);
  assert.deepEqual(parseCpuLoads('0.8'), [{ duty: 0.8, periodMs: 100 }]);
  assert.deepEqual(parseCpuLoads('0.30@12.5'), [{ duty: 0.3, periodMs: 12.5 }]);
  for (const bad of ['', '1.5', '0.4@', '0.4@5', '0.4@50@2', 'x', '0.4,,1', '@50']) assert.throws(() => parseCpuLoads(bad), RangeError, `'${bad}'`);
  assert.equal(formatCpuLoad({ duty: 0.4, periodMs: 20 }), '0.4@20');
});

test('status and setCpuLoads read each vCPU\'s period (100 ms where vb-workload writes none)', async () => {
  const status = parseStatus(STATUS.replace('cpu=0.80,0.20', 'cpu=0.80,0.40@50'));
  assert.deepEqual(status.cpu, [0.8, 0.4]);
  assert.deepEqual(status.cpuPeriodMs, [100, 50]);
  assert.deepEqual(parseStatus(STATUS).cpuPeriodMs, [100, 100]);
  assert.throws(() => parseStatus(STATUS.replace('cpu=0.80,0.20', 'cpu=0.80@1')), /workload status has cpu '0\.80@1'/);
  const guest = await fakeGuest((id, cmd) => [cmd.startsWith('cpu') ? `${id} ok cpu=0.40@50,1.00` : `${id} ok ${STATUS}`]);
  try {
    const c = new WorkloadController(() => guest.socket);
    assert.deepEqual(await c.setCpuLoads('g', [{ duty: 0.4, periodMs: 50 }, 1]), [{ duty: 0.4, periodMs: 50 }, { duty: 1, periodMs: 100 }]);
    assert.deepEqual(await c.setCpu('g', [{ duty: 0.4, periodMs: 50 }, 1]), [0.4, 1]);
    assert.deepEqual(guest.received.map((l) => l.replace(/^#\S+ /, '')), ['cpu 0.4@50,1', 'cpu 0.4@50,1']);
  } finally {
    await guest.close();
  }
});
