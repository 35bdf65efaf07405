import type { Notice, PinAction } from '../ground/actions.js';
import { judgeBalance } from './balance.js';
import type { DedicatedState } from './dedicated-state.js';
import { validateCpuSchedulerOptions, type CpuObjective, type CpuSchedulerOptions } from './options.js';
import { clockBoundOf, learnSharing, predictLearnedShares, segregatedAssignment, type LearnedSharing } from './learned-sharing.js';
import { predictSharesOf, shareFairness } from './fairness.js';
import { demandSigma, loadSigmaRms, noiseGainPoints, rawSigma, updateHistory, type VcpuHistory } from './noise.js';
import { PcpuSums } from './pcpu-sums.js';
import { planPlacement, spreadOf, type PlacementItem } from './placement.js';
import { awayFromOtherLoad } from './away-from-other.js';
import { fairSharesOf, sharePcpus, worstFractionOfFairShare } from './sharing.js';
import { isVcpuKey, normalizeAffinity, otherLoadFloor, pourLevel, vcpuKey, type CpuMeasurement } from './usage.js';
import { formatCpuList } from '../ground/cpu-list.js';
import { keptEntries, keptValues, PreviousByKey } from './vcpu-lists.js';
import { groupedCandidates } from './groups.js';
import type { TrialEvent, TrialState } from './trials.js';

// The vCPU scheduler policy: one CpuMeasurement in, pin actions out (pure; the control loop applies them).
// Rules live where they are named: measuring in usage.ts, the imbalance test and hysteresis in
// balance.ts, smoothing and noise in noise.ts, the optimiser in placement.ts, predicted shares and
// fairness in fairness.ts.
// Loads and spreads are in pCPUs inside the optimiser and in points (1 pCPU = 100 points) here.

export interface CpuSchedulerState {
  /** Intervals decided so far. */
  intervals: number;
  /** Consecutive intervals the host has been out of balance (reset by acting). */
  streak: number;
  /** The last interval waited for a changed demand to settle. */
  waited: boolean;
  /** Interval number of the last re-pin, or null. */
  lastActionInterval: number | null;
  /** Pin actions issued so far. */
  pinChanges: number;
  /** The vCPUs seen last interval (vcpuKey), each once, in measurement order; the lists below follow it (vcpu-lists.ts). */
  vcpuKeys: string[];
  /** Demand history of each vCPU in `vcpuKeys`. */
  vcpus: VcpuHistory[];
  /** Domains that get dedicated pCPUs while busy, by domainKey (dedicated.ts); absent when none is named. */
  dedicated?: DedicatedState;
  /**
   * Per vCPU, the share the model predicts it gets in the next interval under the placement in
   * force after this decision: checked against what it then received (the trace's prediction
   * error). Its own key list: dedicated vCPUs (dedicated.ts) are predicted without a demand history.
   */
  predicted?: PredictedShares;
  /** Per pCPU, the history of its other load (busy time not ours, usage.ts), smoothed like a vCPU's demand; absent until the host reports it. */
  otherLoad?: VcpuHistory[];
  /** Per vCPU, how it was seen to share a contended pCPU (learned-sharing.ts); absent while nothing is learned. */
  learned?: LearnedSharing | undefined;
  /** The trial loop (trials.ts): the demand epoch, the trial in progress, what each placement delivered; absent until the first trial-judged decision. */
  trials?: TrialState;
}

/** Predicted shares as lists: `shares[j]` is the vCPU `keys[j]` (vcpuKey), each key once (vcpu-lists.ts). */
export interface PredictedShares {
  keys: string[];
  shares: number[];
}

/** The share predicted for one vCPU (by vcpuKey) in a state, if any. */
export function predictedShareOf(state: CpuSchedulerState, key: string): number | undefined {
  const j = state.predicted?.keys.indexOf(key) ?? -1;
  return j >= 0 ? state.predicted!.shares[j] : undefined;
}

/** What the host gives our vCPUs: per pCPU the other load it carries and the capacity left (1 − other); both undefined when there is none. */
interface HostRoom {
  pcpus: number;
  other: number[] | undefined;
  capacity: number[] | undefined;
  /** Per vCPU, its CPU weight; undefined when all are 1. */
  weights?: number[] | undefined;
  /** Per vCPU, 1 when learned clock-bound (learned-sharing.ts); undefined when none is, and every prediction is water-filling. */
  clockBound?: Uint8Array | undefined;
}


