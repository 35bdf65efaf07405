import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario } from '../../src/host/sim/scenario.js';
import { WorkloadController } from '../../src/lab/workload-channel.js';
import { cpuLoadsOf, demandAt, memoryStep, readActions, WorkloadPlayer, type ScenarioRead } from '../../src/lab/workload-player.js';
import { diskMiBFor, planLabRun } from '../../src/lab/plan.js';
import { DEFAULT_DISK_MIB } from '../../src/lab/lab.js';

const SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url));

test('demand follows the scenario: memory-1 vm1 ramps from 90 to 2000 MiB between 10 s and 58 s', () => {
  const s = loadScenario(path.join(SCENARIOS, 'memory-1-one-consumer.yaml'));
  const vm1 = s.domains.find((d) => d.name === 'vm1')!;
  assert.equal(demandAt(vm1, 5, s.seed).usedMiB, 90);
  assert.ok(Math.abs(demandAt(vm1, 34, s.seed).usedMiB - (90 + 1910 / 2)) < 1e-6);
  assert.equal(demandAt(vm1, 65, s.seed).usedMiB, 2000);
  assert.deepEqual(demandAt(vm1, 65, s.seed).cpu, [0.3]);
});

test('a memory step moves the held memory to the next target within one tick, above the idle baseline', () => {
  const step = memoryStep({ cpu: [0], usedMiB: 500 }, { cpu: [0], usedMiB: 540 }, 2, 100);
  assert.deepEqual(step, { rateMiBps: 20, targetMiB: 440 });
  assert.equal(memoryStep({ cpu: [0], usedMiB: 60 }, { cpu: [0], usedMiB: 70 }, 1, 100).targetMiB, 0, 'never below zero');
});

test('the player sends a guest only what changed', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-player-'));
  const socket = path.join(dir, 'g.sock');
  const lines: string[] = [];
  const server = net.createServer((conn) => conn.on('data', (d) => {
    const [id, ...rest] = d.toString().trim().split(' ');
    lines.push(rest.join(' '));
    const body = rest[0] === 'cpu' ? 'cpu=0.90' : 'vcpus=1 cpu=0.90 mem_mib=0 mem_target_mib=0 mem_peak_mib=0 mem_phase=idle memtotal_kib=400000 memfree_kib=300000 memavailable_kib=297600 uptime_s=5 pid=9';
    conn.write(`${id} ok ${body}\n`);
  }));
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const s = loadScenario(path.join(SCENARIOS, 'cpu-6-phases.yaml'));
    const vm1 = s.domains.find((d) => d.name === 'vm1')!; // cpu steps 0.9 → 0.1 at 60 s, constant memory
    const player = new WorkloadPlayer(new WorkloadController(() => socket), s, [{ spec: vm1, guest: 'g1' }]);
    const baseline = (await player.measureBaselines()).get('g1')!;
    assert.ok(Math.abs(baseline - (400000 - 297600) / 1024) < 1e-9);
    lines.length = 0;
    assert.equal((await player.tick(0)).sent, 2, 'first tick sends cpu and mem');
    assert.equal((await player.tick(1)).sent, 0, 'nothing changed');
    assert.equal((await player.tick(60)).sent, 1, 'the step to 0.1 is sent');
    assert.deepEqual(lines.filter((l) => l.startsWith('cpu')), ['cpu 0.9', 'cpu 0.1']);
  } finally {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});

const SCAN: ScenarioRead = { kind: 'scan', sizeMiB: 1536, rateMiBps: 50, atSeconds: 10 };
const HOT: ScenarioRead = { kind: 'hot', sizeMiB: 600, rateMiBps: 200, atSeconds: 0, everySeconds: 10, untilSeconds: 90 };

test('reads become channel commands: a scan once at its start, a hot set at its start and off at its end', () => {
  assert.deepEqual(readActions([SCAN, HOT]), [
    { key: 'read1', at: 0, kind: 'hot', hot: { mib: 600, everySeconds: 10, rateMiBps: 200 } },
    { key: 'read0', at: 10, kind: 'scan', scan: { mib: 1536, rateMiBps: 50 } },
    { key: 'read1-end', at: 90, kind: 'hot', hot: 'off' },
  ]);
  assert.deepEqual(readActions([{ ...HOT, untilSeconds: null }]).map((a) => a.key), ['read0'], 'a hot set without an end runs on');
  const later: ScenarioRead = { ...HOT, sizeMiB: 100, atSeconds: 50, untilSeconds: 120 };
  assert.deepEqual(readActions([HOT, later]).map((a) => `${a.key}@${a.at}`), ['read0@0', 'read1@50', 'read1-end@120'],
    'the end of a hot set a later one replaced does not stop the later one');
});

test('the disk holds every scan of fresh data beside the hot set', () => {
  assert.equal(diskMiBFor([]), DEFAULT_DISK_MIB);
  assert.equal(diskMiBFor([SCAN, HOT]), DEFAULT_DISK_MIB);
  assert.equal(diskMiBFor([SCAN, { ...SCAN, sizeMiB: 8000 }, HOT]), 10240, '1536 + 8000 + 600 + 64 MiB, rounded up to whole GiB');
  assert.equal(diskMiBFor([{ ...HOT, sizeMiB: 6000 }]), 12288, 'the hot set is at most half the disk');
});

