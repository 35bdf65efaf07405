// Predictions checked against what happened: which vCPUs are clock-bound, learned per vCPU.
//
// Water-filling (fairness.ts) assumes a vCPU that asks for less than an equal split gets all it
// asks. That holds for a work-bound (elastic) vCPU: if it is slowed down it stays runnable longer
// and catches up. It fails for a clock-bound one, whose busy window ends by the clock whether or not
// it ran (a guest busy 40 ms in every 100 ms): the host shares a pCPU equally among the threads
// runnable *at that moment*, so beside k always-runnable neighbours it gets 1/(1 + k) of the pCPU
// while its window lasts, and receives ≈ demand · w / (w + Σ w_busy) (demand = time + delay, the
// fraction of wall time it is runnable; w its weight). Measured on real guests: 40 % asked beside a
// busy guest, 22 % received; water-filling said 40 %.
//
// Learning: every interval, for each vCPU in a contended group (the vCPUs allowed on exactly the same
// pCPUs — one pCPU, a shared set, all of them — ask for more than those pCPUs have, at least one of
// them is busy, and no vCPU outside the group may run there), both models predict its share from the interval's own demands; when they differ by at
// least `minSeparation`, the one closer to what it received is evidence (soft, in [0, 1]: 1 when the
// clock-bound model is exact, 0 when water-filling is). An EWMA of that evidence is its score; after
// `minEvidence` intervals of evidence a score ≥ `learnAt` labels it clock-bound, below `unlearnAt`
// the label goes. Busy vCPUs (demand ≥ busyDemand) are always runnable: both models agree, nothing
// to learn. Intervals without evidence decay the score slowly (a clock-bound vCPU kept apart from
// busy ones gives none), a vCPU absent from the measurement is dropped, and the controller forgets
// a removed domain's vCPUs.
//
// Prediction: in a group of vCPUs sharing the same pCPUs (one pCPU, a shared set, everything) with
// at least one learned clock-bound vCPU and at least one busy elastic one, each clock-bound vCPU
// gets demand · c̄ · w / (w + Σ w_busy / m) (m pCPUs of mean capacity c̄: the host's run queues are
// per pCPU, so each busy thread crowds one of them), and the elastic ones water-fill what is left.
// A vCPU learned clock-bound held on one pCPU with no busy neighbour is judged
// the same way between water-filling and runnable-time sharing (crowdedRate: each neighbour runnable
// its demand's fraction of the time); once one there is learned `crowded`, such a pCPU is predicted
// by runnable-time sharing. Anywhere else the water-filling prediction stands unchanged.

import { idleDemand } from './fairness.js';
import { fillLevel } from './water-fill.js';
import type { CpuMeasurement } from './usage.js';

export interface LearnedVcpu {
  /** EWMA of the evidence: 1 = the clock-bound model explained what it received, 0 = water-filling did. */
  score: number;
  /** Intervals that gave evidence. */
  evidence: number;
  /** Learned clock-bound: used by every share prediction. */
  clockBound: boolean;
  /** The same learning for a clock-bound vCPU held on one pCPU with no busy neighbour: 1 = it
   *  received what runnable-time sharing (crowdedRate) says, 0 = what water-filling says. */
  crowdedScore?: number;
  crowdedEvidence?: number;
  /** Learned: crowded on one pCPU, it shares by runnable time; predictions of such a pCPU use crowdedRate. */
  crowded?: boolean;
}

/** Per vCPU (key from vcpuKey), what was learned about how it shares. */
export type LearnedSharing = Record<string, LearnedVcpu>;

/** A vCPU asking at least this (fraction of a pCPU) is always runnable: a busy neighbour, and nothing to learn about itself. */
export const busyDemand = 0.9;
/** Weight of the newest interval's evidence in the score. */
const learnRate = 0.3;
/** Intervals of evidence before a label can be given. */
const minEvidence = 3;
/** Above one half the clock-bound model was the closer one on average. */
const learnAt = 0.6;
const unlearnAt = 0.35;
/** Per interval without evidence, the score loses this fraction (half-life ≈ 140 intervals). */
const forgetRate = 0.005;
/** A record whose score fell below this, with no label and no evidence this interval, is dropped. */
const dropBelow = 0.02;
/** The two models must differ by this much (fraction of a pCPU) for an observation to be evidence. */
const minSeparation = 0.05;
/** A pCPU is contended when its pinned demand exceeds its capacity by this much. */
const contentionMargin = 0.05;

