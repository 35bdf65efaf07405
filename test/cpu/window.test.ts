// A window much shorter than the interval (issue #17): the vCPU scheduler decides nothing on it,
// feeds none of its readings to its demand history, says why, and marks it in the trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuController } from '../../src/cpu/controller.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { shortWindowSummary } from '../../src/cpu/window.js';
import type { ControllerInput } from '../../src/ground/controller.js';
import { measurementOf, vms } from './fixtures.js';

const input = (intervalSeconds: number): ControllerInput => ({ current: undefined as never, intervalSeconds });

test('shortWindowSummary: below half the interval is short, and says so in one line', () => {
  assert.equal(shortWindowSummary(0.112e9, 2), 'window 0.11 s is shorter than half the 2 s interval: nothing decided');
  assert.equal(shortWindowSummary(0.999e9, 2), 'window 1.00 s is shorter than half the 2 s interval: nothing decided');
  assert.equal(shortWindowSummary(0, 0.5), 'window 0.00 s is shorter than half the 0.5 s interval: nothing decided');
  assert.equal(shortWindowSummary(1e9, 2), undefined, 'half the interval is enough');
  assert.equal(shortWindowSummary(7.5e9, 2), undefined, 'a long window is decided on');
  assert.equal(shortWindowSummary(0.1e9, undefined), undefined, 'no interval known: decided as before');
  assert.equal(shortWindowSummary(0.1e9, 0), undefined);
  assert.equal(shortWindowSummary(0.1e9, Number.NaN), undefined);
});

test('the vCPU scheduler decides nothing on a short window: no pins, state untouched, a notice why, the trace marked', () => {
  // Four busy guests all on pCPU0 of four: a full window re-pins them.
  const placement = vms([1, 1, 1, 1], [0, 0, 0, 0]);
  const options = { ...defaultCpuSchedulerOptions };
  // A state with a demand history: one full window of the same guests, each on a pCPU of its own.
  const state = cpuController.decide(measurementOf(4, vms([1, 1, 1, 1], [0, 1, 2, 3])), cpuController.initialState(), options, input(2)).state;
  assert.equal(state.vcpus.length, 4);
  // A 112 ms window reading every vCPU at a made-up demand: nothing of it is used.
  const short = { ...measurementOf(4, vms([0.1, 0.1, 0.1, 0.1], [0, 0, 0, 0])), elapsedNs: 0.112e9 };
  const skipped = cpuController.decide(short, state, options, input(2));
  assert.deepEqual(skipped.actions, []);
  assert.equal(skipped.state, state, 'the very same state: no history advanced, no interval counted');
  assert.deepEqual(skipped.notices, [{ message: 'window 0.11 s is shorter than half the 2 s interval: nothing decided' }]);
  assert.equal(skipped.trace?.shortWindow, true);
  assert.equal(skipped.trace?.elapsedNs, 0.112e9);
  assert.equal(skipped.trace?.balanced, false);
  assert.equal(skipped.trace?.spreadPoints, 0);
  assert.equal(skipped.trace?.vcpus.length, 4, 'what was read is kept for the record');
  assert.ok(skipped.trace?.vcpus.every((v) => v.predicted === undefined), 'no prediction is checked against a short window');

  // The same state on a full window acts: the guard, not the state, stopped it.
  const full = cpuController.decide(measurementOf(4, placement), state, options, input(2));
  assert.ok(full.actions.length > 0, 'a full window re-pins');
  assert.equal(full.trace?.shortWindow, undefined);
  assert.equal(full.state.intervals, state.intervals + 1);
});
