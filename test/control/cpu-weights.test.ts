// Configured CPU weights kept on the domains as they appear (src/cpu/weights.ts, kept by the vCPU
// scheduler's controller), set through the control loop on the simulated host, and put back by --restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuWeightKeeper } from './weight-keeper.js';
import { runControlLoop, type ControllersRestore } from '../../src/control/loop.js';
import { restoreChangedWeights } from '../../src/cpu/weights.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { planRestore, restoreStartState, captureStartState } from '../../src/control/restore.js';
import { defaultMemoryOptions } from '../../src/memory/options.js';
import { parseScenario } from '../../src/host/sim/scenario.js';
import { createSimulatedHost } from '../../src/host/sim/simulated-host.js';
import { ScopedHypervisor } from '../../src/host/scoped-host.js';
import type { DomainObservation, HostObservation } from '../../src/ground/hypervisor.js';
import type { SetCpuWeightAction } from '../../src/ground/actions.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';

const host = { hostname: 'h', pcpus: 2, memoryTotalKiB: 1 << 22, memoryFreeKiB: 1 << 21 };
const dom = (name: string, uuid: string, cpuWeight?: number, state: DomainObservation['state'] = 'running'): DomainObservation => ({
  name,
  uuid,
  state,
  vcpus: [{ index: 0, timeNs: 0, affinity: [0, 1] }],
  ...(cpuWeight !== undefined ? { cpuWeight } : {}),
});
const obs = (...domains: DomainObservation[]): HostObservation => ({ timeNs: 0, host, domains });
const summary = (actions: SetCpuWeightAction[]) => actions.map((a) => `${a.domain.name} ${a.previous}->${a.weight}`);

test('weights: set once per appearance of a configured domain, never on one not configured; a reset under us (restart) is set again once', () => {
  const keeper = new CpuWeightKeeper({ db: 3, web: 2 });
  // db already runs; web is not running yet; other is not configured.
  assert.deepEqual(summary(keeper.plan(obs(dom('db', 'u-db'), dom('other', 'u-o')))), ['db 1->3']);
  keeper.settle([], [], false);
  assert.deepEqual(summary(keeper.plan(obs(dom('db', 'u-db', 3), dom('other', 'u-o')))), [], 'set and observed back: nothing more');
  // web starts later: its weight is set when it first appears, with a reason saying so.
  const later = keeper.plan(obs(dom('db', 'u-db', 3), dom('web', 'u-web')));
  assert.deepEqual(summary(later), ['web 1->2']);
  assert.deepEqual(later[0]!.why, { rule: 'configured', from: 1, to: 2, figures: { trigger: { event: 'first-seen' }, leverAskedNoMore: false } });
  // The host does not keep web's weight: not set again within the same appearance.
  assert.deepEqual(summary(keeper.plan(obs(dom('db', 'u-db', 3), dom('web', 'u-web')))), []);
  assert.deepEqual(summary(keeper.plan(obs(dom('db', 'u-db', 3), dom('web', 'u-web')))), []);
  // db restarted between two observations: its cpu_shares are back to the default: set again, once.
  const again = keeper.plan(obs(dom('db', 'u-db'), dom('web', 'u-web')));
  assert.deepEqual(summary(again), ['db 1->3']);
  assert.deepEqual(again[0]!.why?.rule === 'configured' && again[0]!.why.figures.trigger, { event: 'changed-elsewhere', wanted: 3, observed: 1 });
  // db gone, then running again (same UUID): a new appearance.
  assert.deepEqual(summary(keeper.plan(obs(dom('web', 'u-web')))), []);
  const back = keeper.plan(obs(dom('db', 'u-db'), dom('web', 'u-web')));
  assert.deepEqual(summary(back), ['db 1->3']);
  assert.deepEqual(back[0]!.why?.rule === 'configured' && back[0]!.why.figures.trigger, { event: 'running-again' });
  // A domain that already has its weight is left alone; a paused one waits until it runs.
  const k2 = new CpuWeightKeeper({ a: 2, b: 2 });
  assert.deepEqual(summary(k2.plan(obs(dom('a', 'u-a', 2), dom('b', 'u-b', undefined, 'paused')))), []);
  assert.deepEqual(summary(k2.plan(obs(dom('a', 'u-a', 2), dom('b', 'u-b')))), ['b 1->2']);
});

