// Other load: pCPU busy time that is not our guests' (host processes, QEMU threads, other tenants).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState, type CpuSchedulerState } from '../../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { measureCpu, otherLoadOf, type CpuMeasurement, type VcpuLoad } from '../../src/cpu/usage.js';
import { predictShares } from '../../src/cpu/fairness.js';
import { fairSharesOf } from '../../src/cpu/sharing.js';
import type { HostObservation } from '../../src/ground/hypervisor.js';
import { applyPins, measurementOf, vms, type Vm } from './fixtures.js';

const options = defaultCpuSchedulerOptions;

/** The fixtures' model host, with `other` taken first on each pCPU (a host process that keeps its pCPU). */
function measured(pcpus: number, list: readonly Vm[], other: readonly number[]): CpuMeasurement {
  const base = measurementOf(pcpus, list);
  const capacity = other.map((o) => 1 - o);
  const shares = predictShares(list.map((v) => ({ demand: v.demand, pcpus: v.affinity })), pcpus, capacity);
  const vcpus = base.vcpus.map((v, i) => ({ ...v, usage: Math.min(v.demand, shares[i]!) }));
  return { ...base, vcpus, pcpuOther: [...other] };
}

function run(pcpus: number, start: Vm[], other: number[], intervals: number): { placement: Vm[]; pinChanges: number; state: CpuSchedulerState } {
  let placement = start;
  let state = initialCpuSchedulerState();
  let pinChanges = 0;
  for (let i = 0; i < intervals; i++) {
    const decision = decideCpu(measured(pcpus, placement, other), state, options);
    state = decision.state;
    pinChanges += decision.actions.length;
    placement = applyPins(placement, decision.actions);
  }
  return { placement, pinChanges, state };
}

test('a pCPU taken by a host process gets no busy guest pinned alone beside it; the others are levelled', () => {
  // 3 busy guests all on pCPU0 of 4; pCPU3 fully taken by something else.
  const { placement, state } = run(4, vms([1, 1, 1], [0, 0, 0]), [0, 0, 0, 1], 6);
  const pins = placement.map((v) => v.affinity);
  assert.ok(pins.every((a) => a.length === 1 && a[0] !== 3), `pins ${JSON.stringify(pins)}`);
  assert.deepEqual(new Set(pins.map((a) => a[0])), new Set([0, 1, 2]));
  assert.equal(state.otherLoad?.length, 4);
});

test('the lab case: 4 busy guests on pCPU0, a host process on pCPU1: nobody is left beside it alone (kept together or released)', () => {
  const { placement } = run(2, vms([1, 1, 1, 1], [0, 0, 0, 0]), [0, 1], 6);
  const alone = placement.filter((v) => v.affinity.length === 1 && v.affinity[0] === 1);
  assert.equal(alone.length, 0, `pins ${JSON.stringify(placement.map((v) => v.affinity))}`);
  // Every guest predicted its fair share of what the host leaves (one pCPU among four: 0.25).
  const shares = predictShares(placement.map((v) => ({ demand: v.demand, pcpus: v.affinity })), 2, [1, 0]);
  for (const s of shares) assert.ok(Math.abs(s - 0.25) < 1e-9, `share ${s}`);
});

test('without other load nothing changes: same decisions as with other load reported as zero', () => {
  const start = vms([1, 0.5, 0.8, 0.2, 0.9], [0, 0, 0, 1, 1]);
  const plain = decideCpu(measurementOf(3, start), initialCpuSchedulerState(), options);
  const zero = decideCpu({ ...measurementOf(3, start), pcpuOther: [0, 0.01, 0] }, initialCpuSchedulerState(), options);
  assert.deepEqual(zero.actions, plain.actions);
  assert.equal(zero.summary, plain.summary);
});

test('fair shares count only what other load leaves: 2 busy vCPUs on 2 pCPUs with one 60 % taken get 0.7 each', () => {
  const fair = fairSharesOf([1, 1], 2, [1, 0.4]);
  assert.ok(Math.abs(fair[0]! - 0.7) < 1e-9 && Math.abs(fair[1]! - 0.7) < 1e-9, `${fair}`);
});

test('otherLoadOf: pinned vCPUs subtract exactly; an unpinned one where it was seen first; never below zero', () => {
  const v = (affinity: number[], usage: number, pcpu?: number): VcpuLoad => ({ domain: { name: 'a', uuid: 'a' }, vcpu: 0, affinity, pcpu, usage, demand: usage });
  // pCPU0 busy 1.0 with a pinned guest at 0.3 → 0.7 other; pCPU1 busy 0.5, an unpinned guest of 0.5 seen there → 0.
  assert.deepEqual(otherLoadOf([1, 0.5], [v([0], 0.3), v([0, 1], 0.5, 1)], 2).map((x) => Math.round(x * 1e9) / 1e9), [0.7, 0]);
  // The unpinned guest's usage exceeds what pCPU1 was busy: the rest comes off pCPU0, not below zero anywhere.
  assert.deepEqual(otherLoadOf([1, 0.2], [v([0, 1], 0.5, 1)], 2).map((x) => Math.round(x * 1e9) / 1e9), [0.7, 0]);
});

test('measureCpu reads other load from the pCPUs busy time between two observations, and leaves it out when not reported', () => {
  const obs = (t: number, busy: number[] | undefined, vcpuTime: number): HostObservation => ({
    timeNs: t,
    host: { hostname: 'h', pcpus: 2, memoryTotalKiB: 1, memoryFreeKiB: 1, ...(busy ? { pcpuBusyNs: busy } : {}) },
    domains: [{ name: 'g', uuid: 'g', state: 'running', vcpus: [{ index: 0, timeNs: vcpuTime, delayNs: 0, pcpu: 0, affinity: [0] }] }],
  });
  const m = measureCpu(obs(0, [0, 0], 0), obs(1e9, [0.5e9, 0.9e9], 0.4e9));
  assert.deepEqual(m.pcpuOther?.map((x) => Math.round(x * 1e9) / 1e9), [0.1, 0.9]);
  assert.equal(measureCpu(obs(0, undefined, 0), obs(1e9, [1, 1], 0.4e9)).pcpuOther, undefined);
});

test('countOtherLoad false (the drop-in vcpu_scheduler): other load is measured but placement is what the guests alone call for', () => {
  const start = vms([1, 1, 1], [0, 0, 0]);
  const blindOptions = { ...options, countOtherLoad: false, persistIntervals: 1 };
  const withOther = decideCpu(measured(4, start, [0, 0, 0, 1]), initialCpuSchedulerState(), blindOptions);
  const without = decideCpu(measurementOf(4, start), initialCpuSchedulerState(), blindOptions);
  assert.deepEqual(withOther.actions.map((a) => a.pcpus), without.actions.map((a) => a.pcpus));
  // Counting it, the same host never puts a guest on pCPU3.
  const counted = decideCpu(measured(4, start, [0, 0, 0, 1]), initialCpuSchedulerState(), { ...options, persistIntervals: 1 });
  assert.ok(counted.actions.every((a) => a.pcpus.join() !== '3'));
});