function hostRoom(pcpus: number, other: readonly number[] | undefined): HostRoom {
  if (!other || other.length !== pcpus || other.every((o) => o < otherLoadFloor)) return { pcpus, other: undefined, capacity: undefined };
  const clipped = other.map((o) => (o < otherLoadFloor ? 0 : Math.min(1, o)));
  return { pcpus, other: clipped, capacity: clipped.map((o) => 1 - o) };
}

/**
 * Demand per pCPU on top of other load: a vCPU pinned to one pCPU adds there; one allowed on several
 * is poured onto the least loaded of them (the host's scheduler moves a runnable thread off a pCPU a
 * host process keeps busy), the most constrained first.
 */
function loadsBesideOther(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom): number[] {
  const levels = room.other!.slice();
  const flexible = new Map<readonly number[], number>();
  demands.forEach((d, i) => {
    const set = where[i]!;
    if (set.length === 1) levels[set[0]!] = levels[set[0]!]! + d;
    else flexible.set(set, (flexible.get(set) ?? 0) + d);
  });
  const sets = [...flexible.entries()].sort((a, b) => a[0].length - b[0].length || b[1] - a[1]);
  for (const [set, total] of sets) pourLevel(levels, set, total);
  return levels;
}

function withOther(loads: number[], room: HostRoom): number[] {
  if (room.other) for (let p = 0; p < loads.length; p++) loads[p] = loads[p]! + (room.other[p] ?? 0);
  return loads;
}

export function initialCpuSchedulerState(): CpuSchedulerState {
  return { intervals: 0, streak: 0, waited: false, lastActionInterval: null, pinChanges: 0, vcpuKeys: [], vcpus: [] };
}

/** A placement as predicted by the model (fairness.ts): demand per pCPU and what it means. */
export interface PlacementSummary {
  demandLoads: number[];
  /** max − min of demandLoads, points. */
  spreadPoints: number;
  /** Spread of predicted usage (min(1, demand load)), points. */
  usageSpreadPoints: number;
  /** Predicted Jain index of share/demand over non-idle vCPUs (equal fractions = 1, even if all are starved). */
  fairness: number;
  /** Predicted total share / total demand: how much of the demand the host serves. */
  served: number;
  /** Smallest predicted share / fair share (global max-min share of all pCPUs) over non-idle vCPUs. */
  worstFractionOfFairShare: number;
  /** Predicted share of each vCPU (fraction of a pCPU), in measurement order. */
  shares: readonly number[];
}

/**
 * from-current, sticky-lpt, lpt: one pCPU per vCPU; share: some vCPUs pinned to shared pCPU sets;
 * release: every vCPU on all pCPUs; segregate: one pCPU per vCPU, learned clock-bound vCPUs kept apart from busy ones.
 */
export type CpuStrategy = 'none' | 'from-current' | 'sticky-lpt' | 'lpt' | 'share' | 'release' | 'segregate' | 'groups' | 'revert';

export interface CpuDecision {
  actions: PinAction[];
  state: CpuSchedulerState;
  /** True when no placement would lower the spread by more than the margin (nor serve the worst-served vCPU much better). */
  balanced: boolean;
  /** Predicted demand spread of the current placement, points. */
  spreadPoints: number;
  /** Spread of the measured pCPU usage, points. */
  measuredUsageSpreadPoints: number;
  /** Spread of the best placement found (the current one when not searched), points. */
  bestSpreadPoints: number;
  gainPoints: number;
  before: PlacementSummary;
  /** The placement after the actions (equal to `before` when there are none). */
  after: PlacementSummary;
  strategy: CpuStrategy;
  /** The objective the placement was chosen for (options.objective, fairness when not given). */
  objective: CpuObjective;
  /** vCPUs (domain name/vCPU) learned clock-bound, whose predictions follow the clock-bound model; absent when none is. */
  clockBound?: string[];
  /** One line for the log: why it acted or not. */
  summary: string;
  /** What it noticed without acting on it (e.g. dedicated pCPUs that cannot be given). */
  notices?: Notice[];
  /** What the trial loop did this interval (trials.ts); absent when it did nothing worth recording. */
  trial?: TrialEvent;
  /** The proposer's view, for the trial loop: keys, smoothed demands and σ in measurement order, and the state had it not acted. */
  proposal?: {
    keys: readonly string[];
    demands: readonly number[];
    sigmas: readonly number[];
    labels: string;
    other?: readonly number[];
    otherSigmas?: readonly number[];
    heldState: CpuSchedulerState;
  };
}