/** What a clock-bound vCPU of weight w receives per unit of demand beside busy weight `busy` on `m` pCPUs of mean capacity `meanCapacity`. */
function clockBoundRate(w: number, busy: number, m: number, meanCapacity: number): number {
  return Math.min(1, meanCapacity * (w / (w + busy / m)));
}

/**
 * The rate a clock-bound vCPU `i` runs at while its window lasts, in a group with no busy vCPU that
 * asks more than its m pCPUs have: each other vCPU j is runnable a fraction d_j of the time (its
 * demand: time + delay), independently, and k runnable threads on m pCPUs run at min(1, m / k) each
 * (weighted by w_i against the others' mean weight). So c̄ · E[min(1, m · w_i / (w_i + w̄ · K))] over
 * K, the number of others runnable (a Poisson binomial). Three clock-bound vCPUs of 0.31, 0.77 and
 * 0.28 on one simulated pCPU (mix-3s) received 0.16, 0.57 and 0.15: this says 0.17, 0.57, 0.15;
 * water-filling said 0.31, 0.41 and 0.28; real guests, three 40 % ones on one pCPU: 25-29 % received, 26 % said.
 */
function crowdedRate(i: number, list: readonly number[], demands: readonly number[], m: number, meanCapacity: number, weights?: readonly number[]): number {
  const others = list.filter((j) => j !== i);
  // P(K = k) by adding one other vCPU at a time.
  const p = new Float64Array(others.length + 1);
  p[0] = 1;
  let weightSum = 0;
  others.forEach((j, n) => {
    const q = Math.min(1, Math.max(0, demands[j]!));
    for (let k = n + 1; k >= 1; k--) p[k] = p[k]! * (1 - q) + p[k - 1]! * q;
    p[0] = p[0]! * (1 - q);
    weightSum += weights?.[j] ?? 1;
  });
  const w = weights?.[i] ?? 1;
  const meanWeight = others.length > 0 ? weightSum / others.length : 1;
  let rate = 0;
  for (let k = 0; k <= others.length; k++) rate += p[k]! * meanCapacity * Math.min(1, (m * w) / (w + meanWeight * k));
  return Math.min(1, rate);
}

/**
 * Updates what was learned from one interval's measurement. `keys` are the vCPUs' keys in
 * measurement order, `capacity` each pCPU's room for our vCPUs (1 less its other load),
 * `affinities` each vCPU's pCPUs normalised (sorted, unique, valid). Returns undefined when nothing
 * is remembered.
 *
 * A group is the vCPUs allowed on exactly the same pCPUs: one pCPU (pinned), a shared set, or all
 * of them (released). Only a closed group is judged: no other vCPU may run on its pCPUs.
 */
