// Free page reporting on lab guests (issue #18): `lab up` defines its balloons with
// freePageReporting='on' unless told `--no-free-page-reporting`; `lab run` follows the scenario's
// `freePageReporting` (off unless it says on), and `--no-free-page-reporting` turns it off for
// every guest, with a note where that differs from the scenario. The library (labUp, the domain
// XML) turns it on unless told `freePageReporting: false`, as lab up does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseScenario } from '../../src/host/sim/index.js';
import { guestRequests } from '../../src/lab/lab.js';
import { planLabRun } from '../../src/lab/plan.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VIRTBALANCE_DEBUG: '' } });

test('lab up\'s alike guests carry the choice; unsaid, it is left to the default (on)', () => {
  const alike = { count: 2, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 2048, prefix: 'aos_vm' };
  assert.deepEqual(guestRequests(alike).map((r) => r.freePageReporting), [undefined, undefined]);
  assert.deepEqual(guestRequests({ ...alike, freePageReporting: false }).map((r) => r.freePageReporting), [false, false]);
  assert.deepEqual(guestRequests({ ...alike, freePageReporting: true }).map((r) => r.freePageReporting), [true, true]);
});

const scenario = parseScenario(`
name: t
controllers: [memory]
interval: 2
intervals: 5
host: { pcpus: 2, memoryMiB: 8192, overheadMiB: 512 }
domains:
  - { name: a, memoryMiB: 512 }
  - { name: b, memoryMiB: 512, freePageReporting: true }
  - { name: c, memoryMiB: 512, balloon: false }
`, 't.yaml');

test('lab run: as the scenario models it, guest by guest, with nothing to note', () => {
  const plan = planLabRun(scenario, { prefix: 'p', hostPcpus: 2 });
  assert.deepEqual(plan.guests.map((g) => [g.name, g.freePageReporting]), [['pa', false], ['pb', true], ['pc', false]]);
  assert.doesNotMatch(plan.notes.join('\n'), /free page reporting/);
  const on = planLabRun(scenario, { prefix: 'p', hostPcpus: 2, freePageReporting: true });
  assert.deepEqual(on.guests.map((g) => g.freePageReporting), [true, true, false]);
  assert.match(on.notes.join('\n'), /free page reporting is on for a, which the scenario models without it/);
});

test('lab run --no-free-page-reporting: off for every guest, and said for those the scenario models with it', () => {
  const plan = planLabRun(scenario, { prefix: 'p', hostPcpus: 2, freePageReporting: false });
  assert.deepEqual(plan.guests.map((g) => g.freePageReporting), [false, false, false]);
  const notes = plan.notes.join('\n');
  assert.match(notes, /free page reporting is off \(--no-free-page-reporting\) for b, which the scenario models with it/);
  assert.doesNotMatch(notes, /free page reporting is on/);
});

test('a CPU-only scenario gets no note about free page reporting', () => {
  const cpu = parseScenario(`
name: c
controllers: [cpu]
interval: 2
intervals: 5
host: { pcpus: 2, memoryMiB: 8192, overheadMiB: 512 }
domains:
  - { name: a, memoryMiB: 512 }
`, 'c.yaml');
  assert.doesNotMatch(planLabRun(cpu, { prefix: 'p', hostPcpus: 2 }).notes.join('\n'), /free page reporting/);
});

test('the flag is in lab up\'s help; a value given to it is one line and exit 2, before any daemon is asked', () => {
  assert.match(cli('lab', 'up', '--help').stdout, /--no-free-page-reporting/);
  for (const sub of [['up', '1'], ['run', 'lab-memory-3-guests']]) {
    const r = cli('lab', ...sub, '--no-free-page-reporting=yes', '--connect', 'qemu+unix:///system?socket=/nonexistent/vb.sock');
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`lab ${sub[0]}: .*--no-free-page-reporting`));
  }
});
