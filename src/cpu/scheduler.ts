import type { Notice, PinAction } from '../ground/actions.js';
import { judgeBalance } from './balance.js';
import { groupsCandidates, pinsCandidate, segregateCandidate, sharedCandidates, type CandidateInput, type CpuStrategy } from './candidates.js';
import { chooseCandidate, comparators, servesWorstGuestNoBetter, takesGuestClimb, type CandidateSet } from './compare-candidates.js';
import { climbMaxPcpus, climbMaxVcpus, guestClimbCandidate, worstGuestFraction } from './guest-climb.js';
import type { DedicatedState } from './dedicated-state.js';
import { validateCpuSchedulerOptions, type CpuObjective, type CpuSchedulerOptions } from './options.js';
import { clockBoundOf, crowdedOf, learnSharing, predictLearnedShares, type LearnedSharing } from './learned-sharing.js';
import { predictSharesOf } from './fairness.js';
import { demandSigma, loadSigmaRms, noiseGainPoints, rawSigma, updateHistory, type VcpuHistory } from './noise.js';
import { spreadOf } from './placement.js';
import { demandLoadsOf, hostRoom, points, sameNormalized, summarizePlacement, withOther, type HostRoom, type PlacementSummary } from './placement-summary.js';
import { fairSharesOf, worstFractionOfFairShare } from './sharing.js';
import { guestIndexOf, isVcpuKey, normalizeAffinity, vcpuKey, type CpuMeasurement } from './usage.js';
import { pinAction, type PcpuLoadChange, type PinFrom, type PinWhy, type ProposalFigures } from '../ground/pin-why.js';
import { keptEntries, keptValues, PreviousByKey } from './vcpu-lists.js';
import type { TrialEvent, TrialState } from './trials.js';
import { fixed2, oneDecimal, wholePercent } from '../ground/figures-text.js';

export type { CpuStrategy } from './candidates.js';
export type { PlacementSummary } from './placement-summary.js';

// The vCPU scheduler policy: one CpuMeasurement in, pin actions out (pure; the control loop applies them).
// Rules live where they are named: measuring in usage.ts, the imbalance test and hysteresis in
// balance.ts, smoothing and noise in noise.ts, the optimiser in placement.ts, predicted shares and
// fairness in fairness.ts, what the model predicts of a placement in placement-summary.ts. The
// proposal's candidate placements are made in candidates.ts and judged by the objective's comparator
// in compare-candidates.ts; each pin says why as data (ground/pin-why.ts), its reason rendered from it.
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

export function initialCpuSchedulerState(): CpuSchedulerState {
  return { intervals: 0, streak: 0, waited: false, lastActionInterval: null, pinChanges: 0, vcpuKeys: [], vcpus: [] };
}

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
  /** Of those, the ones learned to share a crowded pCPU by runnable time (learned-sharing.ts, crowdedRate); absent when none is. */
  crowded?: string[];
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
    /** The worst guest's predicted fraction of fair share now and after, when the proposal is the climb for the guests (guest-climb.ts): what the trial loop weighs it by. */
    guestWorst?: { before: number; after: number };
    /** While it waits to act (out of balance, not yet persistent or settled): what the placement it waits on would gain the worst (vCPU, or guest for the climb for the guests), predicted. */
    waitedGain?: number;
  };
}