export function learnSharing(
  m: CpuMeasurement,
  keys: readonly string[],
  previous: LearnedSharing | undefined,
  capacity?: readonly number[],
  affinities: readonly (readonly number[])[] = m.vcpus.map((v) => v.affinity),
): LearnedSharing | undefined {
  const pcpus = m.pcpus;
  const vcpus = m.vcpus;
  const n = vcpus.length;
  // The labels in force, resolved once (none while nothing was learned).
  let labels: Uint8Array | undefined;
  if (previous !== undefined) {
    labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) if (previous[keys[i]!]?.clockBound === true) labels[i] = 1;
  }
  // Group of each vCPU: its pCPU when pinned to one, else pcpus + the index of its pCPU set.
  const groupOf = new Int32Array(n);
  const sets: (readonly number[])[] = [];
  let setIds: Map<string, number> | undefined;
  let everywhere = -1;
  for (let i = 0; i < n; i++) {
    const a = affinities[i]!;
    if (a.length === 1) {
      groupOf[i] = a[0]!;
      continue;
    }
    let id: number;
    if (a.length === pcpus) {
      if (everywhere < 0) {
        everywhere = sets.length;
        sets.push(a);
      }
      id = everywhere;
    } else {
      const key = a.join(',');
      setIds ??= new Map();
      const known = setIds.get(key);
      if (known === undefined) {
        id = sets.length;
        setIds.set(key, id);
        sets.push(a);
      } else id = known;
    }
    groupOf[i] = pcpus + id;
  }
  const groups = pcpus + sets.length;
  const demand = new Float64Array(groups);
  const busy = new Float64Array(groups);
  const count = new Int32Array(groups + 1);
  for (let i = 0; i < n; i++) {
    const v = vcpus[i]!;
    const g = groupOf[i]!;
    demand[g] = demand[g]! + v.demand;
    count[g + 1] = count[g + 1]! + 1;
    if (v.demand >= busyDemand && labels?.[i] !== 1) busy[g] = busy[g]! + (v.weight ?? 1);
  }
  // Closed groups: a pCPU reached by two groups closes neither.
  const closed = new Uint8Array(groups).fill(1);
  if (sets.length > 0) {
    const owner = new Int32Array(pcpus).fill(-1);
    for (let p = 0; p < pcpus; p++) if (count[p + 1]! > 0) owner[p] = p;
    sets.forEach((set, k) => {
      const g = pcpus + k;
      for (const p of set) {
        if (owner[p] !== -1 && owner[p] !== g) {
          closed[g] = 0;
          closed[owner[p]!] = 0;
        }
        owner[p] = g;
      }
    });
  }
  const room = new Float64Array(groups);
  const largest = new Float64Array(groups);
  const size = new Int32Array(groups);
  for (let g = 0; g < groups; g++) {
    const set = g < pcpus ? undefined : sets[g - pcpus]!;
    if (set === undefined) {
      room[g] = capacity?.[g] ?? 1;
      largest[g] = room[g]!;
      size[g] = 1;
    } else {
      let r = 0;
      let l = 0;
      for (const p of set) {
        const c = capacity?.[p] ?? 1;
        r += c;
        l = Math.max(l, c);
      }
      room[g] = r;
      largest[g] = l;
      size[g] = set.length;
    }
  }
  const contended = new Uint8Array(groups);
  let any = false;
  for (let g = 0; g < groups; g++) {
    if (closed[g] === 1 && busy[g]! > 0 && demand[g]! > room[g]! + contentionMargin) {
      contended[g] = 1;
      any = true;
    }
  }
  if (!any && previous === undefined) return undefined;

  // Per contended group, the elastic water level under the current labels: the labelled clock-bound
  // vCPUs there take their clock-bound share first, the elastic ones (laid out per group) fill the rest.
  const rate = (i: number, g: number): number => clockBoundRate(vcpus[i]!.weight ?? 1, busy[g]!, size[g]!, room[g]! / size[g]!);
  const level = new Float64Array(groups).fill(Infinity);
  if (any) {
    for (let g = 0; g < groups; g++) count[g + 1] = count[g + 1]! + count[g]!;
    const fill = count.slice(0, groups);
    const ds = new Float64Array(count[groups]!);
    const ws = new Float64Array(count[groups]!);
    const taken = new Float64Array(groups);
    let longest = 0;
    for (let i = 0; i < n; i++) {
      const g = groupOf[i]!;
      if (contended[g] !== 1) continue;
      const v = vcpus[i]!;
      if (labels?.[i] === 1) taken[g] = taken[g]! + Math.min(largest[g]!, v.demand * rate(i, g));
      else {
        const at = fill[g]!++;
        ds[at] = Math.min(largest[g]!, v.demand);
        ws[at] = v.weight ?? 1;
      }
    }
    for (let g = 0; g < groups; g++) longest = Math.max(longest, fill[g]! - count[g]!);
    const order = new Uint32Array(longest);
    for (let g = 0; g < groups; g++) {
      if (contended[g] !== 1) continue;
      level[g] = fillLevel(ds, room[g]! - Math.min(room[g]!, taken[g]!), ws, count[g]!, fill[g]! - count[g]!, order);
    }
  }

  const crowdedEvidence = labels ? crowdedSharingEvidence(vcpus, labels, groupOf, pcpus, closed, busy, demand, room) : undefined;
  const next: LearnedSharing = {};
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = vcpus[i]!;
    const before = previous?.[keys[i]!];
    const g = groupOf[i]!;
    let evidence: number | undefined;
    if (contended[g] === 1 && v.demand >= idleDemand && v.demand < busyDemand) {
      const clockBoundShare = Math.min(largest[g]!, v.demand * rate(i, g));
      const waterFillShare = Math.min(v.demand, largest[g]!, (v.weight ?? 1) * level[g]!);
      evidence = evidenceFor(v.usage, waterFillShare, clockBoundShare);
    }
    if (evidence === undefined && before === undefined) continue;
    let record: LearnedVcpu;
    if (evidence !== undefined) {
      const step = learnStep(before?.score, before?.evidence ?? 0, before?.clockBound === true, evidence);
      // A vCPU never suspected is remembered only once the clock-bound model explains it better.
      if (before === undefined ? evidence < 0.5 : !step.label && step.score < dropBelow) continue;
      record = { score: step.score, evidence: step.seen, clockBound: step.label };
    } else {
      const score = before!.score * (1 - forgetRate);
      const clockBound = before!.clockBound && score >= unlearnAt;
      if (!clockBound && score < dropBelow) continue;
      record = { score, evidence: before!.evidence, clockBound };
    }
    withCrowded(record, before, crowdedEvidence?.[i]);
    next[keys[i]!] = record;
    kept++;
  }
  return kept > 0 ? next : undefined;
}

