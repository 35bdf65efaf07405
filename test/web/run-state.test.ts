import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { RunState } from '../../src/web/run-state.js';
import { trialTrace } from '../score/fixtures.js';

test('run state: the trials are tallied over every interval seen, also those the bounded history dropped', () => {
  const state = new RunState({ uri: 'sim:test', dryRun: false }, 3);
  for (const l of trialTrace()) if (l.type === 'interval') state.addInterval(l as TraceInterval);
  const snapshot = state.snapshot();
  assert.deepEqual(snapshot.intervals.map((i) => i.interval), [17, 18, 19]);
  const t = snapshot.trials;
  assert.deepEqual([t.started, t.kept, t.reverted, t.abandoned, t.held], [4, 1, 1, 1, 2]);
  assert.equal(t.epoch, 4);
  assert.equal(t.throughInterval, 19);
  assert.equal(t.openEpoch, 4, 'the trial of epoch 4 is in progress');
  assert.equal(t.last?.interval, 16);
  assert.equal(t.lastOutcome?.trial.event, 'abandoned');
  // A copy: the page's snapshot does not move with the run.
  snapshot.trials.started = 99;
  assert.equal(state.trials().started, 4);
});
