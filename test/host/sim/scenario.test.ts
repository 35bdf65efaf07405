import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario, parseScenario, ScenarioError, type Scenario } from '../../../src/host/sim/scenario.js';
import { shapeValue } from '../../../src/host/sim/workload.js';
import { UsageError } from '../../../src/ground/errors.js';

// Compiled to dist/test/host/sim/: the repository root is four levels up.
const SCENARIOS = fileURLToPath(new URL('../../../../scenarios/', import.meta.url));

function shipped(): string[] {
  return readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml')).sort();
}

test('every shipped scenario parses, and its name matches its file', () => {
  const files = shipped();
  assert.ok(files.length >= 12, `expected the shipped scenarios, found ${files.length}`);
  for (const file of files) {
    const s = loadScenario(join(SCENARIOS, file));
    assert.equal(s.name, file.replace(/\.yaml$/, ''), file);
    assert.ok(s.description.length > 20, `${file} explains itself`);
    assert.ok(s.domains.length > 0);
  }
});

test('the grader scenarios the CLI and tests rely on exist', () => {
  for (const name of ['cpu-1-balanced', 'cpu-2-all-on-pcpu0', 'cpu-3-heavy-light-random', 'memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops']) {
    assert.doesNotThrow(() => loadScenario(join(SCENARIOS, `${name}.yaml`)), name);
  }
});

const pinsOf = (s: Scenario): number[] => s.domains.map((d) => d.pin[0]![0]!);
const cpuAt0 = (s: Scenario): number[] => s.domains.map((d) => shapeValue(d.cpu[0]!, 0));

test('cpu grader cases: 8 one-vCPU guests on 4 pCPUs with the described pinning', () => {
  const balanced = loadScenario(join(SCENARIOS, 'cpu-1-balanced.yaml'));
  const allOn0 = loadScenario(join(SCENARIOS, 'cpu-2-all-on-pcpu0.yaml'));
  const heavyLight = loadScenario(join(SCENARIOS, 'cpu-3-heavy-light-random.yaml'));
  for (const s of [balanced, allOn0, heavyLight]) {
    assert.equal(s.host.pcpus, 4);
    assert.equal(s.domains.length, 8);
    assert.ok(s.domains.every((d) => d.vcpus === 1 && d.pin[0]?.length === 1));
    assert.deepEqual(s.controllers, ['cpu']);
  }
  const perPcpu = [0, 1, 2, 3].map((p) => pinsOf(balanced).filter((x) => x === p).length);
  assert.deepEqual(perPcpu, [2, 2, 2, 2]);
  assert.ok(pinsOf(allOn0).every((p) => p === 0));
  assert.ok(cpuAt0(allOn0).every((d) => d >= 0.9));
  const demands = cpuAt0(heavyLight);
  assert.equal(demands.filter((d) => d >= 0.9).length, 4);
  assert.equal(demands.filter((d) => d >= 0.1 && d <= 0.3).length, 4);
});

test('memory grader cases: 4 guests of 512 MiB, max 2048, floor 200, stats off, the host affords the consumer', () => {
  for (const name of ['memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops']) {
    const s = loadScenario(join(SCENARIOS, `${name}.yaml`));
    assert.equal(s.domains.length, 4, name);
    for (const d of s.domains) {
      assert.equal(d.memoryMiB, 512);
      assert.equal(d.maxMemoryMiB, 2048);
      assert.equal(d.floorMiB, 200);
      assert.equal(d.statsPeriod, 0, `${name} ${d.name} starts without a stats period`);
    }
    const consumers = s.domains.filter((d) => d.usedMiB.kind === 'ramp');
    const guestRoom = s.host.memoryMiB - s.host.overheadMiB - s.host.reserveMiB;
    const idle = s.domains.length - consumers.length;
    assert.ok(guestRoom >= consumers.length * 2048 + idle * 512, `${name}: host affords every consumer at its max`);
  }
});

test('the host-too-small case really is too small', () => {
  const s = loadScenario(join(SCENARIOS, 'memory-4-host-too-small.yaml'));
  const peak = s.domains.reduce((sum, d) => sum + Math.max(...(d.usedMiB.kind === 'ramp' ? d.usedMiB.points.map((p) => p[1]) : [0])), 0);
  assert.ok(peak > s.host.memoryMiB - s.host.overheadMiB - s.host.reserveMiB);
});

const BASE = `name: t
interval: 2
intervals: 10
host:
  pcpus: 4
  memoryMiB: 4096
domains:
  - name: vm1
    memoryMiB: 512
`;

