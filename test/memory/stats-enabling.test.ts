import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryDecision, type MemoryState } from '../../src/memory/coordinator.js';
import { observation, type GuestInput } from './observation.js';

const options = defaultMemoryOptions;

function run(steps: { t: number; guests: GuestInput[] }[]): MemoryDecision[] {
  let state: MemoryState = initialMemoryState();
  return steps.map(({ t, guests }) => {
    const d = decideMemory(observation(t, 8192, guests), state, options, 1);
    state = d.state;
    return d;
  });
}

const booting: GuestInput = { name: 'vm1', actualMiB: 2048, maximumMiB: 2048 };

test('asks each guest without statistics for them once, then waits', () => {
  const decisions = run([0, 1, 2, 3].map((t) => ({ t, guests: [booting, { ...booting, name: 'vm2' }] })));
  const first = decisions[0]!.actions;
  assert.equal(first.length, 2);
  for (const a of first) {
    assert.equal(a.kind, 'set-stats-period');
    assert.equal(a.kind === 'set-stats-period' && a.seconds, options.statsPeriodSeconds);
    assert.match(a.reason, /no balloon statistics/);
  }
  assert.deepEqual(new Set(first.map((a) => a.domain.name)), new Set(['vm1', 'vm2']));
  for (const d of decisions.slice(1)) assert.equal(d.actions.length, 0);
});

test('a domain that appears later is asked when it appears', () => {
  const decisions = run([
    { t: 0, guests: [booting] },
    { t: 1, guests: [booting] },
    { t: 2, guests: [booting, { ...booting, name: 'late' }] },
  ]);
  assert.deepEqual(decisions[2]!.actions.map((a) => [a.kind, a.domain.name]), [['set-stats-period', 'late']]);
});

test('never sets memory before real statistics arrive (balloon driver not loaded: actual reads the maximum)', () => {
  const decisions = run(Array.from({ length: 40 }, (_, t) => ({ t, guests: [booting] })));
  const setMemory = decisions.flatMap((d) => d.actions).filter((a) => a.kind === 'set-memory');
  assert.equal(setMemory.length, 0);
  for (const d of decisions) assert.equal(d.guests[0]!.fresh, false);
});

test('asks again after statsRetrySeconds, then reports the guest once and leaves it alone', () => {
  const decisions = run(Array.from({ length: 60 }, (_, t) => ({ t, guests: [booting] })));
  const requests = decisions.flatMap((d, t) => d.actions.map(() => t));
  const attempts = options.statsRequestAttempts;
  assert.equal(requests.length, attempts);
  for (let i = 1; i < requests.length; i++) assert.equal(requests[i]! - requests[i - 1]!, options.statsRetrySeconds);
  const notices = decisions.flatMap((d) => d.notices);
  assert.equal(notices.length, 1, 'reported exactly once');
  assert.equal(notices[0]!.domain, 'vm1');
  assert.match(notices[0]!.message, new RegExp(`after ${attempts} requests`));
});

test('once statistics appear, the guest is managed and not asked again', () => {
  const withStats: GuestInput = { name: 'vm1', actualMiB: 2048, maximumMiB: 2048, unusedMiB: 1800 };
  const decisions = run([
    { t: 0, guests: [booting] },
    { t: 1, guests: [{ ...withStats, lastUpdate: 1 }] },
    { t: 2, guests: [{ ...withStats, lastUpdate: 2 }] },
    ...Array.from({ length: 15 }, (_, i) => ({ t: 3 + i, guests: [booting] })),
  ]);
  assert.equal(decisions[1]!.actions.filter((a) => a.kind === 'set-stats-period').length, 0);
  assert.ok(decisions.slice(1, 3).flatMap((d) => d.actions).some((a) => a.kind === 'set-memory'), 'the idle guest is reclaimed');
});

