// Domains that move, and guests someone else owns (issue #20, part 3), on the simulated host with the
// real control loop: scenario mixed-2-moves (migrateOut / migrateIn events with job phases, a guest
// whose definition pins its vCPUs, a hugepage-backed guest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScenario } from '../../src/host/sim/scenario.js';
import { runScenario, shipped } from '../hardening/harness.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { stalledDomains } from '../../src/lab/mixed-case.js';

const count = (logs: string[], re: RegExp): number => logs.filter((l) => re.test(l)).length;
const seconds = (e: TraceInterval): number => e.timeMs / 1000;
const on = (e: TraceInterval, name: string) => e.actions.filter((a) => a.domain.name === name);

test('mixed-2-moves: no action reaches vm1 during its jobs or while away; it is managed afresh after; each move said once; nothing fails', async () => {
  const run = await runScenario(shipped('mixed-2-moves'));
  assert.equal(run.entries.length, 90);
  // Outgoing job 40-50 s, away 50-100 s, incoming job 100-106 s.
  for (const e of run.entries) {
    if (seconds(e) >= 40 && seconds(e) < 106) assert.deepEqual(on(e, 'vm1'), [], `an action on vm1 at ${seconds(e)} s`);
  }
  // Nor did the simulator see one (every call is counted by its truth; vm1's jobs are the only quiet time it has).
  assert.deepEqual(run.entries.flatMap((e) => e.failures), []);
  assert.deepEqual(run.entries.flatMap((e) => e.unapplied ?? []), []);
  for (const [re, what] of [
    [/^vm1: outgoing migration job under way: left alone \(not pinned, not ballooned\) until it ends$/, 'outgoing job'],
    [/^vm1: moved away \(during its outgoing migration job\): forgotten until it comes back$/, 'moved away'],
    [/^vm1: back \(running, id \d+: moved back, restored or restarted\): starts afresh$/, 'back'],
    [/^vm1: incoming migration job under way: left alone/, 'incoming job'],
    [/^vm1: incoming migration job ended: managed again, afresh$/, 'incoming job ended'],
  ] as const) assert.equal(count(run.logs, re), 1, `${what}:\n${run.logs.join('\n')}`);
  assert.equal(count(run.logs, /^vm1: (gone|appeared|paused|running again)/), 0, run.logs.join('\n'));
  // Managed again after its incoming job: the vCPU scheduler moves it off pCPU 0, where it arrived with its defined pins.
  const after = run.entries.filter((e) => seconds(e) >= 106);
  assert.ok(after.some((e) => on(e, 'vm1').some((a) => a.kind === 'pin')), 'vm1 is re-pinned after it came back');
  // Its measurement starts afresh: no reading compares counters across the move.
  for (const e of run.entries) {
    for (const v of e.cpu?.vcpus ?? []) {
      if (v.domain !== 'vm1') continue;
      assert.ok(seconds(e) < 40 || seconds(e) >= 106, `vm1 measured at ${seconds(e)} s, during its job or away`);
      assert.ok(v.usage >= 0 && v.usage <= 1.01, `vm1 vCPU${v.vcpu} usage ${v.usage} at ${seconds(e)} s`);
    }
  }
  assert.equal(run.truths.reduce((n, t) => n + t.oomEvents.length, 0), 0);
});

test('mixed-2-moves: the guest whose definition pins its vCPUs keeps its pins, the hugepage-backed guest is not ballooned; each said once', async () => {
  const run = await runScenario(shipped('mixed-2-moves'));
  const all = run.entries.flatMap((e) => e.actions);
  assert.deepEqual(all.filter((a) => a.domain.name === 'vm2' && a.kind === 'pin'), [], 'vm2 re-pinned');
  assert.deepEqual(all.filter((a) => a.domain.name === 'vm3' && a.kind === 'set-memory'), [], 'vm3 ballooned');
  // The other controller still manages each: vm2's balloon, vm3's placement.
  assert.ok(all.some((a) => a.domain.name === 'vm2' && a.kind === 'set-memory'), 'vm2 is still ballooned');
  assert.equal(count(run.logs, /^vm2: its definition pins its vCPUs \(<cputune><vcpupin>\): left to its own pins/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^vm3: hugepage-backed \(<memoryBacking><hugepages\/>\): not ballooned/), 1, run.logs.join('\n'));
  const end = await run.sim.hypervisor.observe();
  assert.deepEqual(end.domains.find((d) => d.name === 'vm2')!.vcpus.map((v) => v.affinity), [[0], [0]]);
  assert.equal(end.domains.find((d) => d.name === 'vm3')!.balloon!.currentKiB, 2048 * 1024);
});

test('manageDefinitionPins (config cpu.definitionPins: manage): the vCPU scheduler re-pins a guest whose definition pins it, and says nothing of it', async () => {
  const run = await runScenario(shipped('mixed-2-moves'), { loop: { manageDefinitionPins: true } });
  assert.ok(run.entries.some((e) => on(e, 'vm2').some((a) => a.kind === 'pin')), 'vm2 re-pinned');
  assert.equal(count(run.logs, /^vm2: its definition pins/), 0);
});