/**
 * Per vCPU, evidence (NaN: none) on how a labelled clock-bound vCPU shares a pCPU it is pinned to with no
 * busy neighbour: closer to runnable-time sharing (crowdedRate) → 1,
 * closer to water-filling → 0; only where the two differ by `minSeparation`.
 */
function crowdedSharingEvidence(
  vcpus: CpuMeasurement['vcpus'],
  labels: Uint8Array,
  groupOf: Int32Array,
  pcpus: number,
  closed: Uint8Array,
  busy: Float64Array,
  demand: Float64Array,
  room: Float64Array,
): Float64Array | undefined {
  let evidence: Float64Array | undefined;
  const members = new Map<number, number[]>();
  for (let i = 0; i < vcpus.length; i++) {
    const g = groupOf[i]!;
    if (g >= pcpus || closed[g] !== 1 || busy[g]! > 0) continue;
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  }
  let all: { demands: number[]; weights: number[] } | undefined;
  for (const [g, list] of members) {
    if (!list.some((i) => labels[i] === 1)) continue;
    const { demands, weights } = (all ??= { demands: vcpus.map((v) => v.demand), weights: vcpus.map((v) => v.weight ?? 1) });
    const level = fillLevel(Float64Array.from(list, (i) => Math.min(room[g]!, demands[i]!)), room[g]!, Float64Array.from(list, (i) => weights[i]!));
    for (const i of list) {
      const v = vcpus[i]!;
      if (labels[i] !== 1 || v.demand < idleDemand) continue;
      const waterFillShare = Math.min(v.demand, room[g]!, weights[i]! * level);
      const crowdedShare = Math.min(room[g]!, v.demand * crowdedRate(i, list, demands, 1, room[g]!, weights));
      const found = evidenceFor(v.usage, waterFillShare, crowdedShare);
      if (found !== undefined) (evidence ??= new Float64Array(vcpus.length).fill(NaN))[i] = found;
    }
  }
  return evidence;
}

/**
 * Evidence in [0, 1] that a vCPU which received `received` follows `model` rather than water-filling
 * (`waterFill`): 1 at or past the model, 0 at or past water-filling; undefined where the two differ by
 * less than `minSeparation` (the interval tells them apart no better than noise).
 */
