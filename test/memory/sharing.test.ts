import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shareMemory } from '../../src/memory/sharing.js';
import { growthBudgetKiB } from '../../src/memory/reserve.js';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryOptions } from '../../src/memory/coordinator.js';
import { observation } from './observation.js';
import { BalloonWorld, MiB, consumer, setMemoryActions } from './balloon-driver.js';

test('enough for all: every request granted in full', () => {
  const plan = shareMemory([{ name: 'a', weight: 1, currentKiB: 500, requestKiB: 100 }, { name: 'b', weight: 5, currentKiB: 0, requestKiB: 200 }], 1000);
  assert.equal(plan.short, false);
  assert.deepEqual([...plan.grants], [['a', 100], ['b', 200]]);
});

test('short, equal holdings: split by weight, and what a capped guest leaves over goes to the others by weight', () => {
  const plan = shareMemory(
    [
      { name: 'small', weight: 1, currentKiB: 0, requestKiB: 50 },
      { name: 'heavy', weight: 2, currentKiB: 0, requestKiB: 10_000 },
      { name: 'light', weight: 1, currentKiB: 0, requestKiB: 10_000 },
    ],
    1050,
  );
  assert.equal(plan.short, true);
  assert.equal(plan.grants.get('small'), 50);
  assert.ok(Math.abs(plan.grants.get('heavy')! - 666) <= 1);
  assert.ok(Math.abs(plan.grants.get('light')! - 333) <= 1);
  const total = [...plan.grants.values()].reduce((a, b) => a + b, 0);
  assert.ok(total <= 1050);
});

test('short, unequal holdings: the guest furthest below its share is raised first; memory in use is not taken', () => {
  const plan = shareMemory(
    [
      { name: 'ahead', weight: 1, currentKiB: 1300, requestKiB: 800 },
      { name: 'behind', weight: 1, currentKiB: 1000, requestKiB: 800 },
    ],
    400,
  );
  // Level L: behind rises to L, ahead (already at 1300) only once L passes 1300 → L = 1350.
  assert.ok(Math.abs(plan.grants.get('behind')! - 350) <= 1);
  assert.ok(Math.abs(plan.grants.get('ahead')! - 50) <= 1);
  assert.ok(Math.abs(plan.levelKiB! - 1350) <= 1);
  const small = shareMemory(
    [
      { name: 'ahead', weight: 1, currentKiB: 1300, requestKiB: 800 },
      { name: 'behind', weight: 1, currentKiB: 1000, requestKiB: 800 },
    ],
    200,
  );
  assert.equal(small.grants.get('ahead'), 0);
  assert.ok(Math.abs(small.grants.get('behind')! - 200) <= 1);
});

test('no budget (host already below its reserve): nothing granted', () => {
  const plan = shareMemory([{ name: 'a', weight: 1, currentKiB: 100, requestKiB: 100 }], -500);
  assert.equal(plan.short, true);
  assert.equal(plan.grants.get('a'), 0);
});

test('the budget counts memory promised to guests but not yet resident on the host', () => {
  const budget = growthBudgetKiB(4000, 1000, [
    { actualKiB: 500, committedKiB: 800 }, // a grow still landing: 300 not yet taken from host free
    { actualKiB: 1000, committedKiB: 1000, rssKiB: 600 }, // 400 the guest may touch at any time
    { actualKiB: 1000, committedKiB: 1000, rssKiB: 1200 }, // QEMU overhead above actual: nothing hidden
  ]);
  assert.equal(budget, 4000 - 1000 - 300 - 400);
});