/** Line (1-based) of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(index >= 0, `fixture has ${needle}`);
  return index + 1;
}

function rejects(text: string, field: string, needle: string, why: RegExp): void {
  assert.throws(
    () => parseScenario(text, 'bad.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ScenarioError, `ScenarioError, got ${String(err)}`);
      assert.ok(err instanceof UsageError, 'bad input exits 2 through the CLI');
      const line = lineOf(text, needle);
      assert.ok(err.message.startsWith(`bad.yaml:${line}: `), `names file and line ${line}: ${err.message}`);
      assert.ok(err.message.includes(field), `names field ${field}: ${err.message}`);
      assert.match(err.message, why);
      assert.equal(err.line, line);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('the minimal scenario parses with documented defaults', () => {
  const s = parseScenario(BASE, 'ok.yaml');
  const d = s.domains[0]!;
  assert.equal(s.seed, 1);
  assert.equal(s.stepMs, 100);
  assert.deepEqual(s.controllers, ['cpu', 'memory']);
  assert.equal(s.host.balloonRateMiBps, 400);
  assert.equal(d.vcpus, 1);
  assert.equal(d.maxMemoryMiB, 512);
  assert.deepEqual(d.pin, [null]);
  assert.equal(d.statsPeriod, 0);
  assert.equal(d.balloon, true);
  assert.equal(d.dedicated, false);
  assert.equal(parseScenario(BASE + '    dedicated: true\n', 'ok.yaml').domains[0]!.dedicated, true);
  assert.match(d.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('unknown keys are rejected with their path and line', () => {
  rejects(BASE + '    memoryMib: 600\n', 'domains[0].memoryMib', 'memoryMib', /unknown field 'memoryMib'/);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  cores: 8'), 'host.cores', 'cores', /unknown field/);
});

test('wrong types are rejected', () => {
  rejects(BASE.replace('pcpus: 4', 'pcpus: four'), 'host.pcpus', 'pcpus', /expected an integer, got "four"/);
  rejects(BASE + '    workload: { cpu: [0.5, high] }\n', 'domains[0].workload.cpu', 'workload', /one workload per vCPU/);
  rejects(BASE + '    vcpus: 2\n    workload: { cpu: [0.5, high] }\n', 'domains[0].workload.cpu[1]', 'workload', /expected a number/);
  rejects(BASE + '    balloon: yes please\n', 'domains[0].balloon', 'balloon', /true or false/);
  rejects(BASE + '    dedicated: 1\n', 'domains[0].dedicated', 'dedicated', /true or false/);
  rejects(BASE + '    freePageReporting: on\n', 'domains[0].freePageReporting', 'freePageReporting', /true or false/);
  rejects(BASE + '    allOnesStats: yes\n', 'domains[0].allOnesStats', 'allOnesStats', /'bytes' or 'kib'/);
  rejects(BASE + '    guestKernel: { reservedMiB: 69, minFreeMiB: 65, reserveMiB: 70 }\n', 'domains[0].guestKernel', 'guestKernel', /missing required field 'lowWatermarkMiB'/);
  rejects(BASE + '    guestKernel: { reservedMiB: 69, minFreeMiB: 65, reserveMiB: 70, lowWatermarkMiB: 51, zones: 2 }\n', 'domains[0].guestKernel.zones', 'zones', /unknown field/);
  rejects(BASE + '    allOnesStatsAt: 5\n', 'domains[0].allOnesStatsAt', 'allOnesStatsAt', /needs allOnesStats/);
});

test('out-of-range values are rejected', () => {
  rejects(BASE + '    workload:\n      cpu: 1.5\n', 'domains[0].workload.cpu', 'cpu: 1.5', /1\.5 is out of range/);
  rejects(BASE + '    pin: [5]\n', 'domains[0].pin[0]', 'pin: [5]', /pCPU 5 does not exist/);
  rejects(BASE + '    maxMemoryMiB: 256\n', 'domains[0].memoryMiB', 'memoryMiB: 512', /out of range/);
  rejects(BASE.replace('intervals: 10', 'intervals: 2.5'), 'intervals', 'intervals', /integer/);
  rejects(BASE + '    start: 10\n    stop: 5\n', 'domains[0].stop', 'stop: 5', /out of range/);
});

test('workload shapes are checked point by point', () => {
  rejects(BASE + '    workload:\n      usedMiB: { steps: [[0, 100], [0, 200]] }\n', 'domains[0].workload.usedMiB.steps[1][0]', 'steps', /must increase/);
  rejects(BASE + '    workload:\n      usedMiB: { ramp: [[0, 100, 3]] }\n', 'domains[0].workload.usedMiB.ramp[0]', 'ramp', /pair/);
  rejects(BASE + '    workload:\n      cpu: { constant: 0.5, ramp: [[0, 1]] }\n', 'domains[0].workload.cpu', 'constant', /exactly one of/);
  rejects(BASE + '    workload:\n      cpu:\n        onOff: { period: 10, onFor: 20, on: 1, off: 0 }\n', 'domains[0].workload.cpu.onOff.onFor', 'onOff', /out of range/);
});

test('missing required fields and duplicate names are rejected', () => {
  rejects(BASE.replace('    memoryMiB: 512\n', '    vcpus: 1\n'), 'domains[0]', '- name: vm1', /missing required field 'memoryMiB'/);
  rejects(BASE + '  - { name: vm1, memoryMiB: 256 }\n', 'domains[1].name', 'memoryMiB: 256', /repeats the name/);
});

test('YAML syntax errors name the line', () => {
  const text = BASE + '    pin: [0\n';
  assert.throws(
    () => parseScenario(text, 'bad.yaml'),
    (err: unknown) => err instanceof ScenarioError && err.line !== undefined && err.line >= lineOf(text, 'pin: [0') && err.message.startsWith(`bad.yaml:${err.line}: YAML syntax: `),
  );
});

test('a missing file is a clear usage error', () => {
  assert.throws(() => loadScenario('scenarios/no-such.yaml'), (err: unknown) => err instanceof UsageError && /cannot read scenario scenarios\/no-such\.yaml: no such file/.test(err.message));
});

test('pin accepts numbers, lists, cpuset strings and all', () => {
  const s = parseScenario(BASE + '    vcpus: 4\n    pin: [3, [0, 2], "1-3", all]\n', 'ok.yaml');
  assert.deepEqual(s.domains[0]!.pin, [[3], [0, 2], [1, 2, 3], null]);
});

test('YAML anchors and merge keys work for repeated domains', () => {
  const text = `name: t
interval: 1
intervals: 5
host: { pcpus: 2, memoryMiB: 2048 }
domains:
  - &guest { name: a, memoryMiB: 256, workload: { cpu: 0.5 } }
  - { <<: *guest, name: b }
`;
  const s = parseScenario(text, 'ok.yaml');
  assert.deepEqual(s.domains.map((d) => [d.name, d.memoryMiB, shapeValue(d.cpu[0]!, 0)]), [['a', 256, 0.5], ['b', 256, 0.5]]);
});

test('host.otherLoad: one host thread per entry, its pCPU checked, its load any CPU workload shape, weight 4 unless said', () => {
  const withOther = BASE.replace('  pcpus: 4', '  pcpus: 4\n  otherLoad:\n    - { pcpu: 3, load: 1.0 }\n    - { pcpu: 1, load: { onOff: { period: 10, onFor: 5, on: 0.8, off: 0 } }, weight: 2 }');
  const s = parseScenario(withOther, 'ok.yaml');
  assert.deepEqual(s.host.otherLoad!.map((o) => [o.pcpu, o.weight]), [[3, 4], [1, 2]]);
  assert.equal(shapeValue(s.host.otherLoad![1]!.load, 1), 0.8);
  assert.deepEqual(parseScenario(BASE, 'ok.yaml').host.otherLoad, []);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  otherLoad:\n    - { pcpu: 4, load: 1.0 }'), 'host.otherLoad[0].pcpu', 'pcpu: 4,', /pCPU 4 does not exist/);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  otherLoad:\n    - { pcpu: 0, load: 1.2 }'), 'host.otherLoad[0].load', 'load: 1.2', /out of range/);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  otherLoad:\n    - { pcpu: 0 }'), 'host.otherLoad[0]', 'pcpu: 0 }', /load/);
});

test('file reads parse with their defaults; cachesMiB is the boot-time cache', () => {
  const s = parseScenario(
    BASE.replace('    memoryMiB: 512\n', '    memoryMiB: 512\n    maxMemoryMiB: 2048\n') +
      '    workload:\n      cachesMiB: 40\n      reads:\n        - { scan: 1536, rate: 100, at: 10 }\n        - { hot: 600, every: 10, rate: 300, until: 120 }\n',
    'ok.yaml',
  );
  const d = s.domains[0]!;
  assert.equal(s.host.diskReadMiBps, 200, 'documented default disk rate');
  assert.equal(d.cachesMiB, 40);
  assert.deepEqual(d.reads, [
    { kind: 'scan', sizeMiB: 1536, rateMiBps: 100, atSeconds: 10 },
    { kind: 'hot', sizeMiB: 600, rateMiBps: 300, atSeconds: 0, everySeconds: 10, untilSeconds: 120 },
  ]);
  assert.deepEqual(parseScenario(BASE, 'ok.yaml').domains[0]!.reads, []);
});

test('file reads are checked field by field', () => {
  const reads = (line: string): string => `${BASE}    workload:\n      reads:\n        - ${line}\n`;
  rejects(reads('{ scan: 100 }'), 'domains[0].workload.reads[0]', 'scan: 100', /missing required field 'rate'/);
  rejects(reads('{ scan: 100, hot: 50, rate: 10 }'), 'domains[0].workload.reads[0]', 'scan: 100', /exactly one of scan, hot/);
  rejects(reads('{ rate: 10 }'), 'domains[0].workload.reads[0]', 'rate: 10', /exactly one of scan, hot/);
  rejects(reads('{ scan: 0, rate: 10 }'), 'domains[0].workload.reads[0].scan', 'scan: 0', /out of range/);
  rejects(reads('{ scan: 100, rate: -1 }'), 'domains[0].workload.reads[0].rate', 'rate: -1', /out of range/);
  rejects(reads('{ scan: 100, rate: 10, every: 5 }'), 'domains[0].workload.reads[0].every', 'every: 5', /scan reads once/);
  rejects(reads('{ hot: 100, rate: 10 }'), 'domains[0].workload.reads[0]', 'hot: 100', /needs every/);
  rejects(reads('{ hot: 100, rate: 10, every: 5, at: 20, until: 10 }'), 'domains[0].workload.reads[0].until', 'until: 10', /out of range/);
  rejects(reads('{ hot: 100, rate: 10, every: 5, size: 3 }'), 'domains[0].workload.reads[0].size', 'size: 3', /unknown field 'size'/);
  rejects(`${BASE}    workload:\n      reads: { scan: 100, rate: 10 }\n`, 'domains[0].workload.reads', 'reads:', /expected a list/);
  rejects(`${BASE}    workload:\n      cachesMiB: { ramp: [[0, 20], [10, 900]] }\n`, 'domains[0].workload.cachesMiB', 'cachesMiB', /page cache at boot.*comes from reads/);
  rejects(`${BASE}    workload:\n      cachesMiB: 600\n`, 'domains[0].workload.cachesMiB', 'cachesMiB', /out of range/);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  diskReadMiBps: 0'), 'host.diskReadMiBps', 'diskReadMiBps', /out of range/);
});

test('bursty CPU: duty, period (ms) and an optional phase, checked like the other shapes; a vCPU shape only', () => {
  const s = parseScenario(BASE + '    vcpus: 2\n    workload:\n      cpu: [{ bursty: { duty: 0.4, period: 100, phase: 30 } }, { bursty: { duty: 0.2, period: 50 } }]\n', 'ok.yaml');
  assert.deepEqual(s.domains[0]!.cpu, [
    { kind: 'bursty', duty: 0.4, periodMs: 100, phaseMs: 30 },
    { kind: 'bursty', duty: 0.2, periodMs: 50 },
  ]);
  // Its demand (the fraction of time it is runnable) is its duty.
  assert.equal(shapeValue(s.domains[0]!.cpu[0]!, 12.345), 0.4);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 1.4, period: 100 } }\n', 'domains[0].workload.cpu.bursty.duty', 'bursty', /1\.4 is out of range/);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 0.4, period: 2 } }\n', 'domains[0].workload.cpu.bursty.period', 'bursty', /2 is out of range \(must be ≥ 10/);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 0.4, period: 100, phase: 150 } }\n', 'domains[0].workload.cpu.bursty.phase', 'bursty', /out of range/);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 0.4 } }\n', 'domains[0].workload.cpu.bursty', 'bursty', /missing required field 'period'/);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 0.4, period: 100, width: 3 } }\n', 'domains[0].workload.cpu.bursty.width', 'bursty', /unknown field 'width'/);
  rejects(BASE + '    workload:\n      cpu: { bursty: { duty: 0.4, period: 100 }, noise: { sd: 0.1 } }\n', 'domains[0].workload.cpu.noise', 'bursty', /no noise/);
  rejects(BASE + '    workload:\n      usedMiB: { bursty: { duty: 0.4, period: 100 } }\n', 'domains[0].workload.usedMiB.bursty', 'bursty', /guest vCPU/);
  rejects(BASE.replace('  pcpus: 4', '  pcpus: 4\n  otherLoad:\n    - { pcpu: 0, load: { bursty: { duty: 0.4, period: 100 } } }'), 'host.otherLoad[0].load.bursty', 'bursty', /guest vCPU/);
});
