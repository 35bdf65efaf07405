// The mixed case on the simulated host (clock-bound bursty guests, src/host/sim/clock-bound.ts): the
// scheduler learns which vCPUs are clock-bound from what they received, then places by its objective.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScenario } from '../../src/host/sim/index.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions, type CpuObjective } from '../../src/cpu/options.js';
import { fairSharesOf } from '../../src/cpu/sharing.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';

// Two busy and two bursty (40 ms of every 100 ms) one-vCPU guests on 2 pCPUs, one of each per pCPU:
// the placement that minimises the spread, and the one water-filling calls fair.
const mixed = parseScenario(
  `name: learned-mix
description: busy + bursty per pCPU
controllers: [cpu]
interval: 2
intervals: 30
host: { pcpus: 2, memoryMiB: 8192, overheadMiB: 1024 }
domains:
  - { name: busy1, memoryMiB: 1024, pin: [0], workload: { cpu: { constant: 1.0 } } }
  - { name: bursty1, memoryMiB: 1024, pin: [0], workload: { cpu: { bursty: { duty: 0.4, period: 100, phase: 0 } } } }
  - { name: busy2, memoryMiB: 1024, pin: [1], workload: { cpu: { constant: 1.0 } } }
  - { name: bursty2, memoryMiB: 1024, pin: [1], workload: { cpu: { bursty: { duty: 0.4, period: 100, phase: 30 } } } }
`,
  'learned-mix.yaml',
);

async function play(objective: CpuObjective | undefined): Promise<TraceInterval[]> {
  const cpu = objective === undefined ? { ...defaultCpuSchedulerOptions } : { ...defaultCpuSchedulerOptions, objective };
  const lines = await simulateScenario(mixed, { cpu });
  return lines.filter((l): l is TraceInterval => l.type === 'interval');
}

/** Worst received / max-min fair share over the guests, by the simulator's truth. */
function worstFraction(i: TraceInterval): number {
  const vcpus = i.truth!.vcpus;
  const fair = fairSharesOf(vcpus.map((v) => v.demand), 2);
  return Math.min(...vcpus.map((v, k) => v.received / fair[k]!));
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const usageSpread = (i: TraceInterval): number => Math.max(...i.cpu!.pcpuUsage) - Math.min(...i.cpu!.pcpuUsage);

test('run\'s objective (fairness): the bursty guests are learned clock-bound and put together; the worst guest gets ≥ 80 % of its fair share', async () => {
  const intervals = await play(undefined);
  const settled = intervals.slice(-10);
  for (const i of settled) assert.ok(worstFraction(i) >= 0.8, `interval ${i.interval}: worst ${worstFraction(i).toFixed(3)} of fair share`);
  assert.ok(worstFraction(intervals[1]!) < 0.6, 'paired, the bursty guests get about half their fair share');
  const marked = settled.at(-1)!.cpu!.vcpus.filter((v) => v.clockBound).map((v) => v.domain).sort();
  assert.deepEqual(marked, ['bursty1', 'bursty2']);
  const pins = intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin');
  assert.equal(pins.length, 2, 'one move each way, then quiet');
  // Why, as data: the learned clock-bound vCPUs kept apart (or grouped apart), under the fairness objective.
  const why = pins[0]!.kind === 'pin' ? pins[0]!.why : undefined;
  assert.ok(why && (why.rule === 'segregate' || why.rule === 'groups'), `rule ${why?.rule}`);
  assert.equal(why.figures.objective, 'fairness');
  // The prediction error drops once the model is learned.
  const errors = intervals.map((i) => i.cpu?.predictionError).filter((e): e is number => e !== undefined);
  const before = errors[0]!;
  const after = mean(errors.slice(-10));
  assert.ok(before >= 0.1, `water-filling misjudges the pairing: error ${before}`);
  assert.ok(after <= 0.03 && after < before / 3, `prediction error ${before} → ${after}`);
});

test('the balance objective learns the same, keeps the usage balanced, and takes the host scheduler alone once measured fairer than the pairing', async () => {
  const intervals = await play('balance');
  // The model finds no balanced placement fairer; the pairing is measured at half the fair share, so the
  // host's scheduler alone (every vCPU released) is the epoch's one trial, measured fairer and kept.
  const pins = intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin');
  assert.equal(pins.length, 4);
  assert.ok(pins.every((a) => a.pcpus.length === 2));
  assert.equal(intervals.filter((i) => i.cpu?.trial?.event === 'reverted').length, 0);
  const settled = intervals.slice(-10);
  for (const i of settled) assert.ok(usageSpread(i) <= 0.05, `interval ${i.interval}: usage spread ${usageSpread(i)}`);
  const worst = worstFraction(settled.at(-1)!);
  assert.ok(worst > 0.6 && worst < 0.8, `released, worst ${worst}`);
  assert.deepEqual(settled.at(-1)!.cpu!.vcpus.filter((v) => v.clockBound).map((v) => v.domain).sort(), ['bursty1', 'bursty2']);
});