const points = (pcpus: number): number => Math.round(pcpus * 10000) / 100;
const fmt = (x: number): string => x.toFixed(2);
const fmtPoints = (x: number): string => (Math.round(x * 10) / 10).toString();
const percent = (x: number): string => `${Math.round(x * 100)} %`;

function summarize(demands: readonly number[], shares: readonly number[], fair: readonly number[], loads: number[]): PlacementSummary {
  let totalDemand = 0;
  let totalShare = 0;
  for (let i = 0; i < demands.length; i++) totalDemand += demands[i]!;
  for (let i = 0; i < shares.length; i++) totalShare += shares[i]!;
  return {
    demandLoads: loads,
    spreadPoints: points(spreadOf(loads)),
    usageSpreadPoints: points(spreadOf(loads.map((l) => Math.min(1, l)))),
    fairness: shareFairness(demands, shares),
    served: totalDemand > 0 ? totalShare / totalDemand : 1,
    worstFractionOfFairShare: worstFractionOfFairShare(demands, shares, fair),
    shares,
  };
}

/** Demand per pCPU (other load included) when each vCPU's demand is spread evenly over its set (sets are disjoint: the host levels each). */
function setLoads(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom): number[] {
  if (room.other) return loadsBesideOther(demands, where, room);
  const bySet = new Map<readonly number[], number>();
  demands.forEach((d, i) => bySet.set(where[i]!, (bySet.get(where[i]!) ?? 0) + d));
  const loads = new Array<number>(room.pcpus).fill(0);
  for (const [set, total] of bySet) for (const p of set) loads[p] = (loads[p] ?? 0) + total / set.length;
  return withOther(loads, room);
}

/** Summary of a placement given each vCPU's allowed pCPUs; loads spread a vCPU's demand evenly over them, on top of other load. */
function summarizePlacement(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom, fair: readonly number[]): PlacementSummary {
  const waterFilled = predictSharesOf(demands, where, room.pcpus, room.capacity, room.weights, true);
  const shares = room.clockBound ? predictLearnedShares(demands, where, room.clockBound, waterFilled, room.pcpus, room.capacity, room.weights) : waterFilled;
  if (room.other) return summarize(demands, shares, fair, loadsBesideOther(demands, where, room));
  return summarize(demands, shares, fair, demandLoadsOf(demands, where, room.pcpus));
}

/** Demand per pCPU: each vCPU's demand spread evenly over the pCPUs it may use. */
function demandLoadsOf(demands: readonly number[], where: readonly (readonly number[])[], pcpus: number): number[] {
  const loads = new PcpuSums(pcpus);
  for (let i = 0; i < demands.length; i++) loads.add(where[i]!, demands[i]! / where[i]!.length);
  return loads.values();
}

/** How a reason names pCPU `p` of the measurement: by the host's number (CpuMeasurement.pcpuIds). */
type PcpuName = (p: number) => number;

function describeWhere(affinity: readonly number[], pcpu: number | undefined, id: PcpuName): string {
  if (affinity.length === 1) return `pCPU${id(affinity[0]!)}`;
  return pcpu !== undefined ? `unpinned (on pCPU${id(pcpu)})` : `pCPUs ${formatCpuList(affinity.map(id))}`;
}

/** Shared plans whose worst fraction of fair share is within this of the best one count as equally fair; fewest pin changes wins. */
const fairShareTolerance = 0.02;

/**
 * The shared alternatives to one-pCPU pins (sharing.ts): pCPUs merged where one-pCPU pins are unfair,
 * or every vCPU on every pCPU. Among those that raise the worst fraction of fair share by at least
 * `fairShareGain`, and are within `fairShareTolerance` of the fairest, the one with the fewest pin
 * changes wins. Release is exactly global max-min sharing, so once released an overcommitted host
 * needs no re-pin when its loads change phase.
 */