function evidenceFor(received: number, waterFill: number, model: number): number | undefined {
  const separation = Math.abs(waterFill - model);
  if (separation < minSeparation) return undefined;
  const closer = Math.abs(received - waterFill) - Math.abs(received - model);
  return Math.min(1, Math.max(0, 0.5 + closer / (2 * separation)));
}

/**
 * One interval's evidence added to a label: the score's EWMA (the evidence itself the first time),
 * the evidence seen, and the label with hysteresis (learned after `minEvidence` above `learnAt`,
 * unlearned below `unlearnAt`).
 */
function learnStep(score: number | undefined, seen: number, label: boolean, evidence: number): { score: number; seen: number; label: boolean } {
  const next = score === undefined ? evidence : score + learnRate * (evidence - score);
  return { score: next, seen: seen + 1, label: label ? next >= unlearnAt : seen + 1 >= minEvidence && next >= learnAt };
}

/** Adds to `record` what is learned of its crowded sharing: this interval's evidence, else what was known. */
function withCrowded(record: LearnedVcpu, before: LearnedVcpu | undefined, evidence: number | undefined): void {
  if (evidence !== undefined && !Number.isNaN(evidence)) {
    const step = learnStep(before?.crowdedScore, before?.crowdedEvidence ?? 0, before?.crowded === true, evidence);
    record.crowdedScore = step.score;
    record.crowdedEvidence = step.seen;
    record.crowded = step.label;
  } else if (before?.crowdedScore !== undefined) {
    record.crowdedScore = before.crowdedScore;
    record.crowdedEvidence = before.crowdedEvidence!;
    record.crowded = before.crowded === true;
  }
  if (!record.clockBound) record.crowded = false;
}

/** Per vCPU (measurement order) 1 when learned to share by runnable time when crowded; undefined when none is. */
export function crowdedOf(keys: readonly string[], learned: LearnedSharing | undefined): Uint8Array | undefined {
  return flagsOf(keys, learned, (v) => v.crowded === true);
}

/** Per vCPU (measurement order) 1 when learned clock-bound; undefined when none is (predictions are then exactly water-filling). */
export function clockBoundOf(keys: readonly string[], learned: LearnedSharing | undefined): Uint8Array | undefined {
  return flagsOf(keys, learned, (v) => v.clockBound);
}

function flagsOf(keys: readonly string[], learned: LearnedSharing | undefined, has: (v: LearnedVcpu) => boolean): Uint8Array | undefined {
  if (learned === undefined) return undefined;
  let flags: Uint8Array | undefined;
  for (let i = 0; i < keys.length; i++) {
    const v = learned[keys[i]!];
    if (v !== undefined && has(v)) (flags ??= new Uint8Array(keys.length))[i] = 1;
  }
  return flags;
}

/**
 * The water-filling prediction `base` corrected by what was learned: each group of vCPUs allowed on
 * exactly the same pCPUs, holding a learned clock-bound vCPU and a busy elastic one, is predicted by
 * the clock-bound physics (header). Groups whose pCPUs overlap another group's keep `base`.
 */
