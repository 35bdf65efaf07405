// CPU weights (libvirt cpu_shares): the fairness model's weighted max-min shares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { predictShares, waterFill, weightedWaterFill } from '../../src/cpu/fairness.js';
import { fairSharesOf } from '../../src/cpu/sharing.js';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState } from '../../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { measurementOf, vms } from './fixtures.js';

const close = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) < 1e-9);

test('weighted water-filling: equal weights split as waterFill does; shares follow weights, never above demand, sum to the capacity used', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }), fc.double({ min: 0.1, max: 4, noNaN: true }), (demands, capacity) => {
      assert.ok(close(weightedWaterFill(demands, demands.map(() => 1), capacity), waterFill(demands, capacity)));
      const weights = demands.map((_, i) => 1 + (i % 3));
      const shares = weightedWaterFill(demands, weights, capacity);
      shares.forEach((s, i) => assert.ok(s <= demands[i]! + 1e-12 && s >= 0));
      const total = shares.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - Math.min(capacity, demands.reduce((a, b) => a + b, 0))) < 1e-9);
      // Among those not satisfied, share per weight is one common level.
      const levels = shares.map((s, i) => (s < demands[i]! - 1e-9 ? s / weights[i]! : undefined)).filter((x) => x !== undefined);
      for (const l of levels) assert.ok(Math.abs(l - levels[0]!) < 1e-9);
    }),
    { numRuns: 300 },
  );
});

test('weights 3,1,1,1 of four busy vCPUs on 2 pCPUs: fair shares 1, 1/3, 1/3, 1/3; beside weight 1 on one pCPU, weight 3 gets 3/4', () => {
  assert.ok(close(fairSharesOf([1, 1, 1, 1], 2, undefined, [3, 1, 1, 1]), [1, 1 / 3, 1 / 3, 1 / 3]));
  assert.ok(close(predictShares([{ demand: 1, pcpus: [0], weight: 3 }, { demand: 1, pcpus: [0] }], 1), [0.75, 0.25]));
});

test('the scheduler counts weights: levelled two per pCPU is fair unweighted, unfair with db at weight 3, and it acts', () => {
  const start = vms([1, 1, 1, 1], [0, 0, 1, 1]);
  const plain = measurementOf(2, start);
  const options = { ...defaultCpuSchedulerOptions, persistIntervals: 1 };
  assert.equal(decideCpu(plain, initialCpuSchedulerState(), options).actions.length, 0);
  const weighted = { ...plain, vcpus: plain.vcpus.map((v, i) => (i === 0 ? { ...v, weight: 3 } : v)) };
  const decision = decideCpu(weighted, initialCpuSchedulerState(), options);
  assert.ok(decision.actions.length > 0, decision.summary);
  assert.ok(decision.after.worstFractionOfFairShare >= 0.95, `after ${decision.after.worstFractionOfFairShare}`);
});

test('a configured weight is set on the simulated host: observed back, and the host shares by it', async () => {
  const { parseScenario } = await import('../../src/host/sim/scenario.js');
  const { createSimulatedHost } = await import('../../src/host/sim/simulated-host.js');
  const { planWeights, initialWeightKeeping } = await import('../../src/cpu/weights.js');
  const { applyAction } = await import('../../src/control/loop.js');
  const run = createSimulatedHost(
    parseScenario(
      `name: w\ninterval: 1\nintervals: 5\nhost: { pcpus: 1, memoryMiB: 4096 }\ndomains:\n  - { name: db, memoryMiB: 256, workload: { cpu: 1.0 } }\n  - { name: web, memoryMiB: 256, workload: { cpu: 1.0 } }\n`,
      'w.yaml',
    ),
  );
  const before = await run.hypervisor.observe();
  assert.equal(before.domains.find((d) => d.name === 'db')!.cpuWeight, undefined);
  const { actions } = planWeights(initialWeightKeeping(), before, { db: 3, missing: 2 });
  assert.deepEqual(actions.map((a) => [a.domain.name, a.previous, a.weight]), [['db', 1, 3]]);
  for (const a of actions) await applyAction(run.hypervisor, a);
  const start = await run.hypervisor.observe();
  assert.equal(start.domains.find((d) => d.name === 'db')!.cpuWeight, 3);
  await run.clock.sleep(1000);
  const after = await run.hypervisor.observe();
  const ran = (name: string): number => (after.domains.find((d) => d.name === name)!.vcpus[0]!.timeNs - start.domains.find((d) => d.name === name)!.vcpus[0]!.timeNs) / 1e9;
  assert.ok(Math.abs(ran('db') - 0.75) < 1e-6 && Math.abs(ran('web') - 0.25) < 1e-6, `db ${ran('db')}, web ${ran('web')}`);
});
