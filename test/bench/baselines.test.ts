// The baselines of the memory bench (#18): each written from its published rules, each shown here to
// behave as measured (MOM on real lab guests) or as its rules say, on the lab-like case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBaseline } from '../../bench/memory.js';
import { momBaseline, momTarget, MOM_DEFAULT_SECONDS } from '../../bench/baselines/mom.js';
import { autoBalloonTargets, proxmoxController } from '../../bench/baselines/proxmox.js';
import { chromeosController, limitCacheDelta } from '../../bench/baselines/chromeos.js';
import { labLikeScenario, intervalsOf, actualMiB, ALLOCATION_START_SECONDS, ALLOCATED_MIB } from './lab-like.js';
import type { Scenario } from '../../src/host/sim/index.js';

const MiB = 1024;
const GUESTS = ['vm1', 'vm2', 'vm3'];

function options(scenario: Scenario, minMiB: (name: string) => number) {
  return {
    floorsKiB: Object.fromEntries(scenario.domains.map((d) => [d.name, (d.floorMiB ?? 200) * MiB])),
    reserveKiB: scenario.host.reserveMiB * MiB,
    minKiB: Object.fromEntries(scenario.domains.map((d) => [d.name, minMiB(d.name) * MiB])),
    intervalSeconds: scenario.intervalSeconds,
  };
}

/** Seconds from the start of vm1's allocation until its balloon first reaches the allocated size. */
function secondsToReach(scenario: Scenario, intervals: ReturnType<typeof intervalsOf>): number | undefined {
  const at = intervals.find((e) => actualMiB(e, 'vm1') >= ALLOCATED_MIB);
  return at === undefined ? undefined : at.interval * scenario.intervalSeconds - ALLOCATION_START_SECONDS;
}

test('MOM at a 1 s interval, lab-like case: the allocating guest reaches 1100 MiB within the measured ~35 s and every idle guest is left at its maximum', async () => {
  const scenario = labLikeScenario(120);
  const intervals = intervalsOf(await runBaseline(scenario, momBaseline(1), options(scenario, () => 200)));
  const reached = secondsToReach(scenario, intervals);
  assert.ok(reached !== undefined && reached <= 35, `reached 1100 MiB after ${reached} s (measured: 34.7 s)`);
  const last = intervals[intervals.length - 1]!;
  for (const name of GUESTS) assert.equal(actualMiB(last, name), 2048, `${name} ends at ${actualMiB(last, name)} MiB`);
  // Never shrunk on a host with room: MOM only shrinks under pressure.
  for (const e of intervals) for (const a of e.actions) if (a.kind === 'set-memory') assert.ok(a.targetKiB >= a.fromKiB, `interval ${e.interval}: ${a.reason}`);
});

test('MOM at its 15 s default is slower to feed the same guest than at 1 s (measured 57.1 s against 34.7 s), and still only grows', async () => {
  const scenario = labLikeScenario(120);
  const slow = secondsToReach(scenario, intervalsOf(await runBaseline(scenario, momBaseline(MOM_DEFAULT_SECONDS), options(scenario, () => 200))));
  const fast = secondsToReach(scenario, intervalsOf(await runBaseline(scenario, momBaseline(1), options(scenario, () => 200))));
  assert.ok(slow !== undefined && fast !== undefined && slow > fast, `15 s: ${slow} s, 1 s: ${fast} s`);
});

test('MOM rules: grow to max(1.05 × current, used + f × current); under pressure shrink to max(used + f × current, 0.95 × current); tiny changes skipped; the minimum enforced', () => {
  const g = { currentKiB: 1000 * MiB, maximumKiB: 2048 * MiB, minimumKiB: 200 * MiB, usedKiB: 900 * MiB };
  // 50 % free on the host: f = 0.5, used + f × current = 1400 MiB > 1050.
  assert.equal(momTarget(g, 0.5), 1400 * MiB);
  assert.equal(momTarget({ ...g, usedKiB: 100 * MiB }, 0.5), 1050 * MiB, 'at least 5 % more');
  assert.equal(momTarget({ ...g, currentKiB: 2048 * MiB }, 0.5), undefined, 'at its maximum');
  // 10 % free: pressure, f = 0.1; used 900 + 100 = 1000 = current: nothing to take.
  assert.equal(momTarget(g, 0.1), undefined);
  assert.equal(momTarget({ ...g, usedKiB: 300 * MiB }, 0.1), 950 * MiB, 'at most 5 % less');
  assert.equal(momTarget({ ...g, usedKiB: 880 * MiB }, 0.1), 980 * MiB);
  // 3 % free: critical, f = 0.03 − 0.05 < 0: the guest is pushed below its use, 5 % a step.
  assert.equal(momTarget({ ...g, usedKiB: 990 * MiB }, 0.03), 970 * MiB);
  assert.equal(momTarget({ ...g, currentKiB: 150 * MiB, usedKiB: 100 * MiB }, 0.1), 200 * MiB, 'below the guaranteed minimum');
  // 3 MiB short of its maximum: 0.15 % of its size, under the 0.25 % worth a move.
  assert.equal(momTarget({ ...g, currentKiB: 2045 * MiB }, 0.5), undefined);
  assert.equal(momTarget({ ...g, currentKiB: 2040 * MiB }, 0.5), 2048 * MiB, '0.39 %: made');
});