/** How a reason names pCPU `p` of the measurement: by the host's number (CpuMeasurement.pcpuIds). */
type PcpuName = (p: number) => number;

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
  const shares = room.clockBound ? predictLearnedShares(demands, affinities, room.clockBound, waterFilled, room.pcpus, room.capacity, room.weights, room.crowded) : waterFilled;
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
  room.crowded = crowdedOf(keys, learned);
  const objective: CpuObjective = options.objective ?? 'fairness';
  const clockBoundNames = room.clockBound && m.vcpus.filter((_, i) => room.clockBound![i] === 1).map((v) => `${v.domain.name}/${v.vcpu}`);
  const crowdedNames = room.crowded && m.vcpus.filter((_, i) => room.crowded![i] === 1).map((v) => `${v.domain.name}/${v.vcpu}`);
  const learnedText = (clockBoundNames ? `; learned clock-bound: ${clockBoundNames.join(', ')}` : '') + (crowdedNames ? `; crowded on one pCPU, shares by runnable time: ${crowdedNames.join(', ')}` : '');
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
    // A vCPU learned to share a crowded pCPU by runnable time is a label too: the model changed, its proposal may be tried.
    labels: room.clockBound ? [...keys.filter((_, i) => room.clockBound![i] === 1), ...keys.filter((_, i) => room.crowded?.[i] === 1).map((k) => `${k} crowded`)].join(' ') : '',
    ...(otherLoad ? { other: otherLoad.map((h) => h.demand), otherSigmas: otherLoad.map(rawSigma) } : {}),
    heldState,
  });
  const quiet = (summary: string, bestSpreadPoints: number, streak: number, outOfBalance: boolean, waited = false, waitedGain?: number): CpuDecision => {
    const held = heldStateOf(streak, waited);
    return {
      actions: [],
      state: held,
      ...(n > 0 && pcpus > 0 ? { proposal: { ...proposalOf(held), ...(waitedGain !== undefined ? { waitedGain } : {}) } } : {}),
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
      ...(crowdedNames ? { crowded: crowdedNames } : {}),
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
    return quiet(`balanced: demand spread ${oneDecimal(before.spreadPoints)} pts ≤ margin ${options.marginPoints}`, before.spreadPoints, 0, false);
  }

  // The candidates (candidates.ts), judged by the objective's comparator (compare-candidates.ts).
  const homes = affinities.map((affinity, i) => (affinity.length === 1 ? affinity[0] : m.vcpus[i]!.pcpu));
  // Blind to other load (the drop-in), as balanced a placement away from it is still preferred (away-from-other.ts).
  const uncountedOther = options.countOtherLoad === false && otherLoad ? otherLoad.map((h) => h.demand) : undefined;
  const input: CandidateInput = { demands, affinities, homes, room, fair, ...(uncountedOther ? { uncountedOther } : {}) };
  const pins = pinsCandidate(input, before, options);
  const pinned = pins.predicted;
  const candidates: CandidateSet = { pins };
  // One-pCPU pins that leave someone well short of its fair share: share pCPUs where that helps enough.
  if (options.sharePcpusWhenUnfair && pinned.worstFractionOfFairShare < options.fairShareTarget) candidates.shared = sharedCandidates(input, pins, options);
  // With vCPUs learned clock-bound, the placements that keep them apart from busy ones compete.
  if (room.clockBound) candidates.keptApart = { segregate: segregateCandidate(input, room.clockBound), groups: groupsCandidates(input, room.clockBound) };
  const comparator = comparators[objective];
  const learnedModel = room.clockBound !== undefined;
  let { where, predicted: planned, strategy } = chooseCandidate(objective, candidates, options);
  // Under fairness on a small host with a multi-vCPU guest and a learned model, on settled demands (one changed reading
  // is no ground for a climb: mix-7s), where the per-vCPU choice does
  // not serve the worst guest better than the placement in force, the climb for the guests competes (guest-climb.ts).
  let guestWorst: { before: number; after: number } | undefined;
  if (objective === 'fairness' && learnedModel && !demandChanged && pcpus <= climbMaxPcpus && n <= climbMaxVcpus) {
    const guestOf = guestIndexOf(m.vcpus);
    if (new Set(guestOf).size < guestOf.length) {
      const current = { worstGuest: worstGuestFraction(input, before, guestOf) };
      const chosen = { worstGuest: worstGuestFraction(input, planned, guestOf) };
      // The climb is searched only where it could be taken (takesGuestClimb): its cost is spared otherwise.
      if (servesWorstGuestNoBetter(chosen, current) && current.worstGuest < 1 - options.fairShareGain) {
        const starts = [pins.where.map((w) => w[0]!)];
        if (candidates.keptApart) starts.push(candidates.keptApart.segregate.where.map((w) => w[0]!));
        if (affinities.every((a) => a.length === 1)) starts.unshift(affinities.map((a) => a[0]!));
        const climbed = guestClimbCandidate(input, guestOf, starts);
        if (climbed) {
          const climb = { worstGuest: climbed.guests[0] ?? 1 };
          if (takesGuestClimb(objective, climb, chosen, current, options)) {
            ({ where, predicted: planned, strategy } = climbed.candidate);
            guestWorst = { before: current.worstGuest, after: climb.worstGuest };
          }
        }
      }
    }
  }
  // A climb taken for the guests is judged by its guest figures (takesGuestClimb), not held for the per-vCPU ones it trades.
  if (!guestWorst && comparator.holds(planned, before, learnedModel)) {
    return quiet(
      `balanced for fairness: the best placement found (demand spread ${oneDecimal(planned.spreadPoints)} pts) would give the worst-served vCPU ` +
        `${wholePercent(planned.worstFractionOfFairShare)} of its fair share, ${wholePercent(before.worstFractionOfFairShare)} now`,
      before.spreadPoints,
      0,
      false,
    );
  }
  const bestSpreadPoints = planned.spreadPoints;
  // The climb for the guests is judged by what it gains the worst guest.
  const fairnessGain = guestWorst ? guestWorst.after - guestWorst.before : planned.worstFractionOfFairShare - before.worstFractionOfFairShare;
  // Whether a fairness gain may move at all is the objective's (compare-candidates.ts).
  const unfair = fairnessGain >= options.fairShareGain && comparator.mayMoveForFairness(planned, before, learnedModel, options) && !fairEnough();
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
    `demand spread ${oneDecimal(before.spreadPoints)} pts, best placement ${oneDecimal(bestSpreadPoints)} pts ` +
    `(gain ${oneDecimal(verdict.gainPoints)}, required ${oneDecimal(verdict.requiredGainPoints)})` +
    (unfair
      ? `; worst-served vCPU at ${wholePercent(before.worstFractionOfFairShare)} of its fair share, ${wholePercent(planned.worstFractionOfFairShare)} after` +
        (guestWorst ? `; worst-served guest at ${wholePercent(guestWorst.before)} of its fair share, ${wholePercent(guestWorst.after)} after (the climb for it)` : '')
      : '');
  if (!verdict.outOfBalance) return quiet(`balanced: ${gainText}`, bestSpreadPoints, 0, false);
  if (verdict.settling) return quiet(`demand changed, waiting one interval for it to settle: ${gainText}`, bestSpreadPoints, verdict.streak, true, true, fairnessGain);
  if (!verdict.act) {
    return quiet(`out of balance for ${verdict.streak} of ${options.persistIntervals} intervals, waiting: ${gainText}`, bestSpreadPoints, verdict.streak, true, false, fairnessGain);
  }

  const afterLoads = planned.demandLoads;
  // Plans share one array per pCPU set, so vCPUs per set can be counted by reference.
  const setSizes = new Map<readonly number[], number>();
  for (const w of where) setSizes.set(w, (setSizes.get(w) ?? 0) + 1);
  const actions: PinAction[] = [];
  // Why, as data (ground/pin-why.ts), in the host's pCPU numbers; the reason text is rendered from it.
  const id: PcpuName = (p) => m.pcpuIds?.[p] ?? p;
  // Without renumbering a pCPU list is its own host numbering: shared, not copied (4,000 pins hold thousands of lists).
  const ids = (pcpus: number[]): number[] => (m.pcpuIds ? pcpus.map(id) : pcpus);
  const toOne = (target: number[]): number[] => (target.length === 1 ? ids(target) : [id(target[0]!)]);
  // One record per pCPU whose load changes, shared by every pin that names it.
  const loadChanges = new Array<PcpuLoadChange | undefined>(pcpus);
  const loadOf = (p: number): PcpuLoadChange => (loadChanges[p] ??= { pcpu: id(p), before: beforeLoads[p]!, after: afterLoads[p]! });
  const spread = { before: before.spreadPoints, after: planned.spreadPoints };
  // Built field by field, not spread from a common part: object spread is most of this loop's cost on 4,000 vCPUs.
  const figuresOf = <T extends object>(demand: number, rest: T): ProposalFigures & T =>
    room.clockBound ? { strategy, spread, objective, demand, ...rest } : { strategy, spread, demand, ...rest };
  const worst = { before: before.worstFractionOfFairShare, after: planned.worstFractionOfFairShare };
  const sharedWorst = { pinned: pinned.worstFractionOfFairShare, after: planned.worstFractionOfFairShare };
  // Plans share one array per pCPU set: its pCPUs by the host's numbers are the same for all its vCPUs, made once.
  const setIds = new Map<readonly number[], number[]>();
  for (let i = 0; i < n; i++) {
    const affinity = affinities[i]!;
    const target = where[i]!;
    if (sameNormalized(affinity, target)) continue;
    const v = m.vcpus[i]!;
    const from: PinFrom = v.pcpu !== undefined ? { pcpus: ids(affinity), on: id(v.pcpu) } : { pcpus: ids(affinity) };
    const demand = demands[i]!;
    let why: PinWhy;
    if (strategy === 'guests' && guestWorst) {
      why = { rule: 'guests', from, to: toOne(target), figures: figuresOf(demand, { worstGuest: guestWorst }) };
    } else if (strategy === 'segregate' || (strategy === 'groups' && target.length === 1)) {
      why = { rule: 'segregate', from, to: toOne(target), figures: figuresOf(demand, { worst }) };
    } else if (target.length > 1) {
      let to = setIds.get(target);
      if (to === undefined) setIds.set(target, (to = target.map(id)));
      const sharedBy = setSizes.get(target) ?? 0;
      why =
        strategy === 'groups'
          ? { rule: 'groups', from, to, figures: figuresOf(demand, { sharedBy, worst }) }
          : { rule: 'shared', from, to, figures: figuresOf(demand, { sharedBy, worst: sharedWorst }) };
    } else {
      const to = target[0]!;
      const was = affinity.length === 1 ? affinity[0]! : v.pcpu;
      const loads = was !== undefined && was !== to ? [loadOf(was), loadOf(to)] : [loadOf(to)];
      why = { rule: 'pins', from, to: toOne(target), figures: figuresOf(demand, { loads }) };
    }
    actions.push(pinAction(v, target, affinity, why));
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
    ...(crowdedNames ? { crowded: crowdedNames } : {}),
    proposal: { ...proposalOf(heldStateOf(0, false)), ...(guestWorst ? { guestWorst } : {}) },
    summary:
      `re-pinned ${actions.length} vCPU(s) by ${strategy}: ${gainText}; fairness ${fixed2(before.fairness)} → ${fixed2(after.fairness)}, ` +
      `demand served ${fixed2(before.served)} → ${fixed2(after.served)}, worst fraction of fair share ${wholePercent(before.worstFractionOfFairShare)} → ${wholePercent(after.worstFractionOfFairShare)}; ` +
      `objective ${objective}${learnedText}`,
  };
}
