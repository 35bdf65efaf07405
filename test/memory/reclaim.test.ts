import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalloonWorld, MiB, consumer, resetLows, setMemoryActions } from './balloon-driver.js';
import { decideMemory, defaultMemoryOptions, initialMemoryState } from '../../src/memory/coordinator.js';
import { observation } from './observation.js';

const floor = defaultMemoryOptions.floorMiB;

test('idle guests shrink toward used + floor within 10 intervals, never below the absolute minimum', () => {
  const world = new BalloonWorld(
    ['vm1', 'vm2', 'vm3', 'vm4'].map((name) => ({ name, actualMiB: 512, maximumMiB: 2048, used: () => 120, reservedMiB: 40 })),
    8192,
  );
  const records = world.run(12);
  for (const g of world.guests) {
    const need = 120 + 40 + floor;
    assert.ok(g.actualKiB <= (need + 16) * MiB, `${g.spec.name} at ${g.actualKiB / MiB} MiB, need ${need}`);
    assert.ok(g.actualKiB >= need * MiB - 1, `${g.spec.name} below its need`);
  }
  for (const a of records.flatMap((r) => setMemoryActions(r.decision))) assert.ok(a.targetKiB >= 200 * MiB);
  assert.equal(world.oomEvents, 0);
});

test('memory is reclaimed within 10 intervals after a load stops', () => {
  const stop = 60;
  const world = new BalloonWorld(
    [{ name: 'burst', actualMiB: 512, maximumMiB: 2048, used: consumer(150, 5, 80, 1800, stop), reservedMiB: 40 }],
    8192,
  );
  world.run(stop);
  assert.ok(world.guest('burst').actualKiB >= 1800 * MiB, 'grew during the load');
  const after = world.run(10);
  const need = 150 + 40 + floor;
  const actual = world.guest('burst').actualKiB / MiB;
  assert.ok(actual <= need + 64, `after 10 intervals at ${actual.toFixed(0)} MiB, need ${need} MiB`);
  // The stop shows in the first reading taken after it, half a stats period later.
  const first = after.slice(0, 2).flatMap((r) => setMemoryActions(r.decision))[0];
  assert.ok(first, 'starts reclaiming at the first decision that sees the load stopped');
  // An excess beyond the waste threshold is taken in one step, down to the need.
  assert.match(first.reason, /unused \d+ MiB > 300 MiB waste threshold, taking back in one step all the \d+ MiB above its need/);
  assert.equal(first.targetKiB, world.guest('burst').actualKiB, 'one step, landed where it aimed');
  assert.equal(world.oomEvents, 0);
});

test('hysteresis: a guest inside the band between the grow and waste thresholds is left alone', () => {
  let state = initialMemoryState();
  const wander = [210, 190, 230, 170, 250, 150, 250, 170, 230, 190, 210, 200];
  for (let t = 0; t < wander.length; t++) {
    // unused wanders without a trend between 150 and 250 MiB: never starving (< 100), never wasteful (> 300)
    const unusedMiB = wander[t]!;
    const d = decideMemory(observation(t, 8192, [{ name: 'calm', actualMiB: 600, unusedMiB, lastUpdate: t + 1 }]), state, defaultMemoryOptions, 1);
    assert.deepEqual(d.actions, [], `t=${t} unused ${unusedMiB.toFixed(0)}`);
    state = d.state;
  }
});

for (const seed of [1, 2, 3, 4]) {
  test(`noisy statistics (±25 MiB) converge and stay within bounded oscillation (seed ${seed})`, () => {
    const world = new BalloonWorld(
      [{ name: 'noisy', actualMiB: 1024, maximumMiB: 2048, used: () => 300, reservedMiB: 40, noiseMiB: 25 }],
      8192,
      undefined,
      1,
      seed,
    );
    world.run(20);
    resetLows(world);
    const records = world.run(200);
    const actuals = records.map((r) => r.actual.noisy! / MiB);
    const need = 300 + 40 + floor;
    assert.ok(Math.min(...actuals) >= need - 40, `lowest ${Math.min(...actuals).toFixed(0)} MiB`);
    assert.ok(Math.max(...actuals) <= need + 250, `highest ${Math.max(...actuals).toFixed(0)} MiB`);
    const changes = records.flatMap((r) => setMemoryActions(r.decision));
    assert.ok(changes.length <= 20, `${changes.length} balloon changes in 200 intervals`);
    assert.ok(world.guest('noisy').minUnusedKiB >= 100 * MiB, 'never pushed to the starvation threshold');
    assert.equal(world.oomEvents, 0);
  });
}
