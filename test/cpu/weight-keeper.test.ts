// The weight keeper as part of the vCPU scheduler's controller (src/cpu/weights.ts, src/cpu/controller.ts):
// its bookkeeping is plain data in the controller's state, and the room for weights set as a lever:
// fair shares count the configured weight, a configured weight is never lowered, --restore puts back
// every weight changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuController, type CpuControllerState } from '../../src/cpu/controller.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { planWeights, requestLever, restoreWeights, settleWeights, withFairWeights, initialWeightKeeping, type WeightKeeping } from '../../src/cpu/weights.js';
import type { DomainObservation, HostObservation } from '../../src/ground/hypervisor.js';
import type { SetCpuWeightAction } from '../../src/ground/actions.js';
import type { CpuMeasurement } from '../../src/cpu/usage.js';

const host = { hostname: 'h', pcpus: 2, memoryTotalKiB: 1 << 22, memoryFreeKiB: 1 << 21 };
const dom = (name: string, timeNs: number, cpuWeight?: number): DomainObservation => ({
  name,
  uuid: `u-${name}`,
  state: 'running',
  vcpus: [{ index: 0, timeNs, delayNs: 0, affinity: [0, 1] }],
  ...(cpuWeight !== undefined ? { cpuWeight } : {}),
});
const obs = (timeNs: number, ...domains: DomainObservation[]): HostObservation => ({ timeNs, host, domains });
const summary = (actions: readonly SetCpuWeightAction[]) => actions.map((a) => `${a.domain.name} ${a.previous}->${a.weight}`);
const ref = (name: string) => ({ name, uuid: `u-${name}` });

/** One interval of the keeper as the loop runs it: plan, every set applied (the host keeps it), settle. */
function step(keeping: WeightKeeping, o: HostObservation, weights: Record<string, number>): { keeping: WeightKeeping; actions: SetCpuWeightAction[] } {
  const planned = planWeights(keeping, o, weights);
  return { keeping: settleWeights(planned.keeping, planned.actions, [], false), actions: planned.actions };
}

test('controller: weights kept from the first observation (prepare), heard back (settle), put back (restore); the state, weights and all, survives JSON', () => {
  const options = { ...defaultCpuSchedulerOptions, weights: { db: 3 } };
  let state: CpuControllerState = cpuController.initialState();
  const first = obs(0, dom('db', 0), dom('web', 0));
  const prepared = cpuController.prepare!(state, options, { current: first, intervalSeconds: 1 });
  assert.deepEqual(summary(prepared.actions as SetCpuWeightAction[]), ['db 1->3'], 'set on the first observation, before the scheduler can measure');
  assert.equal(cpuController.measure({ current: first, intervalSeconds: 1 }, prepared.state), undefined);
  const settled = cpuController.settle!(prepared.state, prepared.actions, [], false);
  assert.deepEqual(settled.log, ['db: CPU weight 1 → 3 (cpu_shares 1024 → 3072), vms.db.cpuWeight; first seen in scope']);
  state = JSON.parse(JSON.stringify(settled.state)) as CpuControllerState;
  assert.deepEqual(state, settled.state, 'plain data');
  const second = obs(1e9, dom('db', 0.6e9, 3), dom('web', 0.6e9));
  const again = cpuController.prepare!(state, options, { previous: first, current: second, intervalSeconds: 1 });
  assert.deepEqual(again.actions, []);
  const m = cpuController.measure({ previous: first, current: second, intervalSeconds: 1 }, again.state)!;
  const decided = cpuController.decide(m, again.state, options, { previous: first, current: second, intervalSeconds: 1 });
  assert.deepEqual(decided.state.weights, again.state.weights, 'the scheduler carries the keeper on');
  assert.deepEqual(JSON.parse(JSON.stringify(decided.state.weights)), decided.state.weights, 'the keeper part is plain data');
  const revived = JSON.parse(JSON.stringify(decided.state)) as CpuControllerState;
  const fromRevived = cpuController.prepare!(revived, options, { previous: first, current: second, intervalSeconds: 1 });
  const fromLive = cpuController.prepare!(decided.state, options, { previous: first, current: second, intervalSeconds: 1 });
  assert.deepEqual([fromRevived.actions, fromRevived.state.weights], [fromLive.actions, fromLive.state.weights], 'revived from JSON, it goes on as before');
  assert.deepEqual(cpuController.resynchronise(decided.state).weights, again.state.weights, 'a new connection keeps what was set');
  assert.deepEqual(cpuController.forget(decided.state, 'u-db').weights, again.state.weights, 'a gone domain stays known for --restore');
  const restore = cpuController.restore!(decided.state, second);
  assert.deepEqual(summary(restore.actions as SetCpuWeightAction[]), ['db 3->1']);
  // Nothing configured: no bookkeeping at all.
  const plain = cpuController.prepare!(cpuController.initialState(), defaultCpuSchedulerOptions, { current: first, intervalSeconds: 1 });
  assert.deepEqual(plain.actions, []);
  assert.equal(plain.state.weights, undefined);
});

