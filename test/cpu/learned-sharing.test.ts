// Predictions checked against what happened: learned clock-bound vCPUs and the two objectives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState, predictedShareOf, type CpuDecision, type CpuSchedulerState } from '../../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions, parseCpuObjective, validateCpuSchedulerOptions, type CpuSchedulerOptions } from '../../src/cpu/options.js';
import { cpuController } from '../../src/cpu/controller.js';
import { learnSharing, predictLearnedShares, segregatedAssignment } from '../../src/cpu/learned-sharing.js';
import { predictShares } from '../../src/cpu/fairness.js';
import { fairSharesOf } from '../../src/cpu/sharing.js';
import { pcpuDemandOf, pcpuUsageOf, vcpuKey, type CpuMeasurement, type VcpuLoad } from '../../src/cpu/usage.js';
import { applyPins, vms, type Vm } from './fixtures.js';

/** A guest as measured on the lab host: busy (always runnable) or bursty (busy 40 ms of every 100 ms by the clock). */
interface Guest extends Vm {
  clockBound: boolean;
}

function guests(kinds: readonly ('busy' | 'bursty')[], pins: readonly number[]): Guest[] {
  return vms(kinds.map((k) => (k === 'busy' ? 1 : 0.4)), pins).map((v, i) => ({ ...v, clockBound: kinds[i] === 'bursty' }));
}

/**
 * What real guests received (measured on the 2-pCPU lab host): a bursty guest beside a busy one gets
 * 22 % (its window ends by the clock), the busy one the rest; bursty beside bursty all they ask;
 * busy beside busy half each. `noise` is added to each received share.
 */
function measuredOnHost(pcpus: number, list: readonly Guest[], noise: readonly number[] = []): CpuMeasurement {
  const usage = new Array<number>(list.length).fill(0);
  const waterFilled = predictShares(list.map((v) => ({ demand: v.demand, pcpus: v.affinity })), pcpus);
  for (let p = 0; p < pcpus; p++) {
    const here = list.map((v, i) => ({ v, i })).filter(({ v }) => v.affinity.length === 1 && v.affinity[0] === p);
    const busy = here.filter(({ v }) => !v.clockBound).length;
    let left = 1;
    for (const { v, i } of here.filter(({ v }) => v.clockBound)) {
      usage[i] = busy > 0 ? v.demand * 0.55 : v.demand;
      left -= usage[i]!;
    }
    const elastic = here.filter(({ v }) => !v.clockBound);
    for (const { i } of elastic) usage[i] = Math.min(list[i]!.demand, left / elastic.length);
  }
  // Released (every vCPU on every pCPU), measured the same: 22 / 77 (the host's run queues are per pCPU).
  const released = list.map((v, i) => ({ v, i })).filter(({ v }) => v.affinity.length === pcpus && pcpus > 1);
  if (released.length === list.length) {
    const busy = released.filter(({ v }) => !v.clockBound).length;
    let left = pcpus;
    for (const { v, i } of released.filter(({ v }) => v.clockBound)) {
      usage[i] = busy > 0 ? v.demand * 0.55 : v.demand;
      left -= usage[i]!;
    }
    for (const { v, i } of released.filter(({ v }) => !v.clockBound)) usage[i] = Math.min(v.demand, 1, left / busy);
  } else {
    list.forEach((v, i) => {
      if (v.affinity.length !== 1) usage[i] = waterFilled[i]!;
    });
  }
  const vcpus: VcpuLoad[] = list.map((v, i) => ({
    domain: { name: v.name, uuid: `uuid-${v.name}` },
    vcpu: 0,
    affinity: v.affinity,
    pcpu: v.pcpu,
    usage: Math.min(1, Math.max(0, usage[i]! + (noise[i] ?? 0))),
    demand: v.demand,
  }));
  return { elapsedNs: 1e9, pcpus, vcpus, pcpuUsage: pcpuUsageOf(vcpus, pcpus), pcpuDemand: pcpuDemandOf(vcpus, pcpus) };
}

interface Played {
  placement: Guest[];
  state: CpuSchedulerState;
  decisions: CpuDecision[];
  measurements: CpuMeasurement[];
  pinChanges: number;
}

function play(pcpus: number, start: Guest[], intervals: number, options: CpuSchedulerOptions, noiseOf: (interval: number) => number[] = () => []): Played {
  let placement = start;
  let state = initialCpuSchedulerState();
  const decisions: CpuDecision[] = [];
  const measurements: CpuMeasurement[] = [];
  let pinChanges = 0;
  for (let k = 0; k < intervals; k++) {
    const m = measuredOnHost(pcpus, placement, noiseOf(k));
    const d = decideCpu(m, state, options);
    measurements.push(m);
    decisions.push(d);
    state = d.state;
    pinChanges += d.actions.length;
    placement = applyPins(placement, d.actions) as Guest[];
  }
  return { placement, state, decisions, measurements, pinChanges };
}