test('weights: a domain restarted right after our change (before we saw the weight take) is set again: its vCPU time began again', () => {
  const keeper = new CpuWeightKeeper({ db: 3 });
  const timed = (timeNs: number, cpuWeight?: number): DomainObservation => ({ ...dom('db', 'u-db', cpuWeight), vcpus: [{ index: 0, timeNs, affinity: [0, 1] }] });
  const first = keeper.plan(obs(timed(40e9)));
  assert.deepEqual(summary(first), ['db 1->3']);
  keeper.settle(first, [], false);
  // Destroyed and started between two observations: default cpu_shares, vCPU time from zero.
  const again = keeper.plan(obs(timed(0.3e9)));
  assert.deepEqual(summary(again), ['db 1->3']);
  assert.deepEqual(again[0]!.why?.rule === 'configured' && again[0]!.why.figures.trigger, { event: 'restarted' });
  keeper.settle(again, [], false);
  // Its time grows and the host keeps 1: not fought over within this appearance.
  assert.deepEqual(summary(keeper.plan(obs(timed(1.3e9)))), []);
  assert.deepEqual(summary(keeper.plan(obs(timed(2.3e9, 3)))), []);
  // A run so short that the next one's vCPU time is already past it (CI: set at 1.5 s, destroyed, started, seen at
  // 1.8 s): its new id tells the restart.
  const k2 = new CpuWeightKeeper({ db: 3 });
  const run = (id: number, timeNs: number, cpuWeight?: number): DomainObservation => ({ ...timed(timeNs, cpuWeight), id });
  const set = k2.plan(obs(run(89, 1.5e9)));
  assert.deepEqual(summary(set), ['db 1->3']);
  k2.settle(set, [], false);
  const restarted = k2.plan(obs(run(90, 1.8e9)));
  assert.deepEqual(summary(restarted), ['db 1->3']);
  assert.deepEqual(restarted[0]!.why?.rule === 'configured' && restarted[0]!.why.figures.trigger, { event: 'restarted' });
  k2.settle(restarted, [], false);
  assert.deepEqual(summary(k2.plan(obs(run(90, 2.8e9, 3)))), []);
});

test('weights: what each domain had before our first change is remembered; a failed or dry-run change is not; a change never made restores nothing', () => {
  const keeper = new CpuWeightKeeper({ db: 3, web: 2, ro: 4 });
  const first = keeper.plan(obs(dom('db', 'u-db', 0.5), dom('web', 'u-web'), dom('ro', 'u-ro')));
  assert.deepEqual(summary(first), ['db 0.5->3', 'web 1->2', 'ro 1->4']);
  const roAction = first.find((a) => a.domain.name === 'ro')!;
  keeper.settle(first, [{ action: roAction, error: 'operation denied' }], false);
  // db restarted and set again: its "before" stays the 0.5 found before our first change.
  keeper.plan(obs(dom('db', 'u-db', 3), dom('web', 'u-web', 2), dom('ro', 'u-ro')));
  const again = keeper.plan(obs(dom('db', 'u-db', 1), dom('web', 'u-web', 2), dom('ro', 'u-ro')));
  keeper.settle(again, [], false);
  assert.deepEqual(keeper.changed().map((c) => [c.ref.name, c.before]).sort(), [['db', 0.5], ['web', 1]]);

  const dry = new CpuWeightKeeper({ db: 3 });
  dry.settle(dry.plan(obs(dom('db', 'u-db'))), [], true);
  assert.deepEqual(dry.changed(), [], 'a dry run changes nothing, so nothing is put back');
});

