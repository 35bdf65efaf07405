// A window shorter than half the interval, through the whole loop (issue #17): after a slow interval
// the loop starts the next at once; on that window the vCPU scheduler decides nothing, the trace
// marks it, the monitor prints no usage for it, and the score leaves it out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runControlLoop } from '../../src/control/loop.js';
import { formatCpuMonitor, formatInterval } from '../../src/control/monitor.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { scoreCpu } from '../../src/score/cpu.js';
import type { Clock } from '../../src/ground/hypervisor.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';

test('control loop: a 110 ms window of a 2 s interval is marked, decided on by no one, shown as such by the monitor', async () => {
  // Eight busy guests all on pCPU0 of four: the scheduler re-pins them as soon as it may.
  const sim = createSimulatedHost(loadScenario(resolveScenarioPath('cpu-2-all-on-pcpu0')));
  // The first sleep is cut to 110 ms (as if observing had taken all but 110 ms of the interval): window 1 is short.
  let sleeps = 0;
  const clock: Clock = { nowMs: () => sim.clock.nowMs(), sleep: async (ms) => sim.clock.sleep(sleeps++ === 0 ? 110 : ms) };
  const entries: TraceInterval[] = [];
  await runControlLoop(sim.hypervisor, clock, { intervalSeconds: 2, intervals: 4, cpu: { ...defaultCpuSchedulerOptions } }, { record: (e) => void entries.push(e) });

  const short = entries[1]!;
  assert.equal(short.cpu?.shortWindow, true);
  assert.equal(short.cpu?.elapsedNs, 110e6);
  assert.deepEqual(short.actions, [], 'no pin on a short window');
  assert.deepEqual(short.notices.map((n) => n.message), ['window 0.11 s is shorter than half the 2 s interval: nothing decided']);
  const monitor = formatCpuMonitor(short);
  assert.equal(monitor.length, 4);
  assert.match(monitor[0]!, /^0 - usage: n\/a \(window 0\.11 s too short\) \| mapping \['vm1', /);
  assert.ok(monitor.every((line) => !/usage: \d/.test(line)), monitor.join('\n'));
  assert.ok(formatInterval(short).some((line) => line === '  ~ window 0.11 s is shorter than half the 2 s interval: nothing decided'));

  // The next window is a full one (from the short window's end): decided on, as on any run.
  const next = entries[2]!;
  assert.equal(next.cpu?.shortWindow, undefined);
  assert.equal(next.cpu?.elapsedNs, 2e9);
  assert.ok(next.actions.some((a) => a.kind === 'pin'), 'the first full window re-pins');
  assert.match(formatCpuMonitor(next)[0]!, /^0 - usage: \d+\.\d \| mapping/);

  // The score's spread and fairness count the full windows only.
  const score = scoreCpu(entries, 4);
  assert.deepEqual(score.spread?.perInterval.map((s) => s.interval), [2, 3]);
  assert.equal(score.intervals, 2);
  assert.equal(score.shortWindows, 1);
  assert.equal(score.fairnessWholeRun?.fromInterval, 2);
  assert.equal(score.fairnessWholeRun?.intervals, 2);
});