/** The mixed case: per pCPU one busy and one bursty guest (what the spread-minimising placement picks). */
const paired = (): Guest[] => guests(['busy', 'bursty', 'busy', 'bursty'], [0, 0, 1, 1]);
const fairness: CpuSchedulerOptions = { ...defaultCpuSchedulerOptions, objective: 'fairness' };
const balance: CpuSchedulerOptions = { ...defaultCpuSchedulerOptions, objective: 'balance' };
const keyOf = (name: string): string => vcpuKey({ name, uuid: `uuid-${name}` }, 0);

/** Worst received share / max-min fair share over the guests, from a measurement. */
function measuredWorstFraction(m: CpuMeasurement): number {
  const fair = fairSharesOf(m.vcpus.map((v) => v.demand), m.pcpus);
  return Math.min(...m.vcpus.map((v, i) => v.usage / fair[i]!));
}

/** Mean |usage − predicted| of one interval, predictions from the previous decision's state. */
function predictionError(m: CpuMeasurement, previous: CpuSchedulerState): number {
  const errors = m.vcpus.map((v) => Math.abs(v.usage - predictedShareOf(previous, vcpuKey(v.domain, v.vcpu))!));
  return errors.reduce((a, b) => a + b, 0) / errors.length;
}

test('mixed case, fairness objective: the bursty vCPUs are learned clock-bound, then kept apart from the busy ones', () => {
  const run = play(2, paired(), 12, fairness);
  const learned = run.state.learned ?? {};
  assert.equal(learned[keyOf('vm1')]?.clockBound, true, JSON.stringify(learned));
  assert.equal(learned[keyOf('vm3')]?.clockBound, true);
  assert.equal(learned[keyOf('vm0')], undefined, 'busy vCPUs: nothing to learn');
  // Nothing is learned from one interval: the first decisions still trust water-filling.
  assert.equal(run.decisions[0]!.clockBound, undefined);
  assert.equal(run.decisions[1]!.clockBound, undefined);
  const pins = run.placement.map((v) => v.affinity);
  assert.deepEqual(pins[1], pins[3], `bursty together: ${JSON.stringify(pins)}`);
  assert.deepEqual(pins[0], pins[2], `busy together: ${JSON.stringify(pins)}`);
  assert.notDeepEqual(pins[0], pins[1]);
  assert.equal(run.pinChanges, 2, 'one busy and one bursty guest move');
  const acted = run.decisions.find((d) => d.actions.length > 0)!;
  assert.equal(acted.strategy, 'segregate');
  assert.ok(acted.after.worstFractionOfFairShare >= 0.8, `predicted worst ${acted.after.worstFractionOfFairShare}`);
  assert.ok(acted.before.worstFractionOfFairShare < 0.6, `pairing predicted ${acted.before.worstFractionOfFairShare}`);
  assert.match(acted.summary, /objective fairness/);
  const why = acted.actions[0]!.why;
  assert.ok(why?.rule === 'segregate', `rule ${why?.rule}`);
  assert.equal(why.figures.objective, 'fairness');
  assert.ok(why.figures.worst.after > why.figures.worst.before);
  // What the guests then received (the host model above): the worst guest at ≥ 80 % of its fair share.
  assert.ok(measuredWorstFraction(run.measurements.at(-1)!) >= 0.8, `measured worst ${measuredWorstFraction(run.measurements.at(-1)!)}`);
  assert.ok(measuredWorstFraction(run.measurements[0]!) < 0.6);
  // The prediction error drops once the model is learned.
  const early = predictionError(run.measurements[1]!, run.decisions[0]!.state);
  const late = predictionError(run.measurements.at(-1)!, run.decisions.at(-2)!.state);
  assert.ok(late < early / 2, `prediction error ${early} → ${late}`);
});

test('mixed case released (nothing pinned, the host\'s scheduler): learned from the released group, then put apart', () => {
  const released = guests(['busy', 'bursty', 'busy', 'bursty'], [0, 0, 0, 0]).map((v) => ({ ...v, affinity: [0, 1] }));
  const run = play(2, released, 12, fairness);
  assert.equal(run.state.learned?.[keyOf('vm1')]?.clockBound, true);
  const pins = run.placement.map((v) => v.affinity);
  assert.ok(pins.every((a) => a.length === 1), JSON.stringify(pins));
  assert.deepEqual(pins[1], pins[3]);
  assert.deepEqual(pins[0], pins[2]);
  assert.ok(measuredWorstFraction(run.measurements.at(-1)!) >= 0.8);
  // Balance: released is as balanced as anything, and the learned model says pinning in pairs is no fairer.
  const kept = play(2, released, 12, balance);
  assert.equal(kept.pinChanges, 0);
});

