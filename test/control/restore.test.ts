// --restore: pins and balloon sizes found at start are put back, within the memory safety rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureStartState, planRestore, restoreStartState, type RestoreOptions } from '../../src/control/restore.js';
import { runControlLoop } from '../../src/control/loop.js';
import { memoryOptionsFor } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { defaultMemoryOptions } from '../../src/memory/options.js';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import type { DomainObservation, HostObservation } from '../../src/ground/hypervisor.js';
import type { SetMemoryAction } from '../../src/ground/actions.js';
import { shippedScenariosDir } from '../../src/app/target.js';

const MiB = 1024;

function domain(name: string, affinity: number[][], balloon?: { current: number; max?: number; unused?: number }, state: DomainObservation['state'] = 'running'): DomainObservation {
  return {
    name,
    uuid: `uuid-${name}`,
    state,
    vcpus: affinity.map((a, index) => ({ index, timeNs: 0, affinity: a })),
    ...(balloon ? { balloon: { currentKiB: balloon.current * MiB, maximumKiB: (balloon.max ?? 4096) * MiB, ...(balloon.unused !== undefined ? { unusedKiB: balloon.unused * MiB } : {}) } } : {}),
  };
}

function host(freeMiB: number, domains: DomainObservation[]): HostObservation {
  return { timeNs: 0, host: { hostname: 'h', pcpus: 4, memoryTotalKiB: 16384 * MiB, memoryFreeKiB: freeMiB * MiB }, domains };
}

const both: RestoreOptions = { pins: true, balloons: true, memory: { ...defaultMemoryOptions, floorMiB: 200, reserveMiB: 1024 } };

test('plan: changed pins go back, unchanged ones are left; shrinks first, grows after', () => {
  const start = captureStartState(host(8000, [domain('a', [[0], [0, 1, 2, 3]], { current: 1024 }), domain('b', [[1]], { current: 512 })]));
  const now = host(6000, [domain('a', [[2], [0, 1, 2, 3]], { current: 512, unused: 200 }), domain('b', [[1]], { current: 1536, unused: 1300 })]);
  const plan = planRestore(start, now, both);
  assert.deepEqual(plan.actions.map((a) => a.kind), ['set-memory', 'pin', 'set-memory']);
  const [shrink, pin, grow] = plan.actions;
  assert.equal(shrink!.domain.name, 'b');
  assert.equal((shrink as SetMemoryAction).targetKiB, 512 * MiB);
  assert.deepEqual(pin, { kind: 'pin', domain: { name: 'a', uuid: 'uuid-a' }, vcpu: 0, pcpus: [0], previous: [2], reason: 'restore: the pin found at start' });
  assert.equal(grow!.domain.name, 'a');
  assert.equal((grow as SetMemoryAction).targetKiB, 1024 * MiB);
});

test('plan: never shrinks below what the guest uses plus its floor, nor without statistics', () => {
  const start = captureStartState(host(8000, [domain('a', [[0]], { current: 512 }), domain('b', [[0]], { current: 512 })]));
  // a now uses 1536 − 400 = 1136 MiB: back to 512 would start its OOM killer.
  const now = host(6000, [domain('a', [[0]], { current: 1536, unused: 400 }), domain('b', [[0]], { current: 1536 })]);
  const plan = planRestore(start, now, both);
  assert.equal(plan.actions.length, 1);
  assert.equal((plan.actions[0] as SetMemoryAction).targetKiB, (1136 + 200) * MiB);
  assert.ok(plan.notes.some((n) => n.startsWith('a: shrunk back to 1336 MiB, not 512 MiB')), plan.notes.join('\n'));
  assert.ok(plan.notes.some((n) => n.startsWith('b: not shrunk back') && n.includes('no balloon statistics')), plan.notes.join('\n'));
});

test('plan: grows back only as far as the host stays above its reserve; gone and paused domains are left', () => {
  const start = captureStartState(host(8000, [domain('a', [[0]], { current: 2048 }), domain('gone', [[0]], { current: 512 }), domain('p', [[0]], { current: 1024 })]));
  const now = host(1536, [domain('a', [[0]], { current: 512, unused: 300 }), domain('p', [[1]], { current: 512, unused: 300 }, 'paused')]);
  const plan = planRestore(start, now, both);
  assert.equal(plan.actions.length, 1);
  assert.equal((plan.actions[0] as SetMemoryAction).targetKiB, (512 + 512) * MiB);
  assert.ok(plan.notes.some((n) => n.startsWith('a: grown back to 1024 MiB, not 2048 MiB')), plan.notes.join('\n'));
  assert.ok(plan.notes.some((n) => n.startsWith('gone: no longer runs here')));
  assert.ok(plan.notes.some((n) => n.startsWith('p: paused')));
});

test('plan: a domain with a job under way (a migration, a save) is left as it is, with a note', () => {
  const start = captureStartState(host(8000, [domain('a', [[0]], { current: 1024 })]));
  const now = host(8000, [{ ...domain('a', [[2]], { current: 512, unused: 100 }), job: 'outgoing migration' }]);
  const plan = planRestore(start, now, both);
  assert.deepEqual(plan.actions, []);
  assert.deepEqual(plan.notes, ['a: outgoing migration job under way, left as it is']);
});