function chooseSharedPlan(
  affinities: readonly (readonly number[])[],
  demands: readonly number[],
  assignment: readonly number[],
  room: HostRoom,
  fair: readonly number[],
  pinnedWorst: number,
  options: CpuSchedulerOptions,
): { where: number[][]; planned: PlacementSummary; strategy: CpuStrategy } | undefined {
  const pcpus = room.pcpus;
  const shared = sharePcpus(demands, assignment, pcpus, options.fairShareTarget, fair, room.capacity, room.weights);
  const everywhere = Array.from({ length: pcpus }, (_, p) => p);
  // Release is exactly global max-min sharing: its shares are the fair shares, its loads flat.
  const plans: { where: number[][]; shares: readonly number[] }[] = [{ where: affinities.map(() => everywhere), shares: fair }];
  if (shared.sets.length > 1) plans.push({ where: shared.setOf.map((s) => shared.sets[s]!), shares: shared.shares });
  if (room.clockBound) for (const plan of plans) plan.shares = predictLearnedShares(demands, plan.where, room.clockBound, plan.shares, pcpus, room.capacity, room.weights);
  const candidates = plans
    .map(({ where, shares }) => ({
      where,
      planned: summarize(demands, shares, fair, setLoads(demands, where, room)),
      changes: changesTo(where, affinities),
      strategy: (where.every((w) => w.length === pcpus) ? 'release' : 'share') as CpuStrategy,
    }))
    .filter((c) => c.planned.worstFractionOfFairShare - pinnedWorst >= options.fairShareGain);
  if (candidates.length === 0) return undefined;
  const fairest = Math.max(...candidates.map((c) => c.planned.worstFractionOfFairShare));
  const near = candidates.filter((c) => c.planned.worstFractionOfFairShare >= fairest - fairShareTolerance);
  near.sort((a, b) => a.changes - b.changes || b.planned.worstFractionOfFairShare - a.planned.worstFractionOfFairShare);
  return near[0];
}

/** vCPUs whose affinity differs from the plan's. */
function changesTo(where: readonly (readonly number[])[], affinities: readonly (readonly number[])[]): number {
  let changes = 0;
  for (let i = 0; i < where.length; i++) if (!sameNormalized(where[i]!, affinities[i]!)) changes++;
  return changes;
}