test('a guest without a balloon device is reported once', () => {
  const guests = [{ name: 'bare', actualMiB: 512, noBalloon: true }];
  const decisions = run([0, 1, 2].map((t) => ({ t, guests })));
  assert.equal(decisions.flatMap((d) => d.notices).length, 1);
  assert.equal(decisions.flatMap((d) => d.actions).length, 0);
});

test('a domain that shuts off and starts again is asked again', () => {
  const decisions = run([
    { t: 0, guests: [booting] },
    { t: 1, guests: [{ ...booting, state: 'shutoff' }] },
    { t: 2, guests: [booting] },
  ]);
  assert.equal(decisions[2]!.actions.filter((a) => a.kind === 'set-stats-period').length, 1);
});

test('a guest whose readings arrive every 5 s is asked for the 1 s period; once it complies, no more', () => {
  let askedAt: number | undefined;
  const guest = (t: number): GuestInput => ({
    name: 'slow',
    actualMiB: 512,
    unusedMiB: 250,
    lastUpdate: askedAt === undefined ? 1000 + 5 * Math.floor(t / 5) : 1000 + Math.floor(t),
  });
  let state: MemoryState = initialMemoryState();
  const requests = [];
  for (let t = 0; t < 40; t += 2) {
    const d = decideMemory(observation(t, 8192, [guest(t)]), state, options, 2);
    state = d.state;
    for (const a of d.actions) if (a.kind === 'set-stats-period') {
      requests.push(a);
      askedAt ??= t;
    }
  }
  assert.equal(requests.length, 1);
  assert.match(requests[0]!.reason, /arrive every 5 s/);
});

test('a guest that keeps its slow period is asked at most statsRequestAttempts times, statsRetrySeconds apart', () => {
  const decisions = run(Array.from({ length: 40 }, (_, i) => ({ t: 2 * i, guests: [{ name: 'slow', actualMiB: 512, unusedMiB: 250, lastUpdate: 1000 + 5 * Math.floor((2 * i) / 5) }] })));
  const at = decisions.flatMap((d, i) => d.actions.filter((a) => a.kind === 'set-stats-period').map(() => 2 * i));
  assert.equal(at.length, options.statsRequestAttempts);
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= options.statsRetrySeconds);
});

test('readings every period at a longer interval are not mistaken for a slow period', () => {
  const steady = (t: number): GuestInput => ({ name: 'ok', actualMiB: 512, unusedMiB: 250, lastUpdate: 1000 + t });
  let state: MemoryState = initialMemoryState();
  for (let i = 0; i < 10; i++) {
    const d = decideMemory(observation(5 * i, 8192, [steady(5 * i)]), state, options, 5);
    assert.equal(d.actions.filter((a) => a.kind === 'set-stats-period').length, 0);
    state = d.state;
  }
});

test('a frozen boot-time report (more free memory than the guest has) counts as no statistics: asked for them, nothing done on its numbers', () => {
  // QEMU keeps the report the balloon driver sent at load time, before the balloon inflated to 512 MiB.
  const bootReport: GuestInput = { name: 'vm1', actualMiB: 512, maximumMiB: 2048, unusedMiB: 1900, availableMiB: 2048, lastUpdate: 1000 };
  const decisions = run([0, 1, 2].map((t) => ({ t, guests: [bootReport] })));
  assert.deepEqual(decisions[0]!.actions.map((a) => a.kind), ['set-stats-period']);
  assert.match(decisions[0]!.actions[0]!.reason, /no balloon statistics/);
  for (const d of decisions) assert.equal(d.actions.filter((a) => a.kind === 'set-memory').length, 0);
  // Once live readings arrive, the guest is managed as usual.
  const live = run([
    { t: 0, guests: [bootReport] },
    { t: 1, guests: [{ ...bootReport, unusedMiB: 20, availableMiB: 512, lastUpdate: 1001 }] },
  ]);
  assert.ok(live[1]!.actions.some((a) => a.kind === 'set-memory' && a.targetKiB > a.fromKiB), 'a live reading of a starving guest grows it');
});
