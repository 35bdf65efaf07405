// The monitor's trial lines (issue #17): one line when a trial of the vCPU scheduler starts, is
// kept, reverted or abandoned; nothing while it is measured or when a proposal is held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatInterval, formatTrialMonitor } from '../../src/control/monitor.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { loadScenario } from '../../src/host/sim/index.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { trialTrace } from '../score/fixtures.js';
import { fixture } from '../web/helpers.js';

const intervalsOf = (lines: { type: string }[]) => lines.filter((l): l is TraceInterval => l.type === 'interval');

test('monitor: a line for each trial started, kept, reverted or abandoned, with its figures; none while measuring or held', () => {
  const byInterval = new Map(intervalsOf(trialTrace()).map((e) => [e.interval, formatTrialMonitor(e)]));
  assert.deepEqual(byInterval.get(1), ['  trial started (demand epoch 1): the placement left delivered worst 55 % of fair share']);
  for (const n of [2, 3, 4, 7, 8, 10, 11]) assert.deepEqual(byInterval.get(n), [], `interval ${n}`);
  assert.deepEqual(byInterval.get(5), ['  trial reverted: worst 51 % of fair share (before 55 %), measured worse: the moved vCPUs go back']);
  assert.deepEqual(byInterval.get(12), ['  trial kept: worst 88 % of fair share (before 55 %)']);
  // Abandoned as the next trial starts: both, the abandonment first, with the reason the trace gives.
  assert.deepEqual(byInterval.get(16), [
    '  trial abandoned: vm1 vCPU0 demand 1.00 → 0.60 (band ±0.05)',
    '  trial started (demand epoch 4): the placement left delivered worst 70 % of fair share',
  ]);
  // An explicit abandoned event without a reason.
  const lone: TraceInterval = { ...intervalsOf(trialTrace())[17]!, cpu: { ...intervalsOf(trialTrace())[17]!.cpu!, decision: 'balanced', trial: { event: 'abandoned', epoch: 5 } } };
  assert.deepEqual(formatTrialMonitor(lone), ['  trial abandoned: demands changed before it was measured']);
});

test('monitor on a simulated run: the paired bursty guests\' trial starts and loses, the host alone tried instead is reverted, and the lines sit between the pCPU lines and the pins', async () => {
  const lines = await simulateScenario(loadScenario(fixture('bursty-paired.yaml')), { cpu: { ...defaultCpuSchedulerOptions, objective: 'fairness' }, intervals: 10 });
  const text = intervalsOf(lines).flatMap((e) => formatInterval(e));
  const trialLines = text.filter((l) => l.startsWith('  trial '));
  assert.equal(trialLines.length, 4, trialLines.join('\n'));
  assert.match(trialLines[0]!, /^ {2}trial started \(demand epoch 1\): the placement left delivered worst 8\d % of fair share$/);
  assert.match(trialLines[1]!, /^ {2}trial measured worse: worst 5\d % of fair share \(before 8\d %\): another placement tried instead of going back$/);
  assert.match(trialLines[2]!, /^ {2}trial started \(demand epoch 1\): the placement left delivered worst 8\d % of fair share$/);
  assert.match(trialLines[3]!, /^ {2}trial reverted: worst 6\d % of fair share \(before 8\d %\), measured worse: the moved vCPUs go back$/);
  const at = text.indexOf(trialLines[3]!);
  assert.match(text[at - 1]!, /^1 - usage: /);
  assert.match(text[at + 1]!, /^ {2}> pin .*\(trial reverted\)/);
});
