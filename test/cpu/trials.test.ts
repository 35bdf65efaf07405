// The trial loop (src/cpu/trials.ts): prediction proposes, measurement decides; never oscillate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseScenario } from '../../src/host/sim/index.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions, type CpuObjective } from '../../src/cpu/options.js';
import { initialTrialState, judgeByTrials, judgeOutcomes, placementSignature, type MeasuredOutcome, type TrialInput, type TrialState } from '../../src/cpu/trials.js';
import type { PinAction } from '../../src/ground/actions.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import type { CpuMeasurement } from '../../src/cpu/usage.js';

const options = { ...defaultCpuSchedulerOptions };
const outcome = (worstFraction: number, usageSpreadPoints = 0, sd = 0): MeasuredOutcome => ({ worstFraction, usageSpreadPoints, samples: 3, sd });

test('the comparator: fairness by the worst fraction beyond the margin; balance puts a balanced placement first', () => {
  assert.equal(judgeOutcomes(outcome(0.8), outcome(0.7), 'fairness', 0.02, 10), 'better');
  assert.equal(judgeOutcomes(outcome(0.71), outcome(0.7), 'fairness', 0.02, 10), 'same');
  assert.equal(judgeOutcomes(outcome(0.6), outcome(0.7), 'fairness', 0.02, 10), 'worse');
  // Noisy measurements widen the margin: two standard errors of the difference.
  assert.equal(judgeOutcomes(outcome(0.6, 0, 0.2), outcome(0.7, 0, 0.2), 'fairness', 0.02, 10), 'same');
  // Balance: balanced beats unbalanced however fair; among balanced ones the fairer wins.
  assert.equal(judgeOutcomes(outcome(0.5, 2), outcome(0.9, 30), 'balance', 0.02, 10), 'better');
  assert.equal(judgeOutcomes(outcome(0.9, 30), outcome(0.5, 2), 'balance', 0.02, 10), 'worse');
  assert.equal(judgeOutcomes(outcome(0.7, 3), outcome(0.5, 1), 'balance', 0.02, 10), 'better');
  // Between two unbalanced ones the less spread wins, unless the other is measured fairer: usage falls where vCPUs
  // starve (mix-147: piled beside a host process, 61 pts and the worst guest at 5 %; spread out, 86 pts and 47 %).
  assert.equal(judgeOutcomes(outcome(0.5, 40), outcome(0.5, 60), 'balance', 0.02, 10), 'better');
  assert.equal(judgeOutcomes(outcome(0.47, 86), outcome(0.05, 61), 'balance', 0.02, 10), 'better');
  assert.equal(judgeOutcomes(outcome(0.05, 61), outcome(0.47, 86), 'balance', 0.02, 10), 'worse');
});

test('a placement signature names the placement, not the order the host lists vCPUs in', () => {
  const a = placementSignature(['x/0', 'y/0'], [[0], [1]]);
  assert.equal(placementSignature(['y/0', 'x/0'], [[1], [0]]), a);
  assert.notEqual(placementSignature(['x/0', 'y/0'], [[1], [0]]), a);
  assert.notEqual(placementSignature(['x/0', 'y/0'], [[0, 1], [1]]), a);
  // pCPUs go in as runs: a run, its ends alone and a gap in it are three placements.
  const run = placementSignature(['x/0'], [[0, 1, 2, 3]]);
  assert.notEqual(placementSignature(['x/0'], [[0, 3]]), run);
  assert.notEqual(placementSignature(['x/0'], [[0, 1, 3]]), run);
  assert.notEqual(placementSignature(['x/0'], [[0, 1, 2]]), run);
  // The same placement asked again of a fresh keys array (hashes are kept per array) names it the same.
  assert.equal(placementSignature(['x/0', 'y/0'].slice(), [[0], [1]]), a);
});

// Two one-vCPU guests on two pCPUs; `usage` says what each received in an interval.
function measurement(affinity: number[][], usage: number[], demand = [1, 1]): CpuMeasurement {
  const vcpus = usage.map((u, i) => ({ domain: { name: `g${i}`, uuid: `u${i}` }, vcpu: 0, affinity: affinity[i]!, pcpu: affinity[i]![0], usage: u, demand: demand[i]! }));
  return { elapsedNs: 1e9, pcpus: 2, vcpus, pcpuUsage: [1, 1], pcpuDemand: [1, 1] };
}
const keys = ['u0/0', 'u1/0'];
const pin = (i: number, to: number[], from: number[]): PinAction => ({ kind: 'pin', domain: { name: `g${i}`, uuid: `u${i}` }, vcpu: 0, pcpus: to, previous: from, reason: 'test' });
const input = (m: CpuMeasurement, interval: number, proposed: PinAction[], objective: CpuObjective = 'fairness'): TrialInput => ({
  m,
  keys,
  demands: m.vcpus.map((v) => v.demand),
  sigmas: [0.01, 0.01],
  interval,
  labels: '',
  proposed,
  content: proposed.length === 0,
  // The model expects every proposal to be fairer: these tests are about what measurement then decides.
  predictedWorst: 0.5,
  predictedWorstAfter: proposed.length > 0 ? 1 : 0.5,
  objective,
});

/** Plays the trial loop: `usageAt(placement)` is what the host delivers under a placement; `propose(k)` the proposer's actions. */
function play(
  intervals: number,
  usageAt: (affinity: number[][]) => number[],
  propose: (k: number, affinity: number[][]) => PinAction[],
  start: number[][] = [[0, 1], [0, 1]],
  initial?: TrialState,
  predict?: (k: number) => { now: number; after: number },
) {
  let affinity = start;
  let state = initial;
  const events: string[] = [];
  const timeline: string[] = [];
  const placements: string[] = [];
  for (let k = 1; k <= intervals; k++) {
    const m = measurement(affinity, usageAt(affinity));
    const proposed = propose(k, affinity);
    const figures = predict?.(k);
    const d = judgeByTrials(state, { ...input(m, k, proposed), ...(figures && proposed.length > 0 ? { predictedWorst: figures.now, predictedWorstAfter: figures.after } : {}) }, options);
    state = d.state;
    if (d.event) events.push(d.event.event);
    if (d.event && d.event.event !== 'measuring') timeline.push(`${k}:${d.event.event}`);
    for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    placements.push(JSON.stringify(affinity));
  }
  return { events, timeline, placements, state: state! };
}

