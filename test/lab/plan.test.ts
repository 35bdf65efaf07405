import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario, parseScenario } from '../../src/host/sim/index.js';
import { labCpuOptions, labMemoryOptions, mapPcpus, planLabRun, shippedScenarioByNumber } from '../../src/lab/plan.js';
import { cpuLoads, labRunScenario, parseHot, parseScan } from '../../src/cli/lab.js';
import { UsageError } from '../../src/ground/errors.js';

const SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url));

test('scenario pCPU p runs on host pCPU p mod host pCPUs, sets deduplicated', () => {
  assert.deepEqual(mapPcpus([0], 2), [0]);
  assert.deepEqual(mapPcpus([3], 2), [1]);
  assert.deepEqual(mapPcpus([2], 2), [0]);
  assert.deepEqual(mapPcpus([1, 3], 2), [1]);
  assert.deepEqual(mapPcpus([0, 1, 2, 3], 2), [0, 1]);
  assert.deepEqual(mapPcpus([5, 2], 8), [2, 5]);
});

test('cpu-3 on a 2-pCPU host: names with the prefix, pins mapped, and the mapping said in words', () => {
  const s = loadScenario(path.join(SCENARIOS, 'cpu-3-heavy-light-random.yaml'));
  const plan = planLabRun(s, { prefix: 'aos_', hostPcpus: 2 });
  assert.deepEqual(plan.guests.map((g) => g.name), ['aos_vm1', 'aos_vm2', 'aos_vm3', 'aos_vm4', 'aos_vm5', 'aos_vm6', 'aos_vm7', 'aos_vm8']);
  // Scenario pins 2,2,0,2,1,0,3,1 → 0,0,0,0,1,0,1,1 on two pCPUs.
  assert.deepEqual(plan.guests.map((g) => g.pins[0]), [[0], [0], [0], [0], [1], [0], [1], [1]]);
  const mapping = plan.notes.find((n) => n.startsWith('pCPUs:'))!;
  assert.match(mapping, /assumes 4 pCPUs, this host has 2: scenario pCPU p runs on host pCPU p mod 2 \(0→0 1→1 2→0 3→1\)/);
  assert.ok(plan.notes.some((n) => /load is not scaled: 8 vCPUs on 2 pCPUs/.test(n)));
  // Memory sizes come from the scenario unchanged.
  assert.ok(plan.guests.every((g) => g.memoryMiB === 1024 && g.maxMemoryMiB === 1024 && g.vcpus === 1));
});

test('a host with as many pCPUs keeps the pins and says so; one with more says the scheduler may use them all', () => {
  const s = loadScenario(path.join(SCENARIOS, 'lab-cpu-4-on-pcpu0.yaml'));
  const same = planLabRun(s, { prefix: 'x_', hostPcpus: 2 });
  assert.deepEqual(same.guests.map((g) => g.pins), [[[0]], [[0]], [[0]], [[0]]]);
  assert.match(same.notes[0]!, /2 on the host, as the scenario assumes/);
  const bigger = planLabRun(s, { prefix: 'x_', hostPcpus: 8 });
  assert.match(bigger.notes[0]!, /pins are kept, unpinned vCPUs and the scheduler may use all 8/);
});