test('restore plan: weights we changed go back to what they were, where the domain still runs; the others are left alone', () => {
  const start = captureStartState(obs(dom('db', 'u-db'), dom('web', 'u-web')));
  const now = obs(dom('db', 'u-db', 3), dom('web', 'u-web', 2));
  const plan = planRestore(start, now, {
    pins: true,
    balloons: false,
    memory: defaultMemoryOptions,
    controllers: (now) =>
      restoreChangedWeights(
        [
          { ref: { name: 'db', uuid: 'u-db' }, before: 1 },
          { ref: { name: 'gone', uuid: 'u-gone' }, before: 1 },
        ],
        now,
      ),
  });
  const weights = plan.actions.filter((a): a is SetCpuWeightAction => a.kind === 'set-cpu-weight');
  assert.deepEqual(summary(weights), ['db 3->1']);
  assert.deepEqual(weights[0]!.why, { rule: 'restore', from: 3, to: 1, figures: {} });
  assert.ok(plan.notes.some((n) => /^gone: no longer runs here, its CPU weight \(cpu_shares 1024 before the run\) not put back/.test(n)), plan.notes.join('\n'));
});

const scenario = `name: weights-later
interval: 1
intervals: 12
host: { pcpus: 1, memoryMiB: 4096 }
domains:
  - { name: db, memoryMiB: 256, workload: { cpu: 1.0 } }
  - { name: late, memoryMiB: 256, start: 4, workload: { cpu: 1.0 } }
  - { name: outside, memoryMiB: 256, start: 4, workload: { cpu: 1.0 } }
`;

test('control loop on the simulated host: a configured domain started after the run is weighted when it appears, one out of scope never; --restore puts the weights back', async () => {
  const sim = createSimulatedHost(parseScenario(scenario, 'weights-later.yaml'));
  const scoped = new ScopedHypervisor(sim.hypervisor, { only: [], exclude: ['outside'], unmanaged: [] });
  const entries: TraceInterval[] = [];
  let start: ReturnType<typeof captureStartState> | undefined;
  let controllers: ControllersRestore | undefined;
  await runControlLoop(scoped, sim.clock, { intervalSeconds: 1, intervals: 10, cpu: { ...defaultCpuSchedulerOptions, weights: { late: 3, outside: 2 } } }, {
    record: (e) => void entries.push(e),
    observed: (o) => void (start ??= captureStartState(o)),
    ended: (r) => void (controllers = r),
  });
  const weightActions = entries.flatMap((e) => e.actions.filter((a) => a.kind === 'set-cpu-weight').map((a) => ({ interval: e.interval, a })));
  assert.equal(weightActions.length, 1, JSON.stringify(weightActions));
  const { interval, a } = weightActions[0]!;
  assert.equal(a.domain.name, 'late');
  assert.ok(interval >= 4 && interval <= 5, `set in interval ${interval}, when late first appears`);
  assert.ok(entries.every((e) => e.failures.length === 0));
  const seen = async (name: string) => (await sim.hypervisor.observe()).domains.find((d) => d.name === name)!;
  assert.equal((await seen('late')).cpuWeight, 3);
  assert.equal((await seen('outside')).cpuWeight, undefined, 'out of scope: never weighted, though configured');
  assert.equal((await seen('db')).cpuWeight, undefined, 'not configured: never weighted');

  const lines: string[] = [];
  const outcome = await restoreStartState(scoped, start!, { pins: false, balloons: false, memory: defaultMemoryOptions, controllers }, (l) => lines.push(l));
  assert.equal(outcome.failed, 0);
  assert.equal((await seen('late')).cpuWeight, undefined, 'back to the default weight it had');
  assert.ok(lines.some((l) => /^restore: late: CPU weight 3 → 1 \(cpu_shares 3072 → 1024\)/.test(l)), lines.join('\n'));
});