/** Two normalised pCPU lists (sorted, unique: affinities and plans) name the same pCPUs; O(1) when their lengths differ. */
function sameNormalized(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** Predicted share of each kept vCPU (keptEntries' keys and `from`; shares in measurement order). */
function predictionsOf(keys: string[], shares: readonly number[], from: readonly number[] | undefined, n: number): PredictedShares {
  if (from) return { keys, shares: from.map((i) => shares[i] ?? 0) };
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = shares[i] ?? 0;
  return { keys, shares: out };
}

/** For each entry, the value of the last entry with the same key. */
function lastOfEach<T>(keys: readonly string[], values: readonly T[]): T[] {
  const last = new Map<string, T>();
  keys.forEach((key, i) => last.set(key, values[i]!));
  return keys.map((key) => last.get(key)!);
}

/** Each vCPU's demand is lowered by this many σ of its noise before judging whether a placement is unfair. */
const fairnessNoiseSigmas = 2;

/** Worst fraction of fair share under the current placement if every demand were `fairnessNoiseSigmas` σ lower. */
function optimisticWorstFraction(smoothed: readonly number[], affinities: readonly (readonly number[])[], sigmas: readonly number[], room: HostRoom): number {
  const demands = smoothed.map((d, i) => Math.max(0, d - fairnessNoiseSigmas * (sigmas[i] ?? 0)));
  const waterFilled = predictSharesOf(demands, affinities, room.pcpus, room.capacity, room.weights, true);
  const shares = room.clockBound ? predictLearnedShares(demands, affinities, room.clockBound, waterFilled, room.pcpus, room.capacity, room.weights) : waterFilled;
  return worstFractionOfFairShare(demands, shares, fairSharesOf(demands, room.pcpus, room.capacity, room.weights));
}

/** Smooths each pCPU's measured other load like a vCPU's demand (noise.ts): noise averaged out, real changes taken at once. */
function updateOtherLoad(previous: readonly VcpuHistory[] | undefined, measured: readonly number[] | undefined, options: CpuSchedulerOptions): VcpuHistory[] | undefined {
  if (!measured) return undefined;
  return measured.map((o, p) => updateHistory(previous?.length === measured.length ? previous[p] : undefined, o, options));
}


/** The model's proposal: what placement it predicts best, with the actions that reach it (no trial judging). Options validated by decideCpu. */
export function proposeCpu(m: CpuMeasurement, state: CpuSchedulerState, options: CpuSchedulerOptions): CpuDecision {
  const pcpus = Number.isInteger(m.pcpus) && m.pcpus > 0 ? m.pcpus : 0;
  const n = m.vcpus.length;
  const previous = new PreviousByKey(state.vcpuKeys, state.vcpus);
  const measuredHistories = new Array<VcpuHistory>(n);
  const keys = new Array<string>(n);
  // Per vCPU, in measurement order: its normalised affinity, its smoothed demand, its weight (when some is not 1).
  const affinities = new Array<number[]>(n);
  const demands = new Array<number>(n);
  let weights: number[] | undefined;
  for (let i = 0; i < n; i++) {
    const v = m.vcpus[i]!;
    // A host lists its vCPUs in the same order each interval: last interval's key string is reused.
    const previousKey = previous.keyAt(i);
    const key = previousKey !== undefined && isVcpuKey(previousKey, v.domain, v.vcpu) ? previousKey : vcpuKey(v.domain, v.vcpu);
    const history = updateHistory(previous.get(key, i), v.demand, options);
    measuredHistories[i] = history;
    keys[i] = key;
    demands[i] = history.demand;
    affinities[i] = normalizeAffinity(v.affinity, pcpus);
    if (v.weight !== undefined && v.weight !== 1) (weights ??= new Array<number>(n).fill(1))[i] = v.weight;
  }
  // A vCPU listed twice is kept once, with its last history, which both of its entries then use.
  const kept = keptEntries(keys, previous.aligned);
  const keptKeys = [...kept.keys];
  const keptHistories = keptValues(measuredHistories, kept.from);
  const vcpuHistories = kept.from ? lastOfEach(keys, measuredHistories) : measuredHistories;
  const otherLoad = updateOtherLoad(state.otherLoad, m.pcpuOther, options);
  const room = hostRoom(pcpus, options.countOtherLoad === false ? undefined : otherLoad?.map((h) => h.demand));
  if (weights) room.weights = weights;
  // What this interval says about how each vCPU shares (learned-sharing.ts); predictions use it from now on.
  const learned = learnSharing(m, keys, state.learned, room.capacity, affinities);
  room.clockBound = clockBoundOf(keys, learned);
  const objective: CpuObjective = options.objective ?? 'fairness';
  const clockBoundNames = room.clockBound && m.vcpus.filter((_, i) => room.clockBound![i] === 1).map((v) => `${v.domain.name}/${v.vcpu}`);
  const learnedText = clockBoundNames ? `; learned clock-bound: ${clockBoundNames.join(', ')}` : '';
  const demandChanged = vcpuHistories.some((h) => h.changed) || (room.other !== undefined && otherLoad!.some((h) => h.changed));
  const fair = fairSharesOf(demands, pcpus, room.capacity, room.weights);
  const beforeLoads = withOther(demandLoadsOf(demands, affinities, pcpus), room);
  const before = summarizePlacement(demands, affinities, room, fair);
  const measuredUsageSpreadPoints = points(spreadOf(m.pcpuUsage));
  const intervals = state.intervals + 1;
  const heldStateOf = (streak: number, waited: boolean): CpuSchedulerState => ({
    ...state,
    intervals,
    streak,
    waited,
    vcpuKeys: keptKeys,
    vcpus: keptHistories,
    ...(otherLoad ? { otherLoad } : {}),
    predicted: predictionsOf(keptKeys, before.shares, kept.from, n),
    learned,
  });
  // What the trial loop (trials.ts) judges by: keys, smoothed demands and σ, the labels the model used.
  const proposalOf = (heldState: CpuSchedulerState): NonNullable<CpuDecision['proposal']> => ({
    keys,
    demands,
    // Raw σ: a real change restarts smoothing from one reading, so the smoothed demand can move as far as a raw one.
    sigmas: vcpuHistories.map(rawSigma),
    labels: room.clockBound ? keys.filter((_, i) => room.clockBound![i] === 1).join(' ') : '',
    ...(otherLoad ? { other: otherLoad.map((h) => h.demand), otherSigmas: otherLoad.map(rawSigma) } : {}),
    heldState,
  });
  const quiet = (summary: string, bestSpreadPoints: number, streak: number, outOfBalance: boolean, waited = false): CpuDecision => {
    const held = heldStateOf(streak, waited);
    return {
      actions: [],
      state: held,
      ...(n > 0 && pcpus > 0 ? { proposal: proposalOf(held) } : {}),
      balanced: !outOfBalance,
      spreadPoints: before.spreadPoints,
      measuredUsageSpreadPoints,
      bestSpreadPoints,
      gainPoints: before.spreadPoints - bestSpreadPoints,
      before,
      after: before,
      strategy: 'none',
      objective,
      ...(clockBoundNames ? { clockBound: clockBoundNames } : {}),
      summary: `${summary}; objective ${objective}${learnedText}`,
    };
  };

  if (pcpus === 0 || n === 0) return quiet('nothing to place', before.spreadPoints, 0, false);
  // Judged on optimistic demands (each less its noise): noise alone must not make a placement look unfair.
  const sigmas = vcpuHistories.map((h) => demandSigma(h, options.demandSmoothing));
  // Computed when first needed (it costs two share predictions on a large host).
  let fairEnoughMemo: boolean | undefined;
  const fairEnough = (): boolean =>
    (fairEnoughMemo ??= !options.sharePcpusWhenUnfair || optimisticWorstFraction(demands, affinities, sigmas, room) >= options.fairShareFloor);
  // The gain can never exceed the current spread; skip the search when even that is within the margin
  // and every vCPU gets close to its fair share.
  if (before.spreadPoints <= options.marginPoints && fairEnough()) {
    return quiet(`balanced: demand spread ${fmtPoints(before.spreadPoints)} pts ≤ margin ${options.marginPoints}`, before.spreadPoints, 0, false);
  }

  const items: PlacementItem[] = affinities.map((affinity, i) => ({
    demand: demands[i]!,
    home: affinity.length === 1 ? affinity[0] : m.vcpus[i]!.pcpu,
    pinned: affinity.length === 1,
  }));
  const planned0 = planPlacement(items, pcpus, options.tolerancePoints / 100, room.other).best;
  // Blind to other load, as balanced a placement away from it is preferred (away-from-other.ts).
  const best = options.countOtherLoad === false && otherLoad ? awayFromOtherLoad(items, planned0, pcpus, otherLoad.map((h) => h.demand)) : planned0;
  const pinnedWhere = best.assignment.map((p) => [p]);
  // Keeping every vCPU on its single pCPU predicts exactly what `before` does.
  const unchanged = affinities.every((affinity, i) => affinity.length === 1 && affinity[0] === best.assignment[i]);
  const pinned = unchanged ? before : summarizePlacement(demands, pinnedWhere, room, fair);
  // One-pCPU pins that leave someone well short of its fair share: share pCPUs where that helps enough.
  let where: number[][] = pinnedWhere;
  let planned = pinned;
  let strategy: CpuStrategy = best.strategy;
  if (options.sharePcpusWhenUnfair && pinned.worstFractionOfFairShare < options.fairShareTarget) {
    const choice = chooseSharedPlan(affinities, demands, best.assignment, room, fair, pinned.worstFractionOfFairShare, options);
    if (choice) ({ where, planned, strategy } = choice);
  }
  // With vCPUs learned clock-bound, the placement that keeps them apart from busy ones competes, judged by the objective.
  const fairnessFirst = room.clockBound !== undefined && objective === 'fairness';
  if (room.clockBound) {
    const homes = items.map((item) => item.home);
    // Kept apart one pCPU each (segregate), or as groups on pCPU subsets (groups.ts): the fairest by the model competes.
    let segregatedWhere: number[][] = segregatedAssignment(demands, room.clockBound, homes, pcpus, room.other).map((p) => [p]);
    let segregated = summarizePlacement(demands, segregatedWhere, room, fair);
    let segregateStrategy: CpuStrategy = 'segregate';
    for (const groupedWhere of groupedCandidates(demands, room.clockBound, homes, pcpus, room.other)) {
      const grouped = summarizePlacement(demands, groupedWhere, room, fair);
      if (grouped.worstFractionOfFairShare > segregated.worstFractionOfFairShare + fairShareTolerance) {
        segregatedWhere = groupedWhere;
        segregated = grouped;
        segregateStrategy = 'groups';
      }
    }
    const fairer = segregated.worstFractionOfFairShare > planned.worstFractionOfFairShare + fairShareTolerance;
    const asFair = Math.abs(segregated.worstFractionOfFairShare - planned.worstFractionOfFairShare) <= fairShareTolerance;
    const better =
      objective === 'fairness'
        ? fairer || (asFair && segregated.usageSpreadPoints < planned.usageSpreadPoints - options.tolerancePoints)
        : fairer && segregated.usageSpreadPoints <= planned.usageSpreadPoints + options.tolerancePoints;
    if (better) {
      where = segregatedWhere;
      planned = segregated;
      strategy = segregateStrategy;
    }
    if (fairnessFirst && planned.worstFractionOfFairShare < before.worstFractionOfFairShare - fairShareTolerance) {
      return quiet(
        `balanced for fairness: the best placement found (demand spread ${fmtPoints(planned.spreadPoints)} pts) would give the worst-served vCPU ` +
          `${percent(planned.worstFractionOfFairShare)} of its fair share, ${percent(before.worstFractionOfFairShare)} now`,
        before.spreadPoints,
        0,
        false,
      );
    }
  }
  const bestSpreadPoints = planned.spreadPoints;
  const fairnessGain = planned.worstFractionOfFairShare - before.worstFractionOfFairShare;
  // A fairness move may not widen the demand spread (its merged sets only average pCPU loads).
  // Under the fairness objective with a learned model, fairness comes first: the spread may widen.
  // Under the balance objective with a learned model, balance is the pCPUs' usage (what a grader reads): a placement
  // whose predicted usage is as even counts as balanced however its demand is spread, and among those the fairer wins.
  const asBalanced =
    planned.spreadPoints <= before.spreadPoints ||
    (room.clockBound !== undefined && planned.usageSpreadPoints <= before.usageSpreadPoints + options.tolerancePoints);
  const unfair = fairnessGain >= options.fairShareGain && (fairnessFirst || asBalanced) && !fairEnough();
  // Other load is noisy too: each pCPU's adds its own σ there.
  const otherSigmas = room.other ? otherLoad!.map((h) => demandSigma(h, options.demandSmoothing)) : [];
  const sigmaRms = otherSigmas.length === 0 ? loadSigmaRms(sigmas, affinities, pcpus) : loadSigmaRms([...sigmas, ...otherSigmas], [...affinities, ...otherSigmas.map((_, p) => [p])], pcpus);
  const verdict = judgeBalance(
    {
      beforeSpreadPoints: before.spreadPoints,
      afterSpreadPoints: bestSpreadPoints,
      noiseGainPoints: noiseGainPoints(sigmaRms, pcpus, options.noiseSigmas),
      unfair,
      previousStreak: state.streak,
      demandChanged,
      waitedLastInterval: state.waited,
    },
    options,
  );
  const gainText =
    `demand spread ${fmtPoints(before.spreadPoints)} pts, best placement ${fmtPoints(bestSpreadPoints)} pts ` +
    `(gain ${fmtPoints(verdict.gainPoints)}, required ${fmtPoints(verdict.requiredGainPoints)})` +
    (unfair ? `; worst-served vCPU at ${percent(before.worstFractionOfFairShare)} of its fair share, ${percent(planned.worstFractionOfFairShare)} after` : '');
  if (!verdict.outOfBalance) return quiet(`balanced: ${gainText}`, bestSpreadPoints, 0, false);
  if (verdict.settling) return quiet(`demand changed, waiting one interval for it to settle: ${gainText}`, bestSpreadPoints, verdict.streak, true, true);
  if (!verdict.act) {
    return quiet(`out of balance for ${verdict.streak} of ${options.persistIntervals} intervals, waiting: ${gainText}`, bestSpreadPoints, verdict.streak, true);
  }

  const afterLoads = planned.demandLoads;
  // Plans share one array per pCPU set, so vCPUs per set can be counted by reference.
  const setSizes = new Map<readonly number[], number>();
  for (const w of where) setSizes.set(w, (setSizes.get(w) ?? 0) + 1);
  const actions: PinAction[] = [];
  const spreadText = `spread ${fmtPoints(before.spreadPoints)} → ${fmtPoints(planned.spreadPoints)} pts`;
  // Plans share one array per pCPU set: the end of a shared-set reason is the same for all its vCPUs, built once.
  const setTails = new Map<readonly number[], string>();
  const id: PcpuName = (p) => m.pcpuIds?.[p] ?? p;
  const sharingText =
    `pinned one per pCPU the worst-served vCPU would get ${percent(pinned.worstFractionOfFairShare)} of its fair share, ` +
    `sharing gives ${percent(planned.worstFractionOfFairShare)}; ${spreadText}`;
  for (let i = 0; i < n; i++) {
    const affinity = affinities[i]!;
    const target = where[i]!;
    if (sameNormalized(affinity, target)) continue;
    const v = m.vcpus[i]!;
    const who = `${v.domain.name} vCPU${v.vcpu} (demand ${fmt(demands[i]!)})`;
    let reason: string;
    if (strategy === 'segregate' || (strategy === 'groups' && target.length === 1)) {
      reason =
        `${who}: ${describeWhere(affinity, v.pcpu, id)} → pCPU${id(target[0]!)}; learned clock-bound vCPUs kept apart from busy ones: ` +
        `the worst-served vCPU gets ${percent(before.worstFractionOfFairShare)} of its fair share now, ${percent(planned.worstFractionOfFairShare)} after; ${spreadText}`;
    } else if (target.length > 1) {
      let tail = setTails.get(target);
      const why =
        strategy === 'groups'
          ? `learned clock-bound vCPUs grouped apart from the others: the worst-served vCPU gets ${percent(before.worstFractionOfFairShare)} of its fair share now, ${percent(planned.worstFractionOfFairShare)} after; ${spreadText}`
          : sharingText;
      if (tail === undefined) setTails.set(target, (tail = ` → pCPUs ${formatCpuList(target.map(id))}, shared by ${setSizes.get(target) ?? 0} vCPUs; ${why}`));
      reason = `${who}: ${describeWhere(affinity, v.pcpu, id)}${tail}`;
    } else {
      const to = target[0]!;
      const from = affinity.length === 1 ? affinity[0]! : v.pcpu;
      const loadsText =
        from !== undefined && from !== to
          ? `pCPU${id(from)} demand ${fmt(beforeLoads[from]!)} → ${fmt(afterLoads[from]!)}, pCPU${id(to)} demand ${fmt(beforeLoads[to]!)} → ${fmt(afterLoads[to]!)}`
          : `pCPU${id(to)} demand ${fmt(beforeLoads[to]!)} → ${fmt(afterLoads[to]!)}`;
      reason = `${who}: ${describeWhere(affinity, v.pcpu, id)} → pCPU${id(to)}; ${loadsText}, ${spreadText}`;
    }
    if (room.clockBound) reason += `; objective ${objective}`;
    actions.push({ kind: 'pin', domain: v.domain, vcpu: v.vcpu, pcpus: target, previous: affinity, reason });
  }

  const after = planned;
  return {
    actions,
    state: {
      intervals,
      streak: 0,
      waited: false,
      lastActionInterval: intervals,
      pinChanges: state.pinChanges + actions.length,
      vcpuKeys: keptKeys,
      vcpus: keptHistories,
      ...(otherLoad ? { otherLoad } : {}),
      predicted: predictionsOf(keptKeys, planned.shares, kept.from, n),
      ...(learned ? { learned } : {}),
    },
    balanced: false,
    spreadPoints: before.spreadPoints,
    measuredUsageSpreadPoints,
    bestSpreadPoints: after.spreadPoints,
    gainPoints: before.spreadPoints - after.spreadPoints,
    before,
    after,
    strategy,
    objective,
    ...(clockBoundNames ? { clockBound: clockBoundNames } : {}),
    proposal: proposalOf(heldStateOf(0, false)),
    summary:
      `re-pinned ${actions.length} vCPU(s) by ${strategy}: ${gainText}; fairness ${fmt(before.fairness)} → ${fmt(after.fairness)}, ` +
      `demand served ${fmt(before.served)} → ${fmt(after.served)}, worst fraction of fair share ${percent(before.worstFractionOfFairShare)} → ${percent(after.worstFractionOfFairShare)}; ` +
      `objective ${objective}${learnedText}`,
  };
}