test('mixed case, fairness objective: once apart the placement stays (no flapping while the evidence is quiet)', () => {
  const run = play(2, paired(), 60, fairness);
  assert.equal(run.pinChanges, 2);
  assert.equal(run.state.learned?.[keyOf('vm1')]?.clockBound, true, 'the label outlives the quiet intervals');
});

test('mixed case, balance objective: learned the same; no balanced placement is predicted fairer, so the host scheduler alone is tried once, then quiet', () => {
  const run = play(2, paired(), 16, balance);
  assert.equal(run.state.learned?.[keyOf('vm1')]?.clockBound, true);
  // One trial of releasing the four vCPUs (and at most its revert), nothing else.
  const started = run.decisions.filter((d) => d.trial?.event === 'started');
  assert.equal(started.length, 1);
  assert.equal(started[0]!.strategy, 'release');
  assert.ok(run.pinChanges === 4 || run.pinChanges === 8, `${run.pinChanges} pin changes`);
  assert.ok(run.decisions.slice(-5).every((d) => d.actions.length === 0));
  const last = run.decisions.at(-1)!;
  assert.equal(last.objective, 'balance');
  assert.match(last.summary, /objective balance/);
  assert.ok(last.before.worstFractionOfFairShare < 0.6, 'the learned model knows the pairing is unfair');
});

test('an objective left out is fairness', () => {
  const run = play(2, paired(), 12, { ...defaultCpuSchedulerOptions });
  assert.equal(run.decisions.at(-1)!.objective, 'fairness');
  assert.equal(run.pinChanges, 2);
});

test('no learning from vCPUs that were never contended', () => {
  // A bursty guest alone on its pCPU, two bursty guests that fit one pCPU together.
  const alone = play(2, guests(['busy', 'bursty'], [0, 1]), 10, fairness);
  assert.equal(alone.state.learned, undefined);
  const together = play(2, guests(['busy', 'bursty', 'bursty'], [0, 1, 1]), 10, fairness);
  assert.equal(together.state.learned, undefined);
  assert.equal(together.pinChanges, 0);
});

test('a noisy elastic vCPU beside a busy one is not mislabelled', () => {
  // Work-bound 0.4 beside a busy guest gets its 0.4 (water-filling), measured with ±0.08 of noise.
  const list = vms([1, 0.4, 1, 0.4], [0, 0, 1, 1]).map((v) => ({ ...v, clockBound: false }));
  let seed = 7;
  const noise = (): number[] => list.map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.16);
  const run = play(2, list, 40, fairness, noise);
  const learned = run.state.learned ?? {};
  assert.ok(Object.values(learned).every((r) => !r.clockBound), JSON.stringify(learned));
  assert.equal(run.pinChanges, 0);
});

test('one interval that looks clock-bound is not enough evidence', () => {
  const list = paired();
  const m = measuredOnHost(2, list);
  const keys = m.vcpus.map((v) => vcpuKey(v.domain, v.vcpu));
  let learned = learnSharing(m, keys, undefined);
  assert.ok(learned?.[keys[1]!] && !learned[keys[1]!]!.clockBound);
  learned = learnSharing(m, keys, learned);
  assert.equal(learned?.[keys[1]!]?.clockBound, false);
  learned = learnSharing(m, keys, learned);
  assert.equal(learned?.[keys[1]!]?.clockBound, true, 'three intervals of evidence');
});

test('the learned record is forgotten when its domain goes, and kept across a reconnect', () => {
  const run = play(2, paired(), 8, fairness);
  assert.equal(run.state.learned?.[keyOf('vm1')]?.clockBound, true);
  const forgotten = cpuController.forget(run.state, 'uuid-vm1');
  assert.equal(forgotten.learned?.[keyOf('vm1')], undefined);
  assert.equal(forgotten.learned?.[keyOf('vm3')]?.clockBound, true);
  const both = cpuController.forget(forgotten, 'uuid-vm3');
  assert.equal(both.learned, undefined);
  assert.equal(cpuController.resynchronise(run.state).learned?.[keyOf('vm3')]?.clockBound, true);
});

