// The page-cache part of the memory score: from the simulator's cache truth, per guest and total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreTrace } from '../../src/score/score.js';
import { formatScore } from '../../src/score/format.js';
import { parseTrace } from '../../src/score/read-trace.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { parseScenario } from '../../src/host/sim/scenario.js';
import type { TraceCacheTruth, TraceTruth } from '../../src/ground/trace-record.js';
import { guest, header, memoryInterval } from './fixtures.js';

function truth(cache: Record<string, Partial<TraceCacheTruth>>): TraceTruth {
  const full = (c: Partial<TraceCacheTruth>): TraceCacheTruth => ({ hotMiB: 0, coldMiB: 0, coldMiBSeconds: 0, refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0, ...c });
  return { vcpus: [], memoryDemandKiB: {}, oomEvents: [], cache: Object.fromEntries(Object.entries(cache).map(([d, c]) => [d, full(c)])) };
}

test('cache figures add up per guest over the intervals, and the totals over the guests', () => {
  const g = [guest('a', 1024, 100), guest('b', 1024, 100)];
  const lines = [
    header(2, false, true),
    memoryInterval(0, g, 4096, truth({ a: { coldMiB: 500, coldMiBSeconds: 1000, hotMiB: 10 }, b: { hotMiB: 300, refaultMiB: 40, coordinatorRefaultMiB: 30, readStallSeconds: 0.5 } })),
    memoryInterval(1, g, 4096, truth({ a: { coldMiB: 200, coldMiBSeconds: 700 }, b: { hotMiB: 250, refaultMiB: 60, coordinatorRefaultMiB: 0, readStallSeconds: 1.25 } })),
  ];
  const cache = scoreTrace(lines).memory!.cache!;
  assert.equal(cache.intervals, 2);
  assert.deepEqual(cache.guests, [
    { domain: 'a', coldMiBSeconds: 1700, refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0, peakHotMiB: 10, peakColdMiB: 500 },
    { domain: 'b', coldMiBSeconds: 0, refaultMiB: 100, coordinatorRefaultMiB: 30, readStallSeconds: 1.75, peakHotMiB: 300, peakColdMiB: 0 },
  ]);
  assert.equal(cache.coldMiBSeconds, 1700);
  assert.equal(cache.refaultMiB, 100);
  assert.equal(cache.coordinatorRefaultMiB, 30);
  assert.equal(cache.readStallSeconds, 1.75);

  const text = formatScore(scoreTrace(lines));
  assert.match(text, /cold cache held\s+1700 MiB·s/);
  assert.match(text, /refaults\s+100 MiB, 30 MiB of them caused by the coordinator/);
  assert.match(text, /read stall\s+1\.8 s/);
  assert.match(text, /^\s+b\s+0\s+0 MiB\s+300 MiB\s+100 MiB\s+30 MiB\s+1\.8 s$/m);
});

test('without cache truth there is no cache score and no cache lines', () => {
  const lines = [header(2, false, true), memoryInterval(0, [guest('a', 1024, 100)], 4096, { vcpus: [], memoryDemandKiB: { a: 0 }, oomEvents: [] })];
  assert.equal(scoreTrace(lines).memory!.cache, undefined);
  assert.doesNotMatch(formatScore(scoreTrace(lines)), /cold cache|refaults|read stall/);
});

test('a trace whose cache truth is malformed is rejected with the field', () => {
  const bad = { ...memoryInterval(0, [guest('a', 1024, 100)], 4096, truth({ a: {} })) };
  (bad.truth!.cache!.a as unknown as Record<string, unknown>).refaultMiB = 'lots';
  const source = [header(1), bad].map((l) => JSON.stringify(l)).join('\n');
  assert.throws(() => parseTrace(source, 'run.jsonl'), /run\.jsonl:2: .*truth\.cache\.a\.refaultMiB must be a number/);
});

test('a simulated run records the cache truth that the score sums: a scan leaves cold cache', async () => {
  const scenario = parseScenario(`name: t
controllers: [memory]
interval: 2
intervals: 15
host: { pcpus: 2, memoryMiB: 8192, reserveMiB: 256 }
domains:
  - name: a
    memoryMiB: 2048
    maxMemoryMiB: 2048
    floorMiB: 200
    workload: { usedMiB: 100, reads: [{ scan: 150, rate: 200, at: 2 }] }
`, 't.yaml');
  const lines = await simulateScenario(scenario);
  const cache = scoreTrace(lines).memory!.cache!;
  const a = cache.guests.find((g) => g.domain === 'a')!;
  // 150 MiB fits in the floor room the guest keeps once its idle 1.7 GiB is taken back (in one step).
  assert.equal(a.peakColdMiB, 150, 'the scan is cold cache once read');
  assert.ok(a.coldMiBSeconds > 0);
  assert.equal(cache.refaultMiB, 0);
});
