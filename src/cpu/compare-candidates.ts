// The comparators of the vCPU scheduler's proposal: which candidate placement (candidates.ts) wins,
// and whether the winner is worth moving to for fairness, judged on the model's predictions
// (placement-summary.ts). One comparator per objective; the rules both objectives share (which
// shared plan, which kept-apart plan) are written once beside them.
import type { Candidate } from './candidates.js';
import type { CpuObjective, CpuSchedulerOptions } from './options.js';
import type { PlacementSummary } from './placement-summary.js';

/** Placements whose worst fraction of fair share is within this of each other count as equally fair. */
export const fairShareTolerance = 0.02;

/** `a` serves its worst-served vCPU more than the tolerance better than `b` does. */
const fairer = (a: PlacementSummary, b: PlacementSummary): boolean => a.worstFractionOfFairShare > b.worstFractionOfFairShare + fairShareTolerance;
const asFair = (a: PlacementSummary, b: PlacementSummary): boolean => Math.abs(a.worstFractionOfFairShare - b.worstFractionOfFairShare) <= fairShareTolerance;

/** What an objective decides between placements. `learned`: some vCPUs are learned clock-bound (their predictions follow that model). */
export interface ObjectiveComparator {
  /** Whether a kept-apart candidate (segregate, groups) beats the incumbent (pins or shared). */
  prefers(challenger: PlacementSummary, incumbent: PlacementSummary, options: CpuSchedulerOptions): boolean;
  /** Whether to hold rather than move to `chosen`, which would serve the worst-served vCPU worse than `current` does. */
  holds(chosen: PlacementSummary, current: PlacementSummary, learned: boolean): boolean;
  /** Whether a gain in fairness may count for moving to `chosen` at all (else only the spread does). */
  mayMoveForFairness(chosen: PlacementSummary, current: PlacementSummary, learned: boolean, options: CpuSchedulerOptions): boolean;
}

/**
 * A fairness move may not widen the demand spread (merged sets only average pCPU loads). With a
 * learned model, balance is the pCPUs' usage (what a grader reads): a placement whose predicted usage
 * is as even counts as balanced however its demand is spread.
 */
function asBalanced(chosen: PlacementSummary, current: PlacementSummary, learned: boolean, options: CpuSchedulerOptions): boolean {
  return chosen.spreadPoints <= current.spreadPoints || (learned && chosen.usageSpreadPoints <= current.usageSpreadPoints + options.tolerancePoints);
}

export const comparators: Record<CpuObjective, ObjectiveComparator> = {
  /** Fairness first: the fairer wins, and among the as fair the more evenly used; with a learned model the spread may widen, and a less fair placement is never taken. */
  fairness: {
    prefers: (challenger, incumbent, options) =>
      fairer(challenger, incumbent) || (asFair(challenger, incumbent) && challenger.usageSpreadPoints < incumbent.usageSpreadPoints - options.tolerancePoints),
    holds: (chosen, current, learned) => learned && chosen.worstFractionOfFairShare < current.worstFractionOfFairShare - fairShareTolerance,
    mayMoveForFairness: (chosen, current, learned, options) => learned || asBalanced(chosen, current, learned, options),
  },
  /** Balance first: the fairer wins only if its usage is as even; fairness may move only what stays balanced. */
  balance: {
    prefers: (challenger, incumbent, options) => fairer(challenger, incumbent) && challenger.usageSpreadPoints <= incumbent.usageSpreadPoints + options.tolerancePoints,
    holds: () => false,
    mayMoveForFairness: asBalanced,
  },
};

/**
 * The shared plan that replaces the pins: among those raising the worst fraction of fair share by
 * at least `fairShareGain` over the pins, and within the tolerance of the fairest, the one with the
 * fewest pin changes (then the fairer; then the first, release). Undefined when none gains enough.
 */
export function pickShared(shared: readonly Candidate[], pins: Candidate, options: CpuSchedulerOptions): Candidate | undefined {
  const gaining = shared.filter((c) => c.predicted.worstFractionOfFairShare - pins.predicted.worstFractionOfFairShare >= options.fairShareGain);
  if (gaining.length === 0) return undefined;
  const fairest = Math.max(...gaining.map((c) => c.predicted.worstFractionOfFairShare));
  const near = gaining.filter((c) => c.predicted.worstFractionOfFairShare >= fairest - fairShareTolerance);
  near.sort((a, b) => a.changes - b.changes || b.predicted.worstFractionOfFairShare - a.predicted.worstFractionOfFairShare);
  return near[0];
}

/** The kept-apart plan: segregate, unless a grouping is fairer than it (and than every earlier grouping taken). */
export function pickKeptApart(segregate: Candidate, groups: readonly Candidate[]): Candidate {
  let kept = segregate;
  for (const grouped of groups) if (fairer(grouped.predicted, kept.predicted)) kept = grouped;
  return kept;
}

/** A placement's figure for the worst-served guest (guest-climb.ts: worstGuestFraction). */
export interface GuestFigures {
  /** The worst guest's predicted fraction of fair share. */
  worstGuest: number;
}

/** Whether the objective's choice serves the worst guest no better than the placement in force, by the model (within the tolerance). */
export function servesWorstGuestNoBetter(chosen: GuestFigures, current: GuestFigures): boolean {
  return chosen.worstGuest < current.worstGuest + fairShareTolerance;
}

/**
 * Whether the climb for the worst-served guest (guest-climb.ts) replaces the objective's choice: only
 * under fairness, where that choice (scored per vCPU) would serve the worst guest no better than the
 * placement in force does, by the model's per-guest figures, while the climb serves it at least
 * `fairShareGain` better than both. Its worst vCPU may be predicted lower than now: that is the trade it is
 * for (a guest's busy vCPU makes up for its small one), and the model's per-vCPU figure for a small vCPU
 * beside a busy one is the one it gets most wrong. mix-12s: g4's 0.2 clock-bound vCPU beside its own busy one,
 * predicted 65 → 50 %, moves the worst guest from 65 to 78 % (measured 78 %, the oracle's); mix-38s, 33 → 6 %
 * predicted, measured 95 % for the worst guest against 79. The trial loop measures it per guest.
 */
export function takesGuestClimb(objective: CpuObjective, climb: GuestFigures, chosen: GuestFigures, current: GuestFigures, options: CpuSchedulerOptions): boolean {
  return (
    objective === 'fairness' &&
    servesWorstGuestNoBetter(chosen, current) &&
    climb.worstGuest >= Math.max(current.worstGuest, chosen.worstGuest) + options.fairShareGain
  );
}

/** The candidates of one proposal: the pins always; the shared plans when the pins are unfair; the kept-apart ones with a learned model. */
export interface CandidateSet {
  pins: Candidate;
  shared?: readonly Candidate[];
  keptApart?: { segregate: Candidate; groups: readonly Candidate[] };
}

/** The candidate the objective takes: the pins, or a shared plan that is fairer enough, or a kept-apart one the objective's comparator prefers to that. */
export function chooseCandidate(objective: CpuObjective, candidates: CandidateSet, options: CpuSchedulerOptions): Candidate {
  let chosen = (candidates.shared && pickShared(candidates.shared, candidates.pins, options)) ?? candidates.pins;
  if (candidates.keptApart) {
    const keptApart = pickKeptApart(candidates.keptApart.segregate, candidates.keptApart.groups);
    if (comparators[objective].prefers(keptApart.predicted, chosen.predicted, options)) chosen = keptApart;
  }
  return chosen;
}