test('a domain that leaves and comes back between two observations (a new id): said once as started anew, forgotten, measured afresh', async () => {
  const scenario = shipped('mixed-2-moves');
  const vm1 = scenario.domains.find((d) => d.name === 'vm1')!;
  vm1.moves = [{ kind: 'migrateOut', atSeconds: 40.5, jobSeconds: 0 }, { kind: 'migrateIn', atSeconds: 41, jobSeconds: 0 }];
  const run = await runScenario(scenario, { intervals: 40 });
  assert.equal(count(run.logs, /^vm1: started anew \(id 1 → 5: restored, moved back or restarted\): starts afresh$/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^vm1: (gone|appeared|back)/), 0, run.logs.join('\n'));
  assert.deepEqual(run.entries.flatMap((e) => e.failures), []);
  const at42 = run.entries.find((e) => seconds(e) === 42)!;
  assert.ok(!(at42.cpu?.vcpus ?? []).some((v) => v.domain === 'vm1'), 'vm1 not measured across its restart');
  for (const e of run.entries) for (const v of e.cpu?.vcpus ?? []) if (v.domain === 'vm1') assert.ok(v.usage >= 0 && v.usage <= 1.01, `usage ${v.usage} at ${seconds(e)} s`);
});

test('a guest whose QEMU does not answer (LibvirtHost marks it unanswered) is left alone by both controllers, said once; managed afresh when it answers', async () => {
  // mixed-1-lifecycle: vm1 and vm2 start on pCPU 0, both ballooned; vm2 does not answer for its first 30 s.
  const run = await runScenario(shipped('mixed-1-lifecycle'), {
    intervals: 40,
    wrap: (sim) => new Proxy(sim.hypervisor, {
      get(target, prop) {
        if (prop === 'observe') {
          return async () => {
            const observation = await target.observe();
            if (sim.clock.nowMs() < 30_000) for (const d of observation.domains) if (d.name === 'vm2') d.unanswered = true;
            return observation;
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }),
  });
  const before = run.entries.filter((e) => seconds(e) < 30);
  const after = run.entries.filter((e) => seconds(e) >= 30);
  assert.deepEqual(before.flatMap((e) => on(e, 'vm2')), [], 'an action reached vm2 while it did not answer');
  assert.ok(before.some((e) => on(e, 'vm1').length > 0), 'vm1 is managed meanwhile');
  assert.equal(count(run.logs, /^vm2: its QEMU does not answer .*left alone \(not pinned, not ballooned\) until it answers$/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^vm2: its QEMU answers again: managed again, afresh$/), 1, run.logs.join('\n'));
  assert.ok(after.some((e) => on(e, 'vm2').some((a) => a.kind === 'pin')), 'vm2 is re-pinned once it answers');
  assert.deepEqual(run.entries.flatMap((e) => e.failures), []);
  for (const e of before) assert.ok(!(e.cpu?.vcpus ?? []).some((v) => v.domain === 'vm2'), `vm2 measured at ${seconds(e)} s`);
  // The lab bench marks a round whose trace says so (its figure is the stall's too).
  assert.deepEqual(stalledDomains(run.entries), ['vm2']);
  assert.deepEqual(stalledDomains(after), []);
});

test('scenario moves: out and in alternate, out first, in time order, within the domain\'s life; definitionPins needs pins', () => {
  const base = (moves: string, extra = '') => `name: t\ndescription: t\ncontrollers: [cpu]\ninterval: 2\nintervals: 10\nhost: { pcpus: 2, memoryMiB: 4096 }\ndomains:\n  - name: a\n    vcpus: 1\n    memoryMiB: 512\n${extra}    moves: ${moves}\n`;
  const ok = parseScenario(base('[{ migrateOut: 10, job: 5 }, { migrateIn: 20 }]'), 't.yaml');
  assert.deepEqual(ok.domains[0]!.moves, [{ kind: 'migrateOut', atSeconds: 10, jobSeconds: 5 }, { kind: 'migrateIn', atSeconds: 20, jobSeconds: 0 }]);
  assert.throws(() => parseScenario(base('[{ migrateIn: 10 }]'), 't.yaml'), /t\.yaml:\d+: domains\[0\]\.moves\[0\]\.migrateIn: expected migrateOut: moves alternate, the first one out/);
  assert.throws(() => parseScenario(base('[{ migrateOut: 10, job: 5 }, { migrateIn: 12 }]'), 't.yaml'), /moves\[1\]\.migrateIn: .*> 15/);
  assert.throws(() => parseScenario(base('[{ migrateOut: 10, migrateIn: 12 }]'), 't.yaml'), /exactly one of migrateOut, migrateIn/);
  assert.throws(() => parseScenario(base('[{ migrateOut: 30 }]', '    stop: 20\n'), 't.yaml'), /moves\[0\]\.migrateOut: .*≤ 20/);
  assert.throws(() => parseScenario(base('[{ migrateOut: 10 }]', '    definitionPins: true\n'), 't.yaml'), /definitionPins: the definition pins its vCPUs: give them in pin/);
});
