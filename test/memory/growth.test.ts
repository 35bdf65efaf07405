import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateGrowth, addSample, type UsageSample } from '../../src/memory/growth.js';
import { BalloonWorld, MiB, consumer, resetLows, setMemoryActions } from './balloon-driver.js';

const series = (used: number[]): UsageSample[] => used.map((u, i) => ({ atSeconds: 100 + i, usedKiB: u * MiB, source: 'available' }));

test('growth estimate: steady consumption, flat use, freeing', () => {
  assert.equal(Math.round(estimateGrowth(series([100, 140, 180, 220, 260]), 1024).kibPerSecond / MiB), 40);
  assert.equal(estimateGrowth(series([300, 300, 300, 300, 300]), 1024).kibPerSecond, 0);
  assert.equal(estimateGrowth(series([900, 700, 500, 300, 150]), 1024).kibPerSecond, 0, 'freeing is not growth');
  assert.equal(estimateGrowth(series([300]), 1024).kibPerSecond, 0);
});

test('growth estimate: a jump on a quiet guest counts at once, the same jump on a jittery guest does not', () => {
  const quiet = estimateGrowth(series([150, 150, 151, 150, 190]), 1024);
  assert.equal(Math.round(quiet.kibPerSecond / MiB), 40);
  assert.match(quiet.basis, /jump/);
  const jittery = estimateGrowth(series([150, 180, 140, 175, 215]), 1024);
  assert.ok(jittery.kibPerSecond < 40 * MiB, `jittery estimate ${jittery.kibPerSecond / MiB} MiB/s`);
});

test('the sample window keeps the last readings of one source only', () => {
  let w: UsageSample[] = [];
  for (let i = 0; i < 8; i++) w = addSample(w, { atSeconds: i, usedKiB: i, source: 'actual' }, 5);
  assert.deepEqual(w.map((s) => s.atSeconds), [3, 4, 5, 6, 7]);
  w = addSample(w, { atSeconds: 8, usedKiB: 0, source: 'available' }, 5);
  assert.equal(w.length, 1, 'a change of formula starts a new window');
});

for (const intervalSeconds of [1, 2]) {
  test(`a +40 MiB/s consumer is met within 2 decisions and reaches its maximum, no OOM (interval ${intervalSeconds} s)`, () => {
    const onset = 20;
    const world = new BalloonWorld(
      [
        { name: 'hungry', actualMiB: 512, maximumMiB: 2048, used: consumer(150, onset, 40, 1950), reservedMiB: 40 },
        { name: 'idle', actualMiB: 512, maximumMiB: 2048, used: () => 150, reservedMiB: 40 },
      ],
      8192,
      undefined,
      intervalSeconds,
    );
    world.run(Math.ceil(onset / intervalSeconds));
    resetLows(world);
    const after = world.run(Math.ceil(70 / intervalSeconds));
    const firstGrow = after.findIndex((r) => setMemoryActions(r.decision).some((a) => a.domain.name === 'hungry' && a.targetKiB > a.fromKiB));
    assert.ok(firstGrow >= 0 && firstGrow <= 2, `first grow at decision ${firstGrow} after onset`);
    // Demand met: every decision from then on leaves the guest its floor's worth for the growth to come.
    const hungry = world.guest('hungry');
    assert.equal(world.oomEvents, 0);
    assert.ok(hungry.minUnusedKiB >= 50 * MiB, `lowest free memory ${hungry.minUnusedKiB / MiB} MiB`);
    assert.equal(hungry.actualKiB, 2048 * MiB, 'reaches its maximum');
    const grow = setMemoryActions(after[firstGrow]!.decision)[0]!;
    assert.match(grow.reason, /growing \d+(\.\d)? MiB\/s/);
    assert.match(grow.reason, /used \d+ \+ floor 200 \+ \d+(\.\d)? MiB\/s × \d+ s = \d+ MiB: \d+ → \d+ MiB$/);
  });
}

test('a faster consumer (+150 MiB/s) is grown in large steps, not fixed small ones, and never hits OOM', () => {
  const world = new BalloonWorld([{ name: 'fast', actualMiB: 512, maximumMiB: 4096, used: consumer(150, 10, 150, 3950), reservedMiB: 40 }], 16384);
  const records = world.run(50);
  assert.equal(world.oomEvents, 0);
  const steps = records.flatMap((r) => setMemoryActions(r.decision)).filter((a) => a.targetKiB > a.fromKiB).map((a) => (a.targetKiB - a.fromKiB) / MiB);
  assert.ok(Math.max(...steps) >= 300, `largest grow ${Math.max(...steps)} MiB`);
  assert.equal(world.guest('fast').actualKiB, 4096 * MiB);
});
