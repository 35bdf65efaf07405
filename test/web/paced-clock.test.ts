import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../../src/ground/hypervisor.js';
import { pacedClock } from '../../src/web/paced-clock.js';

function virtualClock(): Clock {
  let now = 0;
  return { nowMs: () => now, sleep: async (ms) => void (now += ms) };
}

test('pace N: N virtual intervals per real second, virtual time unchanged', async () => {
  const virtual = virtualClock();
  const clock = pacedClock(virtual, 2, 20); // 2 s intervals, 20 per second: 50 ms each
  const started = performance.now();
  for (let k = 0; k < 6; k++) await clock.sleep(2000);
  const took = performance.now() - started;
  assert.equal(clock.nowMs(), 12_000);
  assert.ok(took >= 290 && took < 600, `6 paced intervals took ${took.toFixed(0)} ms (expected ~300)`);
});

test('work done between sleeps does not make the run drift', async () => {
  const clock = pacedClock(virtualClock(), 1, 25); // 40 ms per interval
  const started = performance.now();
  for (let k = 0; k < 5; k++) {
    const busyUntil = performance.now() + 15;
    while (performance.now() < busyUntil);
    await clock.sleep(1000);
  }
  const took = performance.now() - started;
  assert.ok(took < 40 * 5 + 60, `5 intervals with 15 ms of work each took ${took.toFixed(0)} ms (expected ~200, not ~275)`);
});