test('scarce host: idle memory is taken back at once and the starving guests share by weight', () => {
  const options: MemoryOptions = { ...defaultMemoryOptions, weights: { gold: 3 } };
  const hostFreeMiB = defaultMemoryOptions.reserveMiB + 200; // the two starving guests want 180 MiB each
  const d = decideMemory(
    observation(0, hostFreeMiB, [
      { name: 'gold', actualMiB: 600, unusedMiB: 20, lastUpdate: 5 },
      { name: 'bronze', actualMiB: 600, unusedMiB: 20, lastUpdate: 5 },
      { name: 'idle', actualMiB: 1500, unusedMiB: 1200, lastUpdate: 5 },
      { name: 'modest', actualMiB: 600, unusedMiB: 280, lastUpdate: 5 }, // inside the band: only taxed when short
    ]),
    initialMemoryState(),
    options,
    1,
  );
  const byName = new Map(d.actions.filter((a) => a.kind === 'set-memory').map((a) => [a.domain.name, a]));
  const idle = byName.get('idle')!;
  assert.equal(idle.targetKiB, (1500 - 1200 + 200) * MiB, 'idle guest taken straight to used + floor');
  assert.match(idle.reason, /host short/);
  assert.equal(byName.get('modest')!.targetKiB, (600 - 280 + 200) * MiB);
  const gold = byName.get('gold')!;
  const bronze = byName.get('bronze')!;
  const goldGain = gold.targetKiB - gold.fromKiB;
  const bronzeGain = bronze.targetKiB - bronze.fromKiB;
  assert.ok(goldGain + bronzeGain <= 200 * MiB, 'within host free − reserve');
  // Both hold 600 MiB; with 3 shares against 1, gold is further below its share and is served
  // first: its whole 180 MiB, bronze what is left.
  assert.equal(goldGain, 180 * MiB);
  assert.ok(Math.abs(bronzeGain - 20 * MiB) <= 1, `bronze ${bronzeGain / MiB} MiB`);
  assert.match(gold.reason, /shared by weight \(3 of 4: its share \d+ MiB\)/);
  // Shrinks come before grows, so the control loop releases before it takes.
  const kinds = d.actions.map((a) => (a.kind === 'set-memory' && a.targetKiB < a.fromKiB ? 'shrink' : 'grow'));
  assert.deepEqual(kinds, [...kinds].sort((a, b) => (a === b ? 0 : a === 'shrink' ? -1 : 1)));
});

test('a starving guest the host cannot help is reported once, not acted on', () => {
  let state = initialMemoryState();
  const notices = [];
  for (let t = 0; t < 5; t++) {
    const d = decideMemory(
      observation(t, defaultMemoryOptions.reserveMiB - 100, [{ name: 'poor', actualMiB: 600, unusedMiB: 20, lastUpdate: t + 1 }]),
      state,
      defaultMemoryOptions,
      1,
    );
    assert.equal(d.actions.length, 0);
    notices.push(...d.notices);
    state = d.state;
  }
  assert.equal(notices.length, 1);
  assert.match(notices[0]!.message, /starving but not grown/);
});

test('dynamics on a small host: consumers get memory taken from idle guests, host free never below the reserve', () => {
  const reserve = defaultMemoryOptions.reserveMiB;
  const world = new BalloonWorld(
    [
      { name: 'eater', actualMiB: 512, maximumMiB: 2048, used: consumer(150, 5, 40, 1900), reservedMiB: 40 },
      { name: 'idle1', actualMiB: 1200, maximumMiB: 2048, used: () => 150, reservedMiB: 40 },
      { name: 'idle2', actualMiB: 1200, maximumMiB: 2048, used: () => 150, reservedMiB: 40 },
    ],
    512 + 1200 + 1200 + reserve + 300,
  );
  world.minHostFreeKiB = Infinity;
  const records = world.run(90);
  assert.ok(world.minHostFreeKiB >= reserve * MiB, `host free fell to ${world.minHostFreeKiB / MiB} MiB`);
  assert.equal(world.oomEvents, 0);
  assert.equal(world.guest('eater').actualKiB, 2048 * MiB, 'the consumer reaches its maximum once idle memory is back');
  for (const name of ['idle1', 'idle2']) assert.ok(world.guest(name).actualKiB <= (150 + 40 + 200 + 16) * MiB);
  assert.ok(records.flatMap((r) => setMemoryActions(r.decision)).every((a) => a.targetKiB >= 200 * MiB));
});