export function predictLearnedShares(
  demands: readonly number[],
  where: readonly (readonly number[])[],
  clockBound: Uint8Array,
  base: readonly number[],
  pcpus: number,
  capacity?: readonly number[],
  weights?: readonly number[],
  crowded?: Uint8Array,
): number[] {
  const groups = new Map<number | string, number[]>();
  for (let i = 0; i < demands.length; i++) {
    const set = where[i]!;
    const key = set.length === 1 ? set[0]! : set.length === pcpus ? -1 : set.join(',');
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  }
  // A pCPU reached by two groups: neither is a closed system, both keep water-filling.
  const owner = new Int32Array(pcpus).fill(-1);
  const overlapping = new Set<number>();
  const lists = [...groups.values()];
  lists.forEach((list, g) => {
    for (const p of where[list[0]!]!) {
      if (p < 0 || p >= pcpus) continue;
      if (owner[p] !== -1 && owner[p] !== g) {
        overlapping.add(g);
        overlapping.add(owner[p]!);
      }
      owner[p] = g;
    }
  });
  const shares = base.slice();
  lists.forEach((list, g) => {
    if (overlapping.has(g) || !list.some((i) => clockBound[i] === 1)) return;
    const set = where[list[0]!]!;
    let room = 0;
    let largest = 0;
    for (const p of set) {
      const c = Math.max(0, capacity?.[p] ?? 1);
      room += c;
      largest = Math.max(largest, c);
    }
    let busy = 0;
    for (const i of list) if (clockBound[i] !== 1 && demands[i]! >= busyDemand) busy += weights?.[i] ?? 1;
    if (set.length === 0) return;
    // No busy neighbour: water-filling stands, unless the group is one pCPU and one of its clock-bound vCPUs was
    // seen to share it by runnable time (learned `crowded`), whether or not it is asked more than it has.
    if (busy === 0 && (set.length > 1 || !list.some((i) => crowded?.[i] === 1))) return;
    const meanCapacity = room / set.length;
    let clockBoundTotal = 0;
    for (const i of list) {
      if (clockBound[i] !== 1) continue;
      const rate = busy > 0 ? clockBoundRate(weights?.[i] ?? 1, busy, set.length, meanCapacity) : crowdedRate(i, list, demands, set.length, meanCapacity, weights);
      const share = Math.min(largest, demands[i]! * rate);
      shares[i] = share;
      clockBoundTotal += share;
    }
    if (clockBoundTotal > room) {
      for (const i of list) if (clockBound[i] === 1) shares[i] = (shares[i]! * room) / clockBoundTotal;
      clockBoundTotal = room;
    }
    const elastic = list.filter((i) => clockBound[i] !== 1);
    const ds = Float64Array.from(elastic, (i) => Math.min(largest, demands[i]!));
    const ws = Float64Array.from(elastic, (i) => weights?.[i] ?? 1);
    const level = fillLevel(ds, room - clockBoundTotal, ws);
    elastic.forEach((i, k) => (shares[i] = Math.min(ds[k]!, ws[k]! * level)));
  });
  return shares;
}

/**
 * A small elastic vCPU leaves a full home for a clock-bound pCPU only while that pCPU's demand stays
 * at most this: the simulator's bursty vCPUs sharing a pCPU still lose a quarter of what they ask at
 * 0.8 in all (mix-131: two unlabelled 0.13 bursty ones beside two clock-bound ones), next to nothing
 * at 0.55 (mix-72: a constant 0.37 beside a bursty 0.17; mix-18s: 0.18 and 0.04 beside a bursty 0.21).
 */
const quietClockBoundLoad = 0.6;

/**
 * One-pCPU pins that keep learned clock-bound vCPUs apart from busy elastic ones: the clock-bound
 * ones first-fit (largest first) onto pCPUs while their demands fit, starting with the pCPUs that
 * hold most of them already; the elastic ones sticky-LPT (largest first: home while it stays under
 * the even level, else onto the least loaded pCPU) on the other pCPUs — onto a clock-bound pCPU only when it fits there without
 * contention and the others are full. Returns the pCPU of each vCPU.
 */