test('a change measured worse is reverted once, and the proposer is then held: never A → B → A → B', () => {
  // Released both get 0.5 (fair); pinned to one pCPU together the host gives them 0.3 and 0.7.
  const usageAt = (a: number[][]): number[] => (a[0]!.length === 1 && a[1]!.length === 1 && a[0]![0] === a[1]![0] ? [0.3, 0.7] : [0.5, 0.5]);
  const proposeTogether = (_: number, a: number[][]): PinAction[] => (a[0]!.length === 2 ? [pin(0, [0], a[0]!), pin(1, [0], a[1]!)] : []);
  const run = play(30, usageAt, proposeTogether);
  assert.deepEqual(run.events.slice(0, 6), ['started', 'measuring', 'measuring', 'measuring', 'reverted', 'held']);
  assert.equal(run.state.counts.started, 1);
  assert.equal(run.state.counts.reverted, 1);
  assert.equal(run.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  const changes = run.placements.filter((p, k) => k > 0 && p !== run.placements[k - 1]).length;
  assert.equal(changes, 1, 'one revert, after the trial; no more moves');
});

test('a change measured better is kept, and the same proposal later changes nothing', () => {
  const usageAt = (a: number[][]): number[] => (a[0]!.length === 1 && a[0]![0] !== a[1]![0] ? [1, 1] : [0.5, 0.5]);
  const proposeApart = (_: number, a: number[][]): PinAction[] => (a[0]!.length === 2 ? [pin(0, [0], a[0]!), pin(1, [1], a[1]!)] : []);
  const run = play(20, usageAt, proposeApart);
  assert.ok(run.events.includes('kept'));
  assert.equal(run.state.counts.reverted, 0);
  assert.equal(run.placements.at(-1), JSON.stringify([[0], [1]]));
});

test('a trial as good within the margin but measured lower than what it left goes back; measured as high, it is kept', () => {
  // Released both get 0.8 of a pCPU; pinned apart 0.79 (lower by less than trialMargin: "same" to the comparator).
  const apart = (a: number[][]): boolean => a[0]!.length === 1 && a[1]!.length === 1 && a[0]![0] !== a[1]![0];
  const proposeApart = (_: number, a: number[][]): PinAction[] => (a[0]!.length === 2 ? [pin(0, [0], a[0]!), pin(1, [1], a[1]!)] : []);
  const lower = play(30, (a) => (apart(a) ? [0.79, 0.79] : [0.8, 0.8]), proposeApart);
  assert.deepEqual(lower.events.slice(0, 5), ['started', 'measuring', 'measuring', 'measuring', 'reverted']);
  assert.equal(lower.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  const changes = lower.placements.filter((p, k) => k > 0 && p !== lower.placements[k - 1]).length;
  assert.equal(changes, 1, 'the revert, and no move after it (A → B → A)');
  // As high (or higher within the margin): kept.
  const same = play(30, (a) => (apart(a) ? [0.81, 0.81] : [0.8, 0.8]), proposeApart);
  assert.deepEqual(same.events.slice(0, 5), ['started', 'measuring', 'measuring', 'measuring', 'kept']);
  assert.equal(same.placements.at(-1), JSON.stringify([[0], [1]]));
  // The balance objective keeps a balanced placement as good however it is measured within the margin.
  assert.equal(judgeOutcomes(outcome(0.79), outcome(0.8), 'balance', 0.02, 10), 'same');
});

test('a probe of the host alone measured lower by no more than trialMargin, or within noise wider than fairShareGain, is a tie, and a tie goes to nothing pinned; lower by more within less noise, it goes back', () => {
  // The climb of the probe test below (both on pCPU0, then g1 let onto both, then g0 onto pCPU1: 0.8), then the probe
  // at 13. `released`: what nothing pinned gives at its k-th reading.
  const climb = (k: number, a: number[][]): PinAction[] => (k === 1 ? [pin(1, [0, 1], a[1]!)] : k === 6 ? [pin(0, [1], a[0]!)] : []);
  const withRelease = (released: (k: number) => number) => {
    let readings = 0;
    return (a: number[][]): number[] => {
      if (a[0]!.length === 2) {
        const r = released(readings++);
        return [r, r];
      }
      return a[0]![0] === 1 ? [0.8, 0.8] : a[1]!.length === 2 ? [0.6, 0.6] : [0.3, 0.3];
    };
  };
  const tie = play(30, withRelease(() => 0.79), climb, [[0], [0]]);
  assert.deepEqual(tie.timeline.slice(-2), ['13:started', '17:kept']);
  assert.equal(tie.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // Readings of 0.73 and 0.80 in turn (0.80, 0.73, 0.80 measured after the settling one): 2.3 points lower, within
  // the noise ("same": a margin of 4.7 points, within the fairShareGain a trial must resolve), beyond the tie: back.
  const lower = play(30, withRelease((k) => (k % 2 === 0 ? 0.73 : 0.8)), climb, [[0], [0]]);
  assert.deepEqual(lower.timeline.slice(-2), ['13:started', '17:reverted']);
  assert.equal(lower.placements.at(-1), JSON.stringify([[1], [0, 1]]));
  // Readings of 0.68 and 0.80 in turn: 4 points lower, but a margin of 8 points, wider than fairShareGain: the
  // trial cannot tell whether the pins earn their keep, and the host alone stays (the lab's mix-2vcpu: margins of 3-47 points).
  const unresolved = play(30, withRelease((k) => (k % 2 === 0 ? 0.68 : 0.8)), climb, [[0], [0]]);
  assert.deepEqual(unresolved.timeline.slice(-2), ['13:started', '17:kept']);
  assert.equal(unresolved.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
});

test('the model\'s own release of every vCPU is the host alone too: measured lower by no more than trialMargin, it is a tie and stays (the lab\'s mix-3-3)', () => {
  const released = (a: number[][]): boolean => a[0]!.length === 2 && a[1]!.length === 2;
  const release = (k: number, a: number[][]): PinAction[] => (k === 4 && !released(a) ? [pin(0, [0, 1], a[0]!), pin(1, [0, 1], a[1]!)] : []);
  const tie = play(20, (a) => (released(a) ? [0.55, 0.55] : [0.56, 0.56]), release, [[0], [1]]);
  assert.deepEqual(tie.timeline, ['4:started', '8:kept']);
  assert.equal(tie.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // Lower by more than trialMargin, within little noise: back to the pins.
  const lower = play(20, (a) => (released(a) ? [0.5, 0.5] : [0.56, 0.56]), release, [[0], [1]]);
  assert.deepEqual(lower.timeline, ['4:started', '8:reverted']);
  assert.equal(lower.placements.at(-1), JSON.stringify([[0], [1]]));
});

test('a climb that ends short of fair is followed by one probe of the host scheduler alone, at its last chance of a next step', () => {
  // Both on pCPU0: 0.3 each; g1 let onto both pCPUs (the model's first step): 0.6; then g0 onto pCPU1 (its second): 0.8; nothing pinned: 0.95.
  const at = (fair: number) => (a: number[][]): number[] => {
    if (a[0]!.length === 2) return [0.95, 0.95];
    if (a[0]![0] === 1) return [fair, fair];
    return a[1]!.length === 2 ? [0.6, 0.6] : [0.3, 0.3];
  };
  const climb = (k: number, a: number[][]): PinAction[] => (k === 1 ? [pin(1, [0, 1], a[1]!)] : k === 6 ? [pin(0, [1], a[0]!)] : []);
  const run = play(30, at(0.8), climb, [[0], [0]]);
  assert.deepEqual(run.timeline, ['1:started', '5:kept', '6:started', '10:kept', '13:started', '17:kept']);
  assert.equal(run.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // The probe kept better ends the model's climb: its next proposal (g1 onto pCPU1 from nothing pinned, on the labels
  // whose placement just lost to the host alone) is held, not tried (the lab's mix-2vcpu, round 5: 12 pin changes in the window).
  const after = play(30, at(0.8), (k, a) => (a[0]!.length === 2 && a[1]!.length === 2 ? [pin(1, [1], a[1]!)] : climb(k, a)), [[0], [0]]);
  assert.deepEqual(after.timeline.filter((e) => !e.endsWith(':held')), ['1:started', '5:kept', '6:started', '10:kept', '13:started', '17:kept']);
  assert.equal(after.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // Reached a placement measured fair within the margin: no probe.
  const fair = play(30, at(0.99), climb, [[0], [0]]);
  assert.deepEqual(fair.timeline, ['1:started', '5:kept', '6:started', '10:kept']);
  // One step kept is no climb: no probe either.
  const one = play(30, at(0.8), (k, a) => (k === 1 ? [pin(1, [0, 1], a[1]!)] : []), [[0], [0]]);
  assert.deepEqual(one.timeline, ['1:started', '5:kept']);
  assert.equal(one.placements.at(-1), JSON.stringify([[0], [0, 1]]));
  // A climb whose second step is kept as good (not better) ends there just as surely: the probe follows that verdict,
  // not the first step's (whose chance, at 8, fell while the second trial was measuring; the lab's mix-2vcpu).
  const asGood = (a: number[][]): number[] => (a[0]!.length === 2 ? [0.95, 0.95] : a[0]![0] === 1 ? [0.61, 0.61] : a[1]!.length === 2 ? [0.6, 0.6] : [0.3, 0.3]);
  const even = play(30, asGood, climb, [[0], [0]]);
  assert.deepEqual(even.timeline, ['1:started', '5:kept', '6:started', '10:kept', '13:started', '17:kept']);
  assert.equal(even.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // A climb whose last step is judged after the epoch's trial window (at 15, the epoch began at 1): no probe, the epoch has settled.
  const late = play(30, at(0.8), (k, a) => (k === 6 ? [pin(1, [0, 1], a[1]!)] : k === 11 ? [pin(0, [1], a[0]!)] : []), [[0], [0]]);
  assert.deepEqual(late.timeline, ['6:started', '10:kept', '11:started', '15:kept']);
  assert.equal(late.placements.at(-1), JSON.stringify([[1], [0, 1]]));
});

test('a climb whose next step is measured worse, from a placement short of fair, tries the host scheduler alone instead of going back (the lab\'s mix-2vcpu)', () => {
  // Both on pCPU0: 0.3 each; g1 let onto both pCPUs (the model's first step, kept better at 7): 0.6; then g0 onto
  // pCPU1 (its next step, at 10): 0.4, measured worse at 14; nothing pinned: 0.95.
  const at = (released: number) => (a: number[][]): number[] => {
    if (a[0]!.length === 2) return [released, released];
    if (a[0]![0] === 1) return [0.4, 0.4];
    return a[1]!.length === 2 ? [0.6, 0.6] : [0.3, 0.3];
  };
  const climb = (k: number, a: number[][]): PinAction[] => (k === 3 ? [pin(1, [0, 1], a[1]!)] : k === 10 ? [pin(0, [1], a[0]!)] : []);
  const run = play(30, at(0.95), climb, [[0], [0]]);
  assert.deepEqual(run.timeline, ['3:started', '7:kept', '10:started', '14:started', '18:kept']);
  assert.equal(run.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  assert.equal(run.state.counts.reverted, 1, 'the lost step is counted reverted');
  // The host alone measured worse than the placement the lost step left: back there, each placement left once (A → B → released → A).
  const worse = play(30, at(0.5), climb, [[0], [0]]);
  assert.deepEqual(worse.timeline, ['3:started', '7:kept', '10:started', '14:started', '18:reverted']);
  assert.equal(worse.placements.at(-1), JSON.stringify([[0], [0, 1]]));
  assert.equal(new Set(worse.placements.filter((p, k) => k > 0 && p !== worse.placements[k - 1])).size, 3);
  // The placement left measured fair: the lost step simply goes back.
  const fair = play(30, (a) => (a[0]!.length === 2 ? [0.95, 0.95] : a[0]![0] === 1 ? [0.4, 0.4] : a[1]!.length === 2 ? [0.92, 0.92] : [0.3, 0.3]), climb, [[0], [0]]);
  assert.deepEqual(fair.timeline.slice(0, 4), ['3:started', '7:kept', '10:started', '14:reverted']);
  assert.equal(fair.placements.at(-1), JSON.stringify([[0], [0, 1]]));
  // The host alone measured before (an earlier epoch) no better than the placement to go back to: the lost step simply goes back.
  const measuredBefore = (worst: number): TrialState => ({ ...initialTrialState(), hostAlone: { at: 0, signature: placementSignature(keys, [[0, 1], [0, 1]]), outcome: outcome(worst) } });
  const known = play(30, at(0.95), climb, [[0], [0]], measuredBefore(0.61));
  assert.deepEqual(known.timeline.slice(0, 4), ['3:started', '7:kept', '10:started', '14:reverted']);
  const knownBetter = play(30, at(0.95), climb, [[0], [0]], measuredBefore(0.9));
  assert.deepEqual(knownBetter.timeline, ['3:started', '7:kept', '10:started', '14:started', '18:kept']);
  // A lost step begun past the epoch's trial window (the epoch began at 1; the climb's next step, proposed at once after
  // the first was kept better at 10, begins at 13): simply reverted, the epoch has settled.
  const late = play(30, at(0.95), (k, a) => (k === 6 ? [pin(1, [0, 1], a[1]!)] : k === 13 ? [pin(0, [1], a[0]!)] : []), [[0], [0]]);
  assert.deepEqual(late.timeline.slice(0, 4), ['6:started', '10:kept', '13:started', '17:reverted']);
  assert.equal(late.placements.at(-1), JSON.stringify([[0], [0, 1]]));
});

test('a step the model overrated is followed by a probe of the host alone when its next step promises less than that error', () => {
  // Both on pCPU0: 0.3 each; g1 let onto both pCPUs (the model's first step, predicted 0.95): 0.6, kept better at 5 but
  // 35 points below its prediction; g0 onto pCPU1 (its next step, at 6): 0.5; nothing pinned: 0.9.
  const at = (a: number[][]): number[] => (a[0]!.length === 2 ? [0.9, 0.9] : a[0]![0] === 1 ? [0.5, 0.5] : a[1]!.length === 2 ? [0.6, 0.6] : [0.3, 0.3]);
  const climb = (k: number, a: number[][]): PinAction[] => (k === 1 ? [pin(1, [0, 1], a[1]!)] : k >= 6 && a[0]!.length === 1 && a[0]![0] === 0 ? [pin(0, [1], a[0]!)] : []);
  // The next step promises 10 points (0.7 → 0.8), less than the 35 the model missed by: the host alone first, kept better, and the step never tried.
  const small = play(30, at, climb, [[0], [0]], undefined, (k) => (k === 1 ? { now: 0.3, after: 0.95 } : { now: 0.7, after: 0.8 }));
  assert.deepEqual(small.timeline.filter((e) => !e.endsWith(':held')), ['1:started', '5:kept', '6:started', '10:kept']);
  assert.equal(small.placements.at(-1), JSON.stringify([[0, 1], [0, 1]]));
  // It promises 40 points (0.5 → 0.9), more than the model's error: the model's step is tried (and, measured worse, the host alone instead).
  const large = play(30, at, climb, [[0], [0]], undefined, (k) => (k === 1 ? { now: 0.3, after: 0.95 } : { now: 0.5, after: 0.9 }));
  assert.deepEqual(large.timeline.slice(0, 3), ['1:started', '5:kept', '6:started']);
  assert.equal(large.placements[5], JSON.stringify([[1], [0, 1]]));
  // A first step measured as predicted (0.6 against 0.65): no probe, the model's next step is tried.
  const right = play(30, at, climb, [[0], [0]], undefined, (k) => (k === 1 ? { now: 0.3, after: 0.65 } : { now: 0.7, after: 0.8 }));
  assert.equal(right.placements[5], JSON.stringify([[1], [0, 1]]));
});

test('a trial judges both placements against the same demands: a backlog that inflates time + delay where a vCPU is starved does not inflate its fair share', () => {
  // g0 wants 0.69 of a pCPU. Pinned beside g1 on pCPU0 (the placement in force) it gets 0.64 and its backlog keeps it
  // runnable: time + delay reads 1.0. Moved (g1 onto pCPU1, the trial) it reads its 0.69 and gets `served`.
  const runWith = (served: number): string[] => {
    let affinity = [[0], [0]];
    let state: TrialState | undefined;
    const timeline: string[] = [];
    for (let k = 1; k <= 12; k++) {
      const moved = affinity[1]![0] === 1;
      const m = measurement(affinity, moved ? [served, 0.3] : [0.64, 0.3], moved ? [0.69, 0.3] : [1, 0.3]);
      const proposed = k === 4 && !moved ? [pin(1, [1], affinity[1]!)] : [];
      const d = judgeByTrials(state, { ...input(m, k, proposed), demands: m.vcpus.map((v) => v.demand) }, options);
      state = d.state;
      if (d.event && d.event.event !== 'measuring' && d.event.event !== 'held') timeline.push(`${k}:${d.event.event}`);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    }
    return timeline;
  };
  // Served 0.60: by its own readings the move looks better (0.60 / 0.69 = 87 % against 0.64 / 1.0 = 64 %); against the
  // same demand (0.69 on both sides) it gives g0 less (87 % against 93 %), and goes back.
  assert.deepEqual(runWith(0.6), ['4:started', '8:reverted']);
  // Served 0.69: better on either reading, kept.
  assert.deepEqual(runWith(0.69), ['4:started', '8:kept']);
});

test('demand that leaves its noise band begins a new epoch, which allows a new trial', () => {
  let state;
  let affinity = [[0, 1], [0, 1]];
  const epochs: number[] = [];
  for (let k = 1; k <= 20; k++) {
    const demand = k <= 10 ? [1, 1] : [1, 0.3];
    const m = measurement(affinity, [Math.min(0.5, demand[0]!), Math.min(0.5, demand[1]!)], demand);
    const proposed = k === 3 || k === 15 ? [pin(0, [k === 3 ? 0 : 1], affinity[0]!)] : [];
    const d = judgeByTrials(state, { ...input(m, k, proposed), demands: demand }, options);
    state = d.state;
    for (const a of d.actions) affinity = [a.pcpus, affinity[1]!];
    epochs.push(state.epoch!.id);
  }
  assert.equal(epochs[0], 1);
  assert.ok(epochs.at(-1)! > epochs[0]!, `epochs ${epochs.join(',')}`);
  assert.equal(state!.counts.started, 2, 'one trial per epoch, in each of the two');
});

test('state is plain data (JSON round trip keeps every decision)', () => {
  const usageAt = (): number[] => [0.5, 0.5];
  const run = play(8, usageAt, (k, a) => (k === 2 ? [pin(0, [0], a[0]!)] : []));
  assert.deepEqual(JSON.parse(JSON.stringify(run.state)), run.state);
});

// Property over random mixes on the simulated host (clock-bound bursty, busy, partial and noisy guests,
// pinned or not): within one demand epoch no placement is ever left twice, whatever the model proposes.
const shape = fc.oneof(
  fc.constant('{ constant: 1.0 }'),
  fc.record({ duty: fc.integer({ min: 2, max: 7 }), period: fc.constantFrom(20, 50, 100) }).map(({ duty, period }) => `{ bursty: { duty: 0.${duty}, period: ${period} } }`),
  fc.integer({ min: 1, max: 9 }).map((d) => `{ constant: 0.${d} }`),
  fc.integer({ min: 3, max: 8 }).map((d) => `{ constant: 0.${d}, noise: { sd: 0.05 } }`),
);
const mix = fc.record({
  pcpus: fc.integer({ min: 2, max: 4 }),
  guests: fc.array(fc.record({ shape, pin: fc.integer({ min: -1, max: 3 }) }), { minLength: 3, maxLength: 8 }),
  objective: fc.constantFrom<CpuObjective>('fairness', 'balance'),
});

function scenarioOf(m: { pcpus: number; guests: { shape: string; pin: number }[] }): string {
  const domains = m.guests.map((g, i) => `  - { name: g${i}, memoryMiB: 256, ${g.pin >= 0 ? `pin: [${g.pin % m.pcpus}], ` : ''}workload: { cpu: ${g.shape} } }`);
  return `name: mix\ndescription: random mix\ncontrollers: [cpu]\ninterval: 1\nintervals: 40\nhost: { pcpus: ${m.pcpus}, memoryMiB: 8192, overheadMiB: 512 }\ndomains:\n${domains.join('\n')}\n`;
}

/** Per epoch, the placements left (the affinities before each interval's pin actions). */
function placementsLeft(intervals: TraceInterval[]): Map<number, string[]> {
  const byEpoch = new Map<number, string[]>();
  const current = new Map<string, number[]>();
  for (const i of intervals) {
    if (!i.cpu) continue;
    for (const v of i.cpu.vcpus) if (!current.has(`${v.domain}/${v.vcpu}`)) current.set(`${v.domain}/${v.vcpu}`, v.affinity);
    const pins = i.actions.filter((a): a is PinAction => a.kind === 'pin');
    if (pins.length === 0) continue;
    const before = JSON.stringify([...current.entries()].sort());
    for (const a of pins) current.set(`${a.domain.name}/${a.vcpu}`, a.pcpus);
    const list = byEpoch.get(i.cpu.epoch ?? -1) ?? [];
    list.push(before);
    byEpoch.set(i.cpu.epoch ?? -1, list);
  }
  return byEpoch;
}

test('property: over random mixes, within one demand epoch no placement is left twice', async () => {
  await fc.assert(
    fc.asyncProperty(mix, async (m) => {
      const lines = await simulateScenario(parseScenario(scenarioOf(m), 'mix.yaml'), { cpu: { ...options, objective: m.objective } });
      const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
      for (const [epoch, left] of placementsLeft(intervals)) {
        assert.notEqual(epoch, -1, 'every acting interval is in an epoch');
        assert.equal(new Set(left).size, left.length, `epoch ${epoch}: a placement was left twice (${left.length} moves)`);
      }
    }),
    { numRuns: 25, seed: 17 },
  );
});

test('after a lost trial the loop backs off, and the same move is not tried again in a later epoch', () => {
  // Pinned together is worse (0.3 / 0.7 against 0.5 / 0.5); the proposer asks for it every interval, and the
  // demands swing between epochs every 6 intervals (a backlog), which alone would allow a trial in each.
  let state;
  let affinity = [[0, 1], [0, 1]];
  const started: number[] = [];
  for (let k = 1; k <= 60; k++) {
    const together = affinity[0]!.length === 1;
    const demand = Math.floor(k / 6) % 2 === 0 ? [1, 1] : [1, 0.2];
    const m = measurement(affinity, together ? [0.3, Math.min(0.7, demand[1]!)] : [0.5, Math.min(0.5, demand[1]!)], demand);
    const proposed = together ? [] : [pin(0, [0], affinity[0]!), pin(1, [0], affinity[1]!)];
    const d = judgeByTrials(state, { ...input(m, k, proposed), demands: demand }, options);
    state = d.state;
    if (d.event?.event === 'started') started.push(k);
    for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
  }
  assert.ok(state!.counts.epochs >= 5, `${state!.counts.epochs} epochs`);
  assert.deepEqual(started.length, 1, `trials started at ${started.join(', ')}`);
  assert.equal(state!.counts.reverted, 1);
  assert.ok(state!.counts.held > 10);
});

test('a censored reading (runnable all the window) is not a new demand unless what it received already says so', () => {
  // vCPU1 wants 0.3 and gets it, then its pCPU is briefly overcommitted: it reads runnable throughout
  // (demand 1) while receiving 0.35. That says only "at least 0.35": no new epoch. Receiving 0.8, it
  // must want at least 0.8, beyond 0.3's band: a new epoch.
  const run = (received: number): number[] => {
    let state;
    const epochs: number[] = [];
    for (let k = 1; k <= 12; k++) {
      const busyAgain = k >= 6 && k <= 8;
      const demand = [1, busyAgain ? 1 : 0.3];
      const m = measurement([[0, 1], [0, 1]], [0.5, busyAgain ? received : 0.3], demand);
      const d = judgeByTrials(state, { ...input(m, k, []), demands: demand }, options);
      state = d.state;
      epochs.push(state.epoch!.id);
    }
    return epochs;
  };
  assert.deepEqual(new Set(run(0.35)), new Set([1]), 'contention alone: one epoch');
  assert.ok(run(0.8).at(-1)! > 1, `received beyond the band: ${run(0.8).join(',')}`);
});

test('no trial that could not be measured better: a placement already fair, or a proposal the model expects no fairer', () => {
  const proposeApart = (a: number[][]): PinAction[] => (a[0]!.length === 2 ? [pin(0, [0], a[0]!), pin(1, [1], a[1]!)] : []);
  const released = [[0, 1], [0, 1]];
  // Both want half a pCPU and get it: the worst guest has its fair share, nothing a trial could improve.
  let state;
  const rules: (string | undefined)[] = [];
  for (let k = 1; k <= 8; k++) {
    const m = measurement(released, [0.5, 0.5], [0.5, 0.5]);
    const d = judgeByTrials(state, { ...input(m, k, proposeApart(released)), demands: [0.5, 0.5] }, options);
    state = d.state;
    assert.deepEqual(d.actions, []);
    rules.push(d.event?.rule);
  }
  assert.ok(rules.includes('nothing-to-gain'), rules.join(','));
  assert.equal(state!.counts.started, 0);
  // Short of fair, but the model itself expects the move to be no fairer (a move for balance's sake): held.
  state = undefined;
  for (let k = 1; k <= 8; k++) {
    const m = measurement(released, [0.5, 0.5]);
    const d = judgeByTrials(state, { ...input(m, k, proposeApart(released)), predictedWorstAfter: 0.5 }, options);
    state = d.state;
    assert.deepEqual(d.actions, []);
  }
  assert.equal(state!.counts.started, 0);
  assert.ok(state!.counts.held > 0);
});

test('a settled epoch starts no trial: a proposal first made past trialWindowIntervals is held; a new epoch opens trials again', () => {
  // Both busy, released, each gets half of what it asks (short of fair): a trial could gain. The model proposes
  // nothing until interval 20, then pins them apart every interval; the demands move at interval 30.
  let state;
  let affinity = [[0, 1], [0, 1]];
  const started: number[] = [];
  const rules = new Set<string | undefined>();
  for (let k = 1; k <= 40; k++) {
    const demand = k < 30 ? [1, 1] : [1, 0.3];
    const m = measurement(affinity, [0.5, Math.min(0.5, demand[1]!)], demand);
    const proposed = k >= 20 && affinity[0]!.length === 2 ? [pin(0, [0], affinity[0]!), pin(1, [1], affinity[1]!)] : [];
    const d = judgeByTrials(state, { ...input(m, k, proposed), demands: demand }, options);
    state = d.state;
    if (d.event?.event === 'started') started.push(k);
    if (d.event?.event === 'held') rules.add(d.event.rule);
    for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
  }
  assert.ok(rules.has('epoch-settled'), [...rules].join(','));
  assert.equal(started.length, 1, `trials started at ${started.join(', ')}`);
  assert.ok(started[0]! > 30, 'the one trial is in the new epoch');
  assert.ok(state!.counts.epochs >= 2);
});

test('past the window a climb goes on only with the step proposed at once after one measured better', () => {
  // Apart is better (0.8 / 0.8 against 0.5 / 0.5). The model pins them apart at 9 (measured better at 13), then
  // proposes a next step (g1 released again) at `next`.
  const run = (next: number): number[] => {
    let state;
    let affinity = [[0, 1], [0, 1]];
    const started: number[] = [];
    for (let k = 1; k <= 30; k++) {
      const apart = affinity[0]!.length === 1 && affinity[1]!.length === 1 && affinity[0]![0] !== affinity[1]![0];
      const m = measurement(affinity, apart ? [0.8, 0.8] : [0.5, 0.5]);
      const proposed = k === 9 ? [pin(0, [0], affinity[0]!), pin(1, [1], affinity[1]!)] : k === next ? [pin(1, [0, 1], affinity[1]!)] : [];
      const d = judgeByTrials(state, input(m, k, proposed), options);
      state = d.state;
      if (d.event?.event === 'started') started.push(k);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    }
    return started;
  };
  assert.deepEqual(run(14), [9, 14], 'the next step at once: tried');
  assert.deepEqual(run(18), [9], 'the next step five intervals later, in a settled epoch: held');
});

test('a level is compared with the mean of its placement\'s settled readings, not with its first one', () => {
  // vCPU1's smoothed demand reads 0.58 once, then 0.50 for 14 intervals, then 0.43: 0.15 from the first
  // reading (beyond the ±0.10 band), 0.08 from the mean. Steady demand: one epoch.
  let state;
  for (let k = 1; k <= 22; k++) {
    const demand = [1, k === 1 ? 0.58 : k <= 15 ? 0.5 : 0.43];
    const m = measurement([[0, 1], [0, 1]], [0.5, demand[1]!], demand);
    state = judgeByTrials(state, { ...input(m, k, []), demands: demand }, options).state;
  }
  assert.equal(state!.epoch!.id, 1);
  assert.equal(state!.counts.epochs, 1);
});

test('a trial measured worse after the model learned something is followed by its new proposal, not a revert; each placement left once', () => {
  // Together on pCPU0 (A) each gets 0.6; released (B) 0.4; apart (C) 0.9. The first trial (A → B) is made at
  // interval 1, before anything is learned; by its verdict a label has changed and the model proposes C.
  const together = [[0], [0]];
  const usageAt = (a: number[][]): number[] => (a[0]!.length === 2 ? [0.4, 0.4] : a[0]![0] === a[1]![0] ? [0.6, 0.6] : [0.9, 0.9]);
  const run = (learns: boolean) => {
    let state;
    let affinity = together;
    const events: string[] = [];
    const placements = [JSON.stringify(affinity)];
    for (let k = 1; k <= 20; k++) {
      const m = measurement(affinity, usageAt(affinity));
      const released = affinity[0]!.length === 2;
      const proposed = k === 1 ? [pin(0, [0, 1], affinity[0]!), pin(1, [0, 1], affinity[1]!)] : released ? [pin(0, [0], affinity[0]!), pin(1, [1], affinity[1]!)] : [];
      const d = judgeByTrials(state, { ...input(m, k, proposed), labels: learns && k >= 3 ? 'u0/0' : '' }, options);
      state = d.state;
      if (d.event && d.event.event !== 'measuring' && d.event.event !== 'held') events.push(`${k}:${d.event.event}`);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
      if (JSON.stringify(affinity) !== placements.at(-1)) placements.push(JSON.stringify(affinity));
    }
    return { events, placements, state: state! };
  };
  const learned = run(true);
  assert.deepEqual(learned.events, ['1:started', '5:started', '9:kept']);
  assert.deepEqual(learned.placements, [JSON.stringify(together), JSON.stringify([[0, 1], [0, 1]]), JSON.stringify([[0], [1]])]);
  assert.equal(new Set(learned.placements).size, learned.placements.length, 'no placement left twice');
  // Nothing learned: the one trial of the epoch is reverted, and that is all.
  const same = run(false);
  assert.deepEqual(same.events.slice(0, 2), ['1:started', '5:reverted']);
  assert.equal(same.placements.at(-1), JSON.stringify(together));
});

test('a vCPU that waited reads as a range, from what it got to time + delay: a backlog caught up is no new epoch', () => {
  // vCPU1 wants half a pCPU and gets it; then for three intervals it waits 0.4 of its window beside a busy
  // neighbour while still receiving 0.5 (catching up a backlog): time + delay 0.9 says only "between 0.5 and 0.9".
  const run = (received: number): number[] => {
    let state;
    const epochs: number[] = [];
    for (let k = 1; k <= 14; k++) {
      const waiting = k >= 8 && k <= 10;
      const demand = [1, waiting ? 0.9 : 0.5];
      const m = measurement([[0, 1], [0, 1]], [0.5, waiting ? received : 0.5], demand);
      state = judgeByTrials(state, { ...input(m, k, []), demands: demand }, options).state;
      epochs.push(state.epoch!.id);
    }
    return epochs;
  };
  assert.deepEqual(new Set(run(0.5)), new Set([1]), 'waiting alone: one epoch');
  assert.ok(run(0.85).at(-1)! > 1, 'receiving 0.85, beyond 0.5\'s band: a new epoch');
});

test('other load on pCPUs linked by a vCPU allowed on both is read as one level: where the host ran the vCPU is no new epoch', () => {
  // 0.4 of other load, read on pCPU0 for ten intervals and on pCPU1 after (usage.ts subtracts a floating vCPU where it was last seen).
  const epochs = (affinity: number[][]): number => {
    let state;
    for (let k = 1; k <= 20; k++) {
      const m = measurement(affinity, [0.6, 0.6]);
      const other = k <= 10 ? [0.4, 0] : [0, 0.4];
      state = judgeByTrials(state, { ...input(m, k, []), other, otherSigmas: [0.01, 0.01], predictedWorst: 1 }, options).state;
    }
    return state!.counts.epochs;
  };
  assert.equal(epochs([[0, 1], [0, 1]]), 1, 'both vCPUs on both pCPUs: their sum is steady');
  assert.ok(epochs([[0], [1]]) > 1, 'each vCPU pinned: a pCPU\'s other load is its own, and it moved');
});

test('the drop-in (balance, other load not counted) probes the host scheduler alone where a host process makes its balanced placement unfair, and judges the probe by fairness', async () => {
  const { pcpuUsageOf } = await import('../../src/cpu/usage.js');
  const dropIn = { ...defaultCpuSchedulerOptions, countOtherLoad: false, objective: 'balance' as const };
  // Two busy one-vCPU guests on two pCPUs, a host process holding half of pCPU1: pinned apart (balanced by demand,
  // what the blind model keeps, content and predicting both fair) g1 gets 0.5 of its fair 0.75 and the usage spread
  // reads 50 pts; `released` says what each gets with nothing pinned.
  const run = (released: number): { timeline: string[]; last: string } => {
    let affinity = [[0], [1]];
    let state;
    const timeline: string[] = [];
    for (let k = 1; k <= 30; k++) {
      const usage = affinity[0]!.length === 2 ? [released, released] : [1, 0.5];
      const m = measurement(affinity, usage);
      const measured: CpuMeasurement = { ...m, pcpuOther: [0, 0.5], pcpuUsage: pcpuUsageOf(m.vcpus, 2) };
      const d = judgeByTrials(state, { ...input(measured, k, [], 'balance'), predictedWorst: 1, other: [0, 0.5], otherSigmas: [0.01, 0.01] }, dropIn);
      state = d.state;
      if (d.event && d.event.event !== 'measuring') timeline.push(`${k}:${d.event.event}`);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    }
    return { timeline, last: JSON.stringify(affinity) };
  };
  // The host alone shares the rest evenly (0.75 each, fair): the probe is kept.
  const fairer = run(0.75);
  assert.deepEqual(fairer.timeline, ['6:started', '10:kept']);
  assert.equal(fairer.last, JSON.stringify([[0, 1], [0, 1]]));
  // The host alone gives each 0.45 (60 % against 67 % pinned): its pour reads a usage spread of 0, balanced, yet the
  // probe is measured less fair and goes back, and is not tried again.
  const worse = run(0.45);
  assert.deepEqual(worse.timeline, ['6:started', '10:reverted']);
  assert.equal(worse.last, JSON.stringify([[0], [1]]));
});

test('the drop-in probes the host scheduler alone where its balanced placement is short of fair, and tries it instead of going back after a step lost for balance (the lab\'s mix-2vcpu)', () => {
  const dropIn = { ...defaultCpuSchedulerOptions, countOtherLoad: false, objective: 'balance' as const };
  // Two one-vCPU guests pinned apart, both pCPUs busy (usage spread 0: balanced), yet g0 gets 0.5 of its fair 1 (the
  // bursty vCPUs of the lab's mixes lose their window beside busy ones). `released`: what each gets with nothing pinned.
  // `step`: the model's proposal at interval 3 (g0 onto pCPU1), measured fairer but unbalanced (spread 60 pts).
  // `nextStep`: at the step's verdict the model has learned since (new labels) and proposes another step (g1 onto pCPU0).
  const run = (released: number, step: boolean, pinnedApart: number[] | ((k: number) => number[]) = [0.5, 1], nextStep = false): { timeline: string[]; last: string } => {
    let affinity = [[0], [1]];
    let state;
    const timeline: string[] = [];
    for (let k = 1; k <= 30; k++) {
      const apart = affinity[0]![0] === 0 && affinity[0]!.length === 1;
      const usage = affinity[0]!.length === 2 ? [released, released] : apart ? (typeof pinnedApart === 'function' ? pinnedApart(k) : pinnedApart) : [0.7, 0.7];
      const m: CpuMeasurement = { ...measurement(affinity, usage), pcpuUsage: apart || affinity[0]!.length === 2 ? [1, 1] : [0.4, 1] };
      const proposed = step && k === 3 && apart ? [pin(0, [1], affinity[0]!)] : nextStep && k >= 7 && affinity[1]![0] === 1 && affinity[1]!.length === 1 ? [pin(1, [0], affinity[1]!)] : [];
      const d = judgeByTrials(state, { ...input(m, k, proposed, 'balance'), predictedWorst: 1, ...(nextStep && k >= 7 ? { labels: 'u0/0' } : {}) }, dropIn);
      state = d.state;
      if (d.event && d.event.event !== 'measuring' && d.event.event !== 'held') timeline.push(`${k}:${d.event.event}`);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    }
    return { timeline, last: JSON.stringify(affinity) };
  };
  // Content (the model proposes nothing): the host alone is probed once the placement has settled, and kept.
  const probed = run(0.9, false);
  assert.deepEqual(probed.timeline, ['6:started', '10:kept']);
  assert.equal(probed.last, JSON.stringify([[0, 1], [0, 1]]));
  // Probed and measured less fair: back, and not again.
  const notFairer = run(0.3, false);
  assert.deepEqual(notFairer.timeline, ['6:started', '10:reverted']);
  assert.equal(notFairer.last, JSON.stringify([[0], [1]]));
  // Every guest short alike (0.85 each: what emulation leaves two busy guests pinned apart): no guest is favoured, so
  // the host alone could not share better, and the pins stay.
  assert.deepEqual(run(0.9, false, [0.85, 0.85]).timeline, []);
  // Alike but for three intervals where one reads 14 points above the other (noise, as emulation gives): one half of
  // the readings is no shortfall some guest pays for.
  assert.deepEqual(run(0.9, false, (k) => (k >= 7 && k <= 9 ? [0.8, 0.94] : [0.8, 0.8])).timeline, []);
  // The model's step, fairer but unbalanced, lost by balance: the host alone is tried instead of going back, and kept.
  const instead = run(0.9, true);
  assert.deepEqual(instead.timeline, ['3:started', '7:started', '11:kept']);
  assert.equal(instead.last, JSON.stringify([[0, 1], [0, 1]]));
  // So too where the model, having learned since, proposes another step at that verdict: a step lost for balance while
  // measured fairer says the model trades balance for fairness, and its next step would too (the lab's mix-2vcpu, round 3).
  const beforeNextStep = run(0.9, true, [0.5, 1], true);
  assert.deepEqual(beforeNextStep.timeline, ['3:started', '7:started', '11:kept']);
  assert.equal(beforeNextStep.last, JSON.stringify([[0, 1], [0, 1]]));
});

test('a placement kept in an epoch that then delivers less, beyond the margin and 1 - fairShareFloor, with the model proposing the climb for the worst-served guest, ends the epoch even inside the bands (mix-88)', () => {
  // Noisy readings (σ 0.15: bands ±0.45) hide the drop from the levels. Released each gets half; apart [0], [1] 0.9 each
  // until interval 20, then 0.65 and 0.9; swapped apart [1], [0] 0.95 each. The model proposes apart while released,
  // and (from 20) swapped while apart.
  const run = (drop: boolean, proposeLate: boolean, lateForGuests = true) => {
    let state: TrialState | undefined;
    let affinity = [[0, 1], [0, 1]];
    const started: number[] = [];
    const rules = new Set<string | undefined>();
    for (let k = 1; k <= 30; k++) {
      const apart = affinity[0]!.length === 1 && affinity[0]![0] === 0;
      const usage = affinity[0]!.length === 2 ? [0.5, 0.5] : apart ? (drop && k >= 20 ? [0.65, 0.9] : [0.9, 0.9]) : [0.95, 0.95];
      const m = measurement(affinity, usage);
      const proposed = affinity[0]!.length === 2 ? [pin(0, [0], affinity[0]!), pin(1, [1], affinity[1]!)] : apart && proposeLate && k >= 20 ? [pin(0, [1], affinity[0]!), pin(1, [0], affinity[1]!)] : [];
      const late = apart && proposeLate && k >= 20;
      const d = judgeByTrials(state, { ...input(m, k, proposed), sigmas: [0.15, 0.15], ...(late && lateForGuests ? { forGuests: true } : {}) }, options);
      state = d.state;
      if (d.event?.event === 'started') started.push(k);
      if (d.event?.event === 'held') rules.add(d.event.rule);
      for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
    }
    return { started, rules, epochs: state!.counts.epochs, affinity };
  };
  const dropped = run(true, true);
  assert.equal(dropped.started.length, 2, `trials started at ${dropped.started.join(', ')}`);
  assert.ok(dropped.started[1]! >= 20 && dropped.started[1]! <= 22, `the second trial at ${dropped.started[1]}`);
  assert.equal(dropped.epochs, 2);
  assert.deepEqual(dropped.affinity, [[1], [0]]);
  // No drop: the late proposal is held, the epoch settled.
  const steady = run(false, true);
  assert.equal(steady.started.length, 1);
  assert.ok(steady.rules.has('epoch-settled'));
  // A drop with nothing proposed begins no epoch.
  assert.equal(run(true, false).epochs, 1);
  // Nor one where the proposal is not the climb for the worst-served guest: on real guests (the lab's mix-2vcpu) two
  // intervals of a kept release read 60 % against its 74 %, noise, and a segregation proposed then moved every vCPU.
  assert.equal(run(true, true, false).epochs, 1);
});

test('a drop read over fewer intervals than a trial measures begins no epoch: two low intervals of a kept placement are noise on real guests', () => {
  // Apart [0], [1] is kept at 0.9 each; at 20 and 21 vCPU 0 reads 0.76, then 0.9 again; the climb for the worst guest is
  // proposed from 20. Two readings say 0.76 (beyond 0.9 − 1 + fairShareFloor); three, the fewest a trial judges on, 0.81.
  // The lab's mix-2vcpu: a kept placement read 50 % over two intervals against 63 %, a new epoch began at 32 and the
  // climb moved every vCPU inside the bench's window.
  let state: TrialState | undefined;
  let affinity = [[0, 1], [0, 1]];
  const started: number[] = [];
  for (let k = 1; k <= 30; k++) {
    const apart = affinity[0]!.length === 1 && affinity[0]![0] === 0;
    const usage = affinity[0]!.length === 2 ? [0.5, 0.5] : apart ? (k === 20 || k === 21 ? [0.76, 0.9] : [0.9, 0.9]) : [0.95, 0.95];
    const m = measurement(affinity, usage);
    const late = apart && k >= 20;
    const proposed = affinity[0]!.length === 2 ? [pin(0, [0], affinity[0]!), pin(1, [1], affinity[1]!)] : late ? [pin(0, [1], affinity[0]!), pin(1, [0], affinity[1]!)] : [];
    const d = judgeByTrials(state, { ...input(m, k, proposed), sigmas: [0.15, 0.15], ...(late ? { forGuests: true } : {}) }, options);
    state = d.state;
    if (d.event?.event === 'started') started.push(k);
    for (const a of d.actions) affinity = affinity.map((set, i) => (i === Number(a.domain.name.slice(1)) ? a.pcpus : set));
  }
  assert.equal(state!.counts.epochs, 1, `trials started at ${started.join(', ')}`);
  assert.equal(started.length, 1);
  assert.deepEqual(affinity, [[0], [1]]);
});