test('the trace marks learned clock-bound vCPUs', () => {
  const run = play(2, paired(), 6, fairness);
  const m = measuredOnHost(2, run.placement);
  const out = cpuController.decide(m, run.state, fairness, { previous: undefined, current: undefined } as never);
  const marked = out.trace!.vcpus.filter((v) => v.clockBound).map((v) => v.domain);
  assert.deepEqual(marked.sort(), ['vm1', 'vm3']);
});

test('learned predictions: clock-bound beside busy gets demand/(1 + busy per pCPU); nothing learned changes nothing', () => {
  const demands = [1, 0.4, 1, 0.4];
  const paired = [[0], [0], [1], [1]];
  const base = predictShares(demands.map((demand, i) => ({ demand, pcpus: paired[i]! })), 2);
  const flags = Uint8Array.from([0, 1, 0, 1]);
  const shares = predictLearnedShares(demands, paired, flags, base, 2);
  assert.deepEqual(shares.map((s) => Math.round(s * 100) / 100), [0.8, 0.2, 0.8, 0.2]);
  assert.deepEqual(predictLearnedShares(demands, paired, new Uint8Array(4), base, 2), base);
  // Released: the host's run queues are per pCPU, each busy thread crowds one of them.
  const everywhere = demands.map(() => [0, 1]);
  const released = predictLearnedShares(demands, everywhere, flags, fairSharesOf(demands, 2), 2);
  assert.deepEqual(released.map((s) => Math.round(s * 100) / 100), [0.8, 0.2, 0.8, 0.2]);
  // Bursty together: no busy neighbour, water-filling stands.
  const apart = [[0], [1], [0], [1]];
  const apartBase = predictShares(demands.map((demand, i) => ({ demand, pcpus: apart[i]! })), 2);
  assert.deepEqual(predictLearnedShares(demands, apart, flags, apartBase, 2), apartBase);
});

test('crowded sharing: clock-bound vCPUs on one pCPU with no busy neighbour are predicted by runnable time once learned so', () => {
  // mix-3s held three clock-bound vCPUs of 0.31, 0.77 and 0.28 on one simulated pCPU: they received 0.16, 0.57 and 0.15.
  const demands = [0.31, 0.77, 0.28, 1];
  const where = [[0], [0], [0], [1]];
  const clockBound = Uint8Array.from([1, 1, 1, 0]);
  const base = predictShares(demands.map((demand, i) => ({ demand, pcpus: where[i]! })), 2);
  const round = (xs: readonly number[]) => xs.map((x) => Math.round(x * 100) / 100);
  assert.deepEqual(round(base), [0.31, 0.41, 0.28, 1], 'water-filling serves the small ones first');
  assert.deepEqual(predictLearnedShares(demands, where, clockBound, base, 2), base, 'not learned: water-filling stands');
  const crowded = Uint8Array.from([1, 0, 0, 0]);
  assert.deepEqual(round(predictLearnedShares(demands, where, clockBound, base, 2, undefined, undefined, crowded)), [0.17, 0.57, 0.15, 1]);
  // Asking no more than the pCPU has, their windows still overlap by chance: each loses what it is runnable beside
  // the others (mix-3s: 0.28 beside 0.37 and 0.32, 0.94 of the pCPU in all, received 0.16; water-filling says 0.28).
  const fits = [0.37, 0.32, 0.28, 1];
  const fitsBase = predictShares(fits.map((demand, i) => ({ demand, pcpus: where[i]! })), 2);
  assert.deepEqual(round(fitsBase), [0.37, 0.32, 0.28, 1]);
  assert.deepEqual(round(predictLearnedShares(fits, where, clockBound, fitsBase, 2, undefined, undefined, crowded)), [0.27, 0.23, 0.19, 1]);
  // Spread over a shared set of pCPUs: water-filling stands even when learned.
  const overSet = [[0, 1], [0, 1], [0, 1], [2]];
  const setBase = predictShares(demands.map((demand, i) => ({ demand, pcpus: overSet[i]! })), 3);
  assert.deepEqual(predictLearnedShares(demands, overSet, clockBound, setBase, 3, undefined, undefined, crowded), setBase);

  // Learned from what they received: three intervals closer to runnable-time sharing than to water-filling.
  const keys = ['a', 'b', 'c', 'd'];
  const measured = (usage: readonly number[]): CpuMeasurement => {
    const vcpus: VcpuLoad[] = demands.map((demand, i) => ({ domain: { name: keys[i]!, uuid: `uuid-${keys[i]}` }, vcpu: 0, affinity: where[i]!, pcpu: where[i]![0]!, usage: usage[i]!, demand }));
    return { elapsedNs: 1e9, pcpus: 2, vcpus, pcpuUsage: pcpuUsageOf(vcpus, 2), pcpuDemand: pcpuDemandOf(vcpus, 2) };
  };
  const labelled = Object.fromEntries(keys.slice(0, 3).map((k) => [k, { score: 0.9, evidence: 5, clockBound: true }]));
  const learnFrom = (usage: readonly number[], intervals: number) => {
    let learned = learnSharing(measured(usage), keys, labelled);
    for (let k = 1; k < intervals; k++) learned = learnSharing(measured(usage), keys, learned);
    return learned!;
  };
  const byRunnableTime = learnFrom([0.16, 0.57, 0.15, 1], 3);
  assert.deepEqual(keys.slice(0, 3).map((k) => byRunnableTime[k]!.crowded), [true, true, true]);
  assert.equal(byRunnableTime.d?.crowded ?? false, false, 'the busy one alone on its pCPU learns nothing');
  assert.deepEqual(keys.slice(0, 3).map((k) => learnFrom([0.16, 0.57, 0.15, 1], 2)[k]!.crowded), [false, false, false], 'three intervals of evidence first');
  const byWaterFilling = learnFrom([0.31, 0.41, 0.28, 1], 5);
  assert.deepEqual(keys.slice(0, 3).map((k) => byWaterFilling[k]!.crowded), [false, false, false]);
});