export function segregatedAssignment(
  demands: readonly number[],
  clockBound: Uint8Array,
  homes: readonly (number | undefined)[],
  pcpus: number,
  other?: readonly number[],
): number[] {
  const n = demands.length;
  const loads = new Float64Array(pcpus);
  if (other) for (let p = 0; p < pcpus; p++) loads[p] = other[p] ?? 0;
  const homed = new Float64Array(pcpus);
  const clockBoundIdx: number[] = [];
  const elasticIdx: number[] = [];
  for (let i = 0; i < n; i++) {
    if (clockBound[i] === 1) {
      clockBoundIdx.push(i);
      const h = homes[i];
      if (h !== undefined && h >= 0 && h < pcpus) homed[h] = homed[h]! + demands[i]!;
    } else elasticIdx.push(i);
  }
  const byDemand = (a: number, b: number): number => demands[b]! - demands[a]! || a - b;
  clockBoundIdx.sort(byDemand);
  elasticIdx.sort(byDemand);
  // Other load is a busy neighbour that never waits: clock-bound vCPUs open the pCPUs with least of it first (as groups.ts).
  const otherBucket = (p: number): number => Math.round((other?.[p] ?? 0) * 20);
  const pcpuOrder = Array.from({ length: pcpus }, (_, p) => p).sort((a, b) => otherBucket(a) - otherBucket(b) || homed[b]! - homed[a]! || a - b);
  const assignment = new Array<number>(n).fill(0);
  const taken = new Uint8Array(pcpus);
  const eps = 1e-9;
  // First fit, with as few moves as first fit allows: home when home is already a clock-bound pCPU
  // (or is the one to open next), else the first clock-bound pCPU it fits on, else a new one.
  for (const i of clockBoundIdx) {
    const d = demands[i]!;
    const home = homes[i];
    const fits = (p: number): boolean => loads[p]! + d <= 1 + eps;
    const homeValid = home !== undefined && home >= 0 && home < pcpus;
    let chosen: number | undefined = homeValid && taken[home] === 1 && fits(home) ? home : pcpuOrder.find((p) => taken[p] === 1 && fits(p));
    if (chosen === undefined) {
      const opening = pcpuOrder.find((p) => taken[p] !== 1 && fits(p));
      chosen = homeValid && fits(home) && taken[home] !== 1 && (opening === undefined || otherBucket(home) <= otherBucket(opening)) ? home : opening;
    }
    if (chosen === undefined) chosen = pcpuOrder.reduce((best, p) => (loads[p]! < loads[best]! ? p : best), pcpuOrder[0]!);
    assignment[i] = chosen;
    loads[chosen] = loads[chosen]! + demands[i]!;
    taken[chosen] = 1;
  }
  const free = Array.from({ length: pcpus }, (_, p) => p).filter((p) => taken[p] !== 1);
  const candidates = free.length > 0 ? free : Array.from({ length: pcpus }, (_, p) => p);
  const allowed = new Uint8Array(pcpus);
  let total = 0;
  for (const p of candidates) {
    allowed[p] = 1;
    total += loads[p]!;
  }
  for (const i of elasticIdx) total += demands[i]!;
  // Sticky: a vCPU stays home while its pCPU stays under the even level (no needless moves), unless
  // home and every other free pCPU are full and a small one fits beside the clock-bound ones with the
  // pCPU still under quietClockBoundLoad (then the fallback below takes it there).
  const even = total / candidates.length;
  const clockBoundPcpus = Array.from({ length: pcpus }, (_, p) => p).filter((p) => taken[p] === 1);
  const besideClockBound = (d: number): boolean =>
    free.length > 0 && d < busyDemand && free.every((p) => loads[p]! + d > 1 + eps) && clockBoundPcpus.some((p) => loads[p]! + d <= quietClockBoundLoad + eps);
  for (const i of elasticIdx) {
    const d = demands[i]!;
    const home = homes[i];
    if (home !== undefined && allowed[home] === 1 && loads[home]! + d <= even + eps && !(loads[home]! + d > 1 + eps && besideClockBound(d))) {
      assignment[i] = home;
      loads[home] = loads[home]! + d;
      continue;
    }
    let best = candidates[0]!;
    for (const p of candidates) {
      if (loads[p]! < loads[best]! - eps || (Math.abs(loads[p]! - loads[best]!) <= eps && p === home)) best = p;
    }
    if (loads[best]! + d > 1 + eps && d < busyDemand && free.length > 0) {
      // A small elastic vCPU may sit beside clock-bound ones when nobody there has to wait.
      for (let p = 0; p < pcpus; p++) if (taken[p] === 1 && loads[p]! + d <= 1 + eps && (taken[best] !== 1 || loads[p]! < loads[best]!)) best = p;
    }
    assignment[i] = best;
    loads[best] = loads[best]! + d;
  }
  return assignment;
}