test('levers: set above the configured weight, never below it; released back to it; fair shares count the configured weight throughout', () => {
  let k = step(initialWeightKeeping(), obs(0, dom('db', 0), dom('burst', 0)), { db: 3 });
  assert.deepEqual(summary(k.actions), ['db 1->3']);
  // A lever below db's configured weight changes nothing: a configured weight is never lowered.
  k = step(requestLever(k.keeping, ref('db'), 2, 'test'), obs(1e9, dom('db', 1, 3), dom('burst', 1)), { db: 3 });
  assert.deepEqual(summary(k.actions), []);
  // Above it: set, saying it is a lever and which weight fair shares still count.
  k = step(requestLever(k.keeping, ref('db'), 6, 'its window ends by the clock'), obs(2e9, dom('db', 2, 3), dom('burst', 2)), { db: 3 });
  assert.deepEqual(summary(k.actions), ['db 3->6']);
  assert.deepEqual(k.actions[0]!.why, { rule: 'lever', from: 3, to: 6, figures: { floor: 3, lever: 'its window ends by the clock' } });
  // A lever on an unconfigured guest: from its own weight (1).
  k = step(requestLever(k.keeping, ref('burst'), 4, 'clock-bound'), obs(3e9, dom('db', 3, 6), dom('burst', 3)), { db: 3 });
  assert.deepEqual(summary(k.actions), ['burst 1->4']);
  // Set once: the lever is not set again while it holds.
  k = step(k.keeping, obs(4e9, dom('db', 4, 6), dom('burst', 4, 4)), { db: 3 });
  assert.deepEqual(summary(k.actions), []);
  // Fair shares: the measurement carries the configured weights (3 and 1), not the levers (6 and 4).
  const m: CpuMeasurement = { elapsedNs: 1e9, pcpus: 2, pcpuUsage: [1, 1], pcpuDemand: [1, 1], vcpus: [
    { domain: ref('db'), vcpu: 0, affinity: [0, 1], pcpu: 0, usage: 1, demand: 1, weight: 6 },
    { domain: ref('burst'), vcpu: 0, affinity: [0, 1], pcpu: 1, usage: 0.4, demand: 0.4, weight: 4 },
  ] };
  assert.deepEqual(withFairWeights(m, k.keeping, { db: 3 }).vcpus.map((v) => v.weight), [3, undefined]);
  // --restore puts back every weight changed, lever or configured, to what it had before the run.
  assert.deepEqual(summary(restoreWeights(k.keeping, obs(5e9, dom('db', 5, 6), dom('burst', 5, 4))).actions as SetCpuWeightAction[]), ['db 6->1', 'burst 4->1']);
  // Released: back to the configured weight (db), to the weight it had before (burst).
  k = step(requestLever(requestLever(k.keeping, ref('db'), undefined), ref('burst'), undefined), obs(5e9, dom('db', 5, 6), dom('burst', 5, 4)), { db: 3 });
  assert.deepEqual(summary(k.actions), ['db 6->3', 'burst 4->1']);
  assert.deepEqual(k.actions[0]!.why, { rule: 'lever-released', from: 6, to: 3, figures: { configured: true } });
  assert.deepEqual(k.actions[1]!.why, { rule: 'lever-released', from: 4, to: 1, figures: { configured: false } });
  k = step(k.keeping, obs(6e9, dom('db', 6, 3), dom('burst', 6)), { db: 3 });
  assert.deepEqual(summary(k.actions), []);
  assert.equal(withFairWeights(m, k.keeping, { db: 3 }), m, 'no lever in force: the measurement as observed');
  assert.deepEqual(JSON.parse(JSON.stringify(k.keeping)), k.keeping, 'plain data');
});

test('levers: the controller decides with the configured weight while a lever is in force (its trace shows it)', () => {
  const options = { ...defaultCpuSchedulerOptions, weights: { db: 3 } };
  const a = obs(0, dom('db', 0, 3), dom('burst', 0));
  let state: CpuControllerState = cpuController.prepare!(cpuController.initialState(), options, { current: a, intervalSeconds: 1 }).state;
  state = { ...state, weights: requestLever(state.weights!, ref('burst'), 4, 'clock-bound') };
  const p = cpuController.prepare!(state, options, { current: a, intervalSeconds: 1 });
  assert.deepEqual(summary(p.actions as SetCpuWeightAction[]), ['burst 1->4']);
  state = cpuController.settle!(p.state, p.actions, [], false).state;
  const b = obs(1e9, dom('db', 0.9e9, 3), { ...dom('burst', 0.4e9, 4) });
  const m = cpuController.measure({ previous: a, current: b, intervalSeconds: 1 }, state)!;
  assert.deepEqual(m.vcpus.map((v) => v.weight), [3, 4], 'observed: the lever');
  const d = cpuController.decide(m, state, options, { previous: a, current: b, intervalSeconds: 1 });
  assert.deepEqual(d.trace!.vcpus.map((v) => v.weight), [3, undefined], 'decided on: the configured weights');
});