test('plan: only what the controllers that ran changed (pins for the vCPU scheduler, balloons for the memory coordinator)', () => {
  const start = captureStartState(host(8000, [domain('a', [[0]], { current: 1024 })]));
  const now = host(8000, [domain('a', [[3]], { current: 512, unused: 300 })]);
  assert.deepEqual(planRestore(start, now, { ...both, balloons: false }).actions.map((a) => a.kind), ['pin']);
  assert.deepEqual(planRestore(start, now, { ...both, pins: false }).actions.map((a) => a.kind), ['set-memory']);
});

test('on the simulated host: after a run that re-pinned everything, restore puts every pin back', async () => {
  const scenario = loadScenario(join(shippedScenariosDir, 'cpu-2-all-on-pcpu0.yaml'));
  const run = createSimulatedHost(scenario);
  let start: ReturnType<typeof captureStartState> | undefined;
  let pins = 0;
  await runControlLoop(run.hypervisor, run.clock, { intervalSeconds: 2, cpu: { ...defaultCpuSchedulerOptions }, intervals: 6 }, {
    record: (e) => void (pins += e.actions.filter((a) => a.kind === 'pin').length),
    observed: (o) => void (start ??= captureStartState(o)),
  });
  assert.ok(pins >= 6, `the scheduler re-pinned ${pins} vCPUs`);
  const lines: string[] = [];
  const outcome = await restoreStartState(run.hypervisor, start!, { ...both, balloons: false }, (l) => lines.push(l));
  assert.equal(outcome.failed, 0);
  assert.ok(outcome.applied >= 6);
  const after = await run.hypervisor.observe();
  for (const d of after.domains) assert.deepEqual(d.vcpus[0]!.affinity, [0], d.name);
  assert.match(lines.at(-1)!, /put back/);
});

test('on the simulated host: balloons go back to their start sizes except where the guest now needs more', async () => {
  const scenario = loadScenario(join(shippedScenariosDir, 'memory-1-one-consumer.yaml'));
  const run = createSimulatedHost(scenario);
  const memory = memoryOptionsFor(scenario);
  let start: ReturnType<typeof captureStartState> | undefined;
  // Stop while vm1 holds ~2000 MiB: it must not be shrunk back to 512 MiB.
  await runControlLoop(run.hypervisor, run.clock, { intervalSeconds: 2, memory, intervals: 32 }, {
    record: () => {},
    observed: (o) => void (start ??= captureStartState(o)),
  });
  const lines: string[] = [];
  const options: RestoreOptions = { pins: false, balloons: true, memory };
  const outcome = await restoreStartState(run.hypervisor, start!, options, (l) => lines.push(l));
  assert.equal(outcome.failed, 0, lines.join('\n'));
  run.clock.sleep(10_000);
  const truth = run.truth();
  assert.equal(truth.oomEvents.length, 0, 'restore caused no OOM');
  const vm1 = truth.domains.find((d) => d.name === 'vm1')!;
  assert.ok(vm1.actualMiB >= vm1.usedDemandMiB + 199, `vm1 ${vm1.actualMiB} MiB for ${vm1.usedDemandMiB} MiB used`);
  for (const name of ['vm2', 'vm3', 'vm4']) {
    const d = truth.domains.find((x) => x.name === name)!;
    assert.ok(Math.abs(d.targetMiB - 512) <= 1, `${name} target ${d.targetMiB} MiB`);
  }
});

test('plan: a virtio-mem guest keeps what is plugged (said so); its balloon goes back to what it held at start, above plugged', () => {
  const device = (plugged: number) => ({ bootKiB: 512 * MiB, sizeKiB: 3072 * MiB, blockKiB: 2 * MiB, requestedKiB: plugged * MiB, currentKiB: plugged * MiB, devices: 1 }) as NonNullable<DomainObservation['memoryDevice']>;
  // At start: nothing plugged, the balloon holding 100 MiB of the 512 MiB boot memory.
  const start = captureStartState(host(8000, [{ ...domain('v', [[0]], { current: 412, max: 512 }), memoryDevice: device(0) }]));
  // Now: 1500 MiB plugged, the balloon deflated.
  const now = host(6000, [{ ...domain('v', [[0]], { current: 2012, max: 2012, unused: 1000 }), memoryDevice: device(1500) }]);
  const plan = planRestore(start, now, both);
  assert.ok(plan.notes.some((n) => /1500 MiB of plugged virtio-mem memory left as it is/.test(n)), plan.notes.join('\n'));
  assert.ok(plan.actions.every((a) => a.kind !== 'resize-memory-device'), 'nothing unplugged');
  const [shrink] = plan.actions.filter((a): a is SetMemoryAction => a.kind === 'set-memory');
  assert.equal(shrink!.targetKiB, 1912 * MiB, 'holds 100 MiB again, above the 1500 MiB plugged');
});