test('Proxmox compute_alg1: a grow goes to the guests under pressure first, 100 MiB each at most; a shrink to the relaxed ones, never below their minimum', () => {
  const guests = [
    { id: 'a', balloonKiB: 1024 * MiB, minimumKiB: 512 * MiB, maximumKiB: 2048 * MiB, freeKiB: 20 * MiB },
    { id: 'b', balloonKiB: 1024 * MiB, minimumKiB: 512 * MiB, maximumKiB: 2048 * MiB, freeKiB: 600 * MiB },
  ];
  const grow = autoBalloonTargets(guests, 1000 * MiB);
  assert.equal(grow.get('a'), 1124 * MiB);
  assert.equal(grow.has('b'), false, 'b has free memory: a grow goes to a first');
  const shrink = autoBalloonTargets(guests, -1000 * MiB);
  assert.equal(shrink.get('b'), 924 * MiB);
  assert.equal(shrink.has('a'), false);
  const deep = autoBalloonTargets([{ ...guests[1]!, balloonKiB: 560 * MiB }], -1000 * MiB);
  assert.equal(deep.get('b'), 512 * MiB, 'stops at its minimum');
  assert.equal(autoBalloonTargets(guests, 5 * MiB).size, 0, 'within ±10 MiB nothing moves');
  // Equal shares over the allocation above the minimum: two relaxed guests 300 and 100 MiB above it,
  // asked for 200 MiB back, end level (100 MiB each above it) — the larger gives the 100 MiB step.
  const level = autoBalloonTargets([
    { id: 'x', balloonKiB: 812 * MiB, minimumKiB: 512 * MiB, maximumKiB: 2048 * MiB, freeKiB: 400 * MiB },
    { id: 'y', balloonKiB: 612 * MiB, minimumKiB: 512 * MiB, maximumKiB: 2048 * MiB, freeKiB: 400 * MiB },
  ], -200 * MiB);
  assert.equal(level.get('x'), 712 * MiB);
  assert.equal(level.get('y') ?? 612 * MiB, 612 * MiB);
});

test('Proxmox on the lab-like case: host far below 80 % used, so guests only grow, 100 MiB per 10 s cycle, the one short of memory first', async () => {
  const scenario = labLikeScenario(120);
  const intervals = intervalsOf(await runBaseline(scenario, proxmoxController, options(scenario, () => 512)));
  const moves = intervals.flatMap((e) => e.actions.filter((a) => a.kind === 'set-memory').map((a) => ({ e, a })));
  assert.ok(moves.length > 0);
  for (const { a } of moves) {
    if (a.kind !== 'set-memory') continue;
    assert.ok(a.targetKiB > a.fromKiB && a.targetKiB - a.fromKiB <= 100 * MiB, a.reason);
  }
  for (const { e } of moves) assert.equal((e.interval * scenario.intervalSeconds) % 10, 0, 'every 10 s');
  // In a cycle where vm1 has a quarter of its minimum (128 MiB) or less free, it alone is grown.
  const short = intervals.filter((e) => e.actions.some((a) => a.kind === 'set-memory') && (e.memory!.guests.find((g) => g.domain === 'vm1')!.unusedKiB ?? Infinity) <= 128 * MiB);
  assert.ok(short.length > 0, 'vm1 ran short while allocating');
  for (const e of short) assert.deepEqual(e.actions.filter((a) => a.kind === 'set-memory').map((a) => a.domain.name), ['vm1'], `interval ${e.interval}`);
});

test('ChromeOS LimitCache rules: excess free above maxFree is taken; under host pressure the cache is pushed to its target, never more than the cache above it', () => {
  const maxFreeKiB = 200 * MiB;
  // Host with room: free 700 MiB → inflate 500 (to 200 free); cache is left alone.
  assert.equal(limitCacheDelta({ guestFreeKiB: 700 * MiB, guestCacheKiB: 1000 * MiB, hostAvailableKiB: 4096 * MiB, maxFreeKiB }), 500 * MiB);
  // A guest short of free memory is deflated by what is missing.
  assert.equal(limitCacheDelta({ guestFreeKiB: 50 * MiB, guestCacheKiB: 0, hostAvailableKiB: 4096 * MiB, maxFreeKiB }), -150 * MiB);
  // Host close to its margin: target free drops to the 64 MiB minimum, but the balloon takes at most
  // the cache above the 256 MiB target.
  assert.equal(limitCacheDelta({ guestFreeKiB: 700 * MiB, guestCacheKiB: 300 * MiB, hostAvailableKiB: 100 * MiB, maxFreeKiB }), 44 * MiB);
  // With no more cache than the target, the pressure does not reach it: back to maxFree.
  assert.equal(limitCacheDelta({ guestFreeKiB: 700 * MiB, guestCacheKiB: 200 * MiB, hostAvailableKiB: 100 * MiB, maxFreeKiB }), 500 * MiB);
  // Within the same 64 MiB step of free memory, not worth a move.
  assert.equal(limitCacheDelta({ guestFreeKiB: 210 * MiB, guestCacheKiB: 0, hostAvailableKiB: 4096 * MiB, maxFreeKiB }), 0);
});

test('ChromeOS LimitCache on the lab-like case: idle guests are held near used + maxFree, the consumer is fed every interval', async () => {
  const scenario = labLikeScenario(60);
  const intervals = intervalsOf(await runBaseline(scenario, chromeosController, options(scenario, () => 200)));
  const last = intervals[intervals.length - 1]!;
  for (const name of ['vm2', 'vm3']) {
    const used = last.truth!.memoryDemandKiB[name]! / MiB;
    assert.ok(Math.abs(actualMiB(last, name) - (used + 200)) <= 64, `${name} at ${actualMiB(last, name)} MiB, used ${used}`);
  }
  assert.ok(actualMiB(last, 'vm1') >= ALLOCATED_MIB, 'the consumer has what it allocated');
});
