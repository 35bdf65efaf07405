import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryState } from '../../src/memory/coordinator.js';
import { observation, type GuestInput } from './observation.js';

const options = defaultMemoryOptions;

function decide(t: number, guests: GuestInput[], state: MemoryState) {
  return decideMemory(observation(t, 8192, guests), state, options, 1);
}

const wasteful: GuestInput = { name: 'idle', actualMiB: 2048, unusedMiB: 1800 };

test('a reading already acted on is never acted on again: no second shrink until last-update advances', () => {
  const first = decide(0, [{ ...wasteful, lastUpdate: 100 }], initialMemoryState());
  const shrink = first.actions.find((a) => a.kind === 'set-memory');
  assert.ok(shrink && shrink.kind === 'set-memory' && shrink.targetKiB < shrink.fromKiB, 'first fresh reading shrinks');

  // Same last-update, balloon has moved to the target, the stale unused still looks wasteful.
  let state = first.state;
  for (let t = 1; t <= 3; t++) {
    const again = decide(t, [{ ...wasteful, actualMiB: shrink.targetKiB / 1024, lastUpdate: 100 }], state);
    assert.deepEqual(again.actions, [], `no action on the stale reading at t=${t}`);
    state = again.state;
  }
  // The first shrink took the whole excess (it was beyond the waste threshold); the fresh reading shows use fell further.
  const fresh = decide(4, [{ ...wasteful, actualMiB: shrink.targetKiB / 1024, unusedMiB: shrink.targetKiB / 1024 - 100, lastUpdate: 101 }], state);
  assert.equal(fresh.actions.filter((a) => a.kind === 'set-memory').length, 1, 'acts again once last-update advanced');
});

test('a guest whose statistics stopped is left as it is, reported once, and asked for statistics again (bounded)', () => {
  let state = initialMemoryState();
  // Quiet guest: nothing to do, then its stats freeze while it looks starving.
  const quiet: GuestInput = { name: 'frozen', actualMiB: 512, unusedMiB: 200, lastUpdate: 50 };
  state = decide(0, [quiet], state).state;
  const notices = [];
  let statsRequests = 0;
  for (let t = 1; t <= 60; t++) {
    const d = decide(t, [{ ...quiet, unusedMiB: 20, lastUpdate: 50 }], state);
    notices.push(...d.notices);
    state = d.state;
    statsRequests += d.actions.filter((a) => a.kind === 'set-stats-period').length;
    if (t >= options.staleAfterSeconds + 1) {
      assert.equal(d.actions.filter((a) => a.kind === 'set-memory').length, 0, `no memory change on stopped stats at t=${t}`);
      assert.equal(d.guests[0]!.fresh, false);
    }
  }
  assert.equal(notices.length, 1);
  assert.match(notices[0]!.message, /statistics stopped/);
  // A frozen boot-time report or a period set to 0 looks the same as a hung driver: ask again, a few times only.
  assert.ok(statsRequests >= 1 && statsRequests <= options.statsRequestAttempts, `${statsRequests} stats requests`);
});

test('a stopped guest with lots of unused memory is not shrunk', () => {
  let state = initialMemoryState();
  const stuck: GuestInput = { ...wasteful, name: 'stuck', lastUpdate: 7 };
  // First reading: acted on (shrink); afterwards last-update never moves again.
  const first = decide(0, [stuck], state);
  state = first.state;
  for (let t = 1; t <= 20; t++) {
    const d = decide(t, [stuck], state);
    assert.equal(d.actions.filter((a) => a.kind === 'set-memory').length, 0);
    state = d.state;
  }
});

test('the input state is not modified (pure function)', () => {
  const state = initialMemoryState();
  const snapshot = JSON.stringify(state);
  decide(0, [{ ...wasteful, lastUpdate: 3 }], state);
  assert.equal(JSON.stringify(state), snapshot);
});