test('objective: only fairness or balance', () => {
  assert.equal(parseCpuObjective('balance', 'x'), 'balance');
  assert.throws(() => parseCpuObjective('speed', '--objective'), /--objective: expected fairness or balance, got "speed"/);
  assert.throws(() => validateCpuSchedulerOptions({ ...defaultCpuSchedulerOptions, objective: 'fast' as never }), /objective/);
});

test('segregation opens the clock-bound pCPU where other load is least, not at a home beside a host process (mix-7s)', () => {
  // Two clock-bound vCPUs (0.27, 0.14) run on pCPU0, where a host process takes half; two busy ones elsewhere.
  const demands = [0.27, 0.14, 0.9, 0.9];
  const clockBound = Uint8Array.from([1, 1, 0, 0]);
  const homes = [0, 0, 1, 1];
  const where = segregatedAssignment(demands, clockBound, homes, 2, [0.5, 0]);
  assert.deepEqual(where.slice(0, 2), [1, 1], 'the clock-bound pair leaves the pCPU the host process holds');
  assert.deepEqual(where.slice(2), [0, 0], 'the busy pair takes the other');
  // With no other load their home is kept (no needless move).
  assert.deepEqual(segregatedAssignment(demands, clockBound, homes, 2).slice(0, 2), [0, 0]);
});

test('segregation moves a small vCPU off a full pCPU to the clock-bound one when it fits there uncontended (mix-18s)', () => {
  // After segregation the bursty vCPU (0.21) is alone on pCPU0; three busy ones (reading 1.00) and two
  // small ones (0.18, 0.04) share pCPU1, home for all five: the small ones stayed home though it is full.
  const demands = [1, 0.21, 0.04, 1, 1, 0.18];
  const clockBound = Uint8Array.from([0, 1, 0, 0, 0, 0]);
  const homes = [1, 0, 1, 1, 1, 1];
  const where = segregatedAssignment(demands, clockBound, homes, 2);
  assert.deepEqual(where, [1, 0, 0, 1, 1, 0], 'the small ones join the clock-bound vCPU: nobody there waits, the busy three get a third each');
  // A small one that would make the clock-bound pCPU contended stays home, and so does one that would
  // fill it beyond 0.6 (bursty vCPUs sharing a pCPU lose part of what they ask well before it is full: mix-131).
  assert.deepEqual(segregatedAssignment([1, 0.7, 0.4, 1], Uint8Array.from([0, 1, 0, 0]), [1, 0, 1, 1], 2), [1, 0, 1, 1]);
  assert.deepEqual(segregatedAssignment([1, 0.55, 0.2, 1], Uint8Array.from([0, 1, 0, 0]), [1, 0, 1, 1], 2), [1, 0, 1, 1]);
  assert.deepEqual(segregatedAssignment([1, 0.35, 0.2, 1], Uint8Array.from([0, 1, 0, 0]), [1, 0, 1, 1], 2), [1, 0, 0, 1]);
  // With room at home (not full) nothing moves.
  assert.deepEqual(segregatedAssignment([0.5, 0.21, 0.2], Uint8Array.from([0, 1, 0]), [1, 0, 1], 2), [1, 0, 1]);
});