test('what the lab does not reproduce is listed: weights, page cache, late starts, stats stopping, no stats period', () => {
  const s = parseScenario(`
name: t
controllers: [cpu, memory]
interval: 2
intervals: 5
host: { pcpus: 4, memoryMiB: 8192, overheadMiB: 512 }
domains:
  - { name: a, memoryMiB: 512, weight: 2, workload: { cachesMiB: 40 } }
  - { name: b, memoryMiB: 512, start: 10, statsPeriod: 1, statsStopAt: 20 }
`, 't.yaml');
  const notes = planLabRun(s, { prefix: 'p', hostPcpus: 2, hostMemoryMiB: 20000 }).notes.join('\n');
  assert.match(notes, /CPU weights are not reproduced \(a\)/);
  assert.match(notes, /page cache given directly \(cachesMiB of a\) is not reproduced/);
  assert.match(notes, /pb at 10 s/);
  assert.match(notes, /stats stopping \(b at 20 s\)/);
  assert.match(notes, /a boot without a balloon stats period/);
  assert.match(notes, /host memory is this host's \(20000 MiB/);
});

test('memory options carry the scenario floors under the lab names', () => {
  const s = loadScenario(path.join(SCENARIOS, 'memory-1-one-consumer.yaml'));
  const o = labMemoryOptions(s, 'aos_');
  assert.equal(o.floorsMiB.aos_vm1, 200);
  assert.equal(o.floorsMiB.vm1, undefined);
  assert.equal(o.reserveMiB, 512);
});

test('cpu options name the scenario\'s dedicated guests under the lab names', () => {
  const s = loadScenario(path.join(SCENARIOS, 'cpu-11-dedicated.yaml'));
  assert.deepEqual(labCpuOptions(s, 'aos_').dedicated, ['aos_db']);
  assert.deepEqual(labCpuOptions(loadScenario(path.join(SCENARIOS, 'cpu-2-all-on-pcpu0.yaml')), 'aos_').dedicated, []);
});

test('lab run cpu 2 / memory 1 find the shipped grader cases; anything else is a usage error', () => {
  assert.match(shippedScenarioByNumber(SCENARIOS, 'cpu', '2')!, /cpu-2-all-on-pcpu0\.yaml$/);
  assert.match(shippedScenarioByNumber(SCENARIOS, 'cpu', '1')!, /\/cpu-1-balanced\.yaml$/, 'the grader\'s case, not its noisy variant');
  assert.match(labRunScenario(['memory', '1']), /memory-1-one-consumer\.yaml$/);
  assert.match(labRunScenario(['lab-cpu-4-on-pcpu0']), /lab-cpu-4-on-pcpu0\.yaml$/);
  assert.equal(shippedScenarioByNumber(SCENARIOS, 'cpu', '99'), undefined);
  assert.equal(shippedScenarioByNumber(SCENARIOS, 'disk', '1'), undefined);
  assert.throws(() => labRunScenario(['cpu', '99']), (e: unknown) => e instanceof UsageError && /no shipped scenario 'cpu 99'/.test(e.message));
  assert.throws(() => labRunScenario([]), UsageError);
  assert.throws(() => labRunScenario(['no-such-scenario']), UsageError);
});

test('lab workload scan/hot arguments: sizes, rates, periods, and one clear error for anything else', () => {
  assert.deepEqual(parseScan(['1536', 'rate=50']), { mib: 1536, rateMiBps: 50 });
  assert.deepEqual(parseScan(['200']), { mib: 200 });
  assert.equal(parseScan(['stop']), 'stop');
  assert.deepEqual(parseHot(['600', 'every=10']), { mib: 600, everySeconds: 10 });
  assert.deepEqual(parseHot(['64', 'every=3', 'rate=100']), { mib: 64, everySeconds: 3, rateMiBps: 100 });
  assert.equal(parseHot(['off']), 'off');
  assert.throws(() => parseScan(['lots']), UsageError);
  assert.throws(() => parseScan(['100', 'speed=3']), /unknown 'speed=3' \(rate=\)/);
  assert.throws(() => parseHot(['600']), /needs every=<seconds>/);
  assert.throws(() => parseHot(['600', 'every=0']), UsageError);
});

test('lab workload cpu / lab up --cpu: duty@period per vCPU, one usage error for anything else', () => {
  assert.deepEqual(cpuLoads('1,0.4@50', 'cpu duty'), [{ duty: 1, periodMs: 100 }, { duty: 0.4, periodMs: 50 }]);
  assert.deepEqual(cpuLoads('0.8', '--cpu'), [{ duty: 0.8, periodMs: 100 }]);
  assert.throws(() => cpuLoads('0.4@5', '--cpu'), (e: unknown) => e instanceof UsageError && /^--cpu: period must be a number of ms from 10 to 60000, got '0.4@5'$/.test(e.message));
  assert.throws(() => cpuLoads('2', 'cpu duty'), (e: unknown) => e instanceof UsageError && /duty must be a number from 0 to 1/.test(e.message));
});

test('the shipped cache scenarios: reads are played on the guests\' disks, boot-time cache is said not to be', () => {
  const s = loadScenario(path.join(SCENARIOS, 'cache-2-hot.yaml'));
  const plan = planLabRun(s, { prefix: 'aos_', hostPcpus: 2 });
  assert.deepEqual(plan.guests.map((g) => g.diskMiB), [8192, 8192, 8192]);
  const notes = plan.notes.join('\n');
  assert.match(notes, /file reads \(vm1, vm2\) are played by vb-workload reading the guest's virtio disk .* the simulated disk's speed \(200 MiB\/s\) is not reproduced/);
  assert.match(notes, /page cache given directly \(cachesMiB of vm2, vm3\) is not reproduced/);
  assert.doesNotMatch(notes, /overlap/);
});

test('virtio-mem scenarios: a domain with memoryDevice becomes a lab guest with that device; its rates and outside requests are said not to be reproduced', () => {
  const one = planLabRun(loadScenario(path.join(SCENARIOS, 'vmem-1-grow-then-idle.yaml')), { prefix: 'aos_', hostPcpus: 2 });
  assert.deepEqual(one.guests.map((g) => [g.name, g.memoryMiB, g.maxMemoryMiB, g.virtioMem]), [
    ['aos_vm1', 512, 512, { sizeMiB: 3072, blockMiB: 2, requestedMiB: 0 }],
    ['aos_vm2', 512, 2048, undefined],
    ['aos_vm3', 512, 2048, undefined],
  ]);
  assert.match(one.notes.join('\n'), /virtio-mem \(vm1 512 MiB \+ 3072 MiB \(0 plugged at boot\)\): real devices, .* at the real guest's speed, not the simulator's default rates/);
  assert.doesNotMatch(one.notes.join('\n'), /requests someone else makes/);
  const two = planLabRun(loadScenario(path.join(SCENARIOS, 'vmem-2-partial-unplug.yaml')), { prefix: 'aos_', hostPcpus: 2 });
  assert.match(two.notes.join('\n'), /virtio-mem requests someone else makes \(memoryDevice\.requests of vm1\) are not played/);
  const plain = planLabRun(loadScenario(path.join(SCENARIOS, 'cache-2-hot.yaml')), { prefix: 'aos_', hostPcpus: 2 });
  assert.ok(plain.guests.every((g) => g.virtioMem === undefined));
  assert.doesNotMatch(plain.notes.join('\n'), /virtio-mem/);
});