test('the player sends each read once when due, and the plan sizes the disk and says what is played', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-player-'));
  const socket = path.join(dir, 'g.sock');
  const lines: string[] = [];
  const server = net.createServer((conn) => conn.on('data', (d) => {
    const [id, ...rest] = d.toString().trim().split(' ');
    lines.push(rest.join(' '));
    const body = rest[0] === 'cpu' ? 'cpu=0.00' : 'vcpus=1 cpu=0.00 mem_mib=0 mem_target_mib=0 mem_peak_mib=0 mem_phase=idle memtotal_kib=400000 memfree_kib=300000 memavailable_kib=297600 uptime_s=5 pid=9';
    conn.write(`${id} ok ${body}\n`);
  }));
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const s = loadScenario(path.join(SCENARIOS, 'cpu-6-phases.yaml'));
    const vm1 = { ...s.domains.find((d) => d.name === 'vm1')!, reads: [SCAN, HOT, { ...SCAN, sizeMiB: 100, atSeconds: 20 }] };
    const player = new WorkloadPlayer(new WorkloadController(() => socket), s, [{ spec: vm1, guest: 'g1' }]);
    await player.measureBaselines();
    lines.length = 0;
    await player.tick(0);
    await player.tick(1);
    assert.deepEqual(lines.filter((l) => /^(scan|hot)/.test(l)), ['hot 600 every=10 rate=200']);
    assert.deepEqual((await player.tick(25)).reads, [{ guest: 'g1', command: 'scan 1536 rate=50' }, { guest: 'g1', command: 'scan 100 rate=50' }]);
    await player.tick(26);
    await player.tick(95);
    assert.deepEqual(lines.filter((l) => /^(scan|hot)/.test(l)), ['hot 600 every=10 rate=200', 'scan 1536 rate=50', 'scan 100 rate=50', 'hot off'],
      'reads due between two ticks are sent in time order, each once');

    const plan = planLabRun({ ...s, domains: [vm1] }, { prefix: 'aos_', hostPcpus: 2 });
    assert.equal(plan.guests[0]!.diskMiB, DEFAULT_DISK_MIB);
    assert.ok(plan.notes.some((n) => /file reads \(vm1\) are played by vb-workload reading the guest's virtio disk/.test(n)), plan.notes.join('\n'));
    assert.ok(plan.notes.some((n) => /vm1: scans overlap/.test(n)), 'the 100 MiB scan at 20 s starts while the 1536 MiB one (10 s + 31 s) still reads');
    assert.ok(!plan.notes.some((n) => /hot sets overlap/.test(n)));
  } finally {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bursty vCPU plays with its period: cpu-12-bursty-mix sends 0.4@N to the bursty guests, plain duties to the busy ones, and the plan says so', async () => {
  const s = loadScenario(path.join(SCENARIOS, 'cpu-12-bursty-mix.yaml'));
  // The shipped scenario's bursts are 100 ms (vb-workload's default); give one 50 ms, as a scenario may.
  const domains = s.domains.map((d) => (d.name === 'burst2' ? { ...d, cpu: [{ kind: 'bursty' as const, duty: 0.4, periodMs: 50 }] } : d));
  assert.deepEqual(demandAt(domains.find((d) => d.name === 'burst2')!, 3, s.seed), { cpu: [0.4], periodMs: [50], usedMiB: 100 });
  assert.deepEqual(cpuLoadsOf(demandAt(domains.find((d) => d.name === 'busy1')!, 3, s.seed)), [{ duty: 1 }]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-player-'));
  const sockets = new Map<string, string[]>();
  const servers: net.Server[] = [];
  for (const d of domains) {
    const lines: string[] = [];
    sockets.set(d.name, lines);
    const server = net.createServer((conn) => conn.on('data', (buf) => {
      const [id, ...rest] = buf.toString().trim().split(' ');
      lines.push(rest.join(' '));
      const body = rest[0] === 'cpu' ? `cpu=${rest[1]}` : 'vcpus=1 cpu=0.00 mem_mib=0 mem_target_mib=0 mem_peak_mib=0 mem_phase=idle memtotal_kib=400000 memfree_kib=300000 memavailable_kib=297600 uptime_s=5 pid=9';
      conn.write(`${id} ok ${body}\n`);
    }));
    await new Promise<void>((r) => server.listen(path.join(dir, `${d.name}.sock`), r));
    servers.push(server);
  }
  try {
    const player = new WorkloadPlayer(new WorkloadController((g) => path.join(dir, `${g}.sock`)), s, domains.map((spec) => ({ spec, guest: spec.name })));
    await player.tick(0);
    assert.equal((await player.tick(1)).sent, 0, 'a bursty load is sent once, not every tick');
    const cpu = (name: string) => sockets.get(name)!.filter((l) => l.startsWith('cpu'));
    assert.deepEqual(cpu('busy1'), ['cpu 1']);
    assert.deepEqual(cpu('burst1'), ['cpu 0.4'], 'a 100 ms period is vb-workload\'s default, written as before');
    assert.deepEqual(cpu('burst2'), ['cpu 0.4@50']);
    const notes = planLabRun({ ...s, domains }, { prefix: 'aos_', hostPcpus: 2 }).notes;
    assert.ok(notes.some((n) => /bursty vCPUs \(burst1 vCPU0 0\.4@100 ms, burst2 vCPU0 0\.4@50 ms\) are played by vb-workload as duty@period/.test(n)), notes.join('\n'));
  } finally {
    for (const server of servers) await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});
