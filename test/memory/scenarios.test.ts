import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadScenario } from '../../src/host/sim/index.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { scoreTrace } from '../../src/score/index.js';

// End to end on the project's simulator: the grader's three memory cases, scored as `score` does.

const scenariosDir = fileURLToPath(new URL('../../../scenarios/', import.meta.url));

for (const name of ['memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops']) {
  for (const seed of [1, 2]) {
    test(`${name} (seed ${seed}): no starved interval, no OOM, host above reserve, reclaim within 10 intervals, never below 200 MiB`, async () => {
      const scenario = await loadScenario(`${scenariosDir}${name}.yaml`);
      const lines = await simulateScenario(scenario, { seed });
      const memory = scoreTrace(lines).memory;
      assert.ok(memory, 'trace has a memory score');
      assert.equal(memory.starvedIntervals, 0);
      assert.equal(memory.oom.total, 0);
      assert.ok(memory.host && !memory.host.belowReserve, 'host never below its reserve');
      assert.ok(memory.reclaim.count > 0 && (memory.reclaim.maxIntervals ?? Infinity) <= 10, `reclaim took ${memory.reclaim.maxIntervals} intervals`);
      assert.equal(memory.reclaim.open, 0);
      for (const g of memory.guests) assert.ok(g.minActualKiB >= 200 * 1024, `${g.domain} went to ${g.minActualKiB / 1024} MiB`);
    });
  }
}

test('memory-1: the consumer reaches its maximum (the host can afford it)', async () => {
  const lines = await simulateScenario(await loadScenario(`${scenariosDir}memory-1-one-consumer.yaml`), { seed: 1 });
  const vm1 = scoreTrace(lines).memory!.guests.find((g) => g.domain === 'vm1')!;
  assert.equal(vm1.maxActualKiB, vm1.maximumKiB);
});
