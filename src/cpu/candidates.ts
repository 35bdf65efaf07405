// Candidate generators of the vCPU scheduler's proposal (scheduler.ts): each one computes a placement
// (where each vCPU may run, in measurement order) and what the model predicts of it (a
// PlacementSummary, placement-summary.ts), and nothing else. Which one is taken is decided in one
// place, by the objective's comparator (compare-candidates.ts), as score plug-ins are in the
// Kubernetes scheduler framework.
//   pins       one pCPU per vCPU, by the optimiser (placement.ts): from-current, sticky-lpt or lpt
//   shared     pCPUs merged into shared sets where one-pCPU pins are unfair (share), or every vCPU on every pCPU (release) (sharing.ts)
//   segregate  one pCPU per vCPU, learned clock-bound vCPUs kept apart from busy ones (learned-sharing.ts)
//   groups     clock-bound and other vCPUs as groups on pCPU subsets (groups.ts)
//   guests     one pCPU per vCPU climbed for the worst-served guest, taken only where the per-vCPU choice does not serve it (guest-climb.ts)
import { groupedCandidates } from './groups.js';
import { predictLearnedShares, segregatedAssignment } from './learned-sharing.js';
import type { CpuSchedulerOptions } from './options.js';
import { awayFromOtherLoad } from './away-from-other.js';
import { planPlacement, type PlacementItem } from './placement.js';
import { sameNormalized, setLoads, summarize, summarizePlacement, type HostRoom, type PlacementSummary } from './placement-summary.js';
import { sharePcpus } from './sharing.js';

/**
 * from-current, sticky-lpt, lpt: one pCPU per vCPU; share: some vCPUs pinned to shared pCPU sets;
 * release: every vCPU on all pCPUs; segregate: one pCPU per vCPU, learned clock-bound vCPUs kept apart from busy ones;
 * groups: learned clock-bound vCPUs grouped apart on pCPU subsets; guests: one pCPU per vCPU climbed for the worst-served guest (guest-climb.ts); none: no change; revert: the trial loop undid a change.
 */
export type CpuStrategy = 'none' | 'from-current' | 'sticky-lpt' | 'lpt' | 'share' | 'release' | 'segregate' | 'groups' | 'guests' | 'revert';

/** The strategies a candidate generator produces. */
export type CandidateStrategy = Exclude<CpuStrategy, 'none' | 'revert'>;

/** One candidate placement: where each vCPU goes and the figures that justify it. */
export interface Candidate {
  strategy: CandidateStrategy;
  /** Per vCPU (measurement order), the pCPUs it may run on. Vcpus sharing a set share one array. */
  where: number[][];
  /** What the model predicts of it. */
  predicted: PlacementSummary;
  /** vCPUs whose affinity it changes. */
  changes: number;
}

/** What every generator sees: per vCPU (measurement order) its smoothed demand, normalised affinity and home; the host; the fair shares. */
export interface CandidateInput {
  demands: readonly number[];
  affinities: readonly (readonly number[])[];
  /** The pCPU a vCPU is pinned to, else the one it was last seen on (undefined if unknown). */
  homes: readonly (number | undefined)[];
  room: HostRoom;
  fair: readonly number[];
  /** Other load per pCPU that the objective does not count (the drop-in's): pins move away from it where that is as balanced. */
  uncountedOther?: readonly number[];
}

/** vCPUs whose affinity differs from the plan's. */
export function changesTo(where: readonly (readonly number[])[], affinities: readonly (readonly number[])[]): number {
  let changes = 0;
  for (let i = 0; i < where.length; i++) if (!sameNormalized(where[i]!, affinities[i]!)) changes++;
  return changes;
}

/** One pCPU per vCPU, by the optimiser; `current` (the placement in force, summarised) is reused when it is unchanged. */
export function pinsCandidate(input: CandidateInput, current: PlacementSummary, options: CpuSchedulerOptions): Candidate {
  const { demands, affinities, homes, room, fair } = input;
  const items: PlacementItem[] = affinities.map((affinity, i) => ({ demand: demands[i]!, home: homes[i], pinned: affinity.length === 1 }));
  const planned = planPlacement(items, room.pcpus, options.tolerancePoints / 100, room.other).best;
  const best = input.uncountedOther ? awayFromOtherLoad(items, planned, room.pcpus, input.uncountedOther) : planned;
  const where = best.assignment.map((p) => [p]);
  // Keeping every vCPU on its single pCPU predicts exactly what the current placement does.
  const unchanged = affinities.every((affinity, i) => affinity.length === 1 && affinity[0] === best.assignment[i]);
  const predicted = unchanged ? current : summarizePlacement(demands, where, room, fair);
  return { strategy: best.strategy, where, predicted, changes: changesTo(where, affinities) };
}

/**
 * The shared alternatives to one-pCPU pins (sharing.ts), release first: every vCPU on every pCPU
 * (exactly global max-min sharing: its shares are the fair shares, its loads flat, so once released
 * an overcommitted host needs no re-pin when its loads change phase), then pCPUs merged where the
 * pins are unfair, when that makes more than one set.
 */
export function sharedCandidates(input: CandidateInput, pins: Candidate, options: CpuSchedulerOptions): Candidate[] {
  const { demands, affinities, room, fair } = input;
  const pcpus = room.pcpus;
  const assignment = pins.where.map((w) => w[0]!);
  const shared = sharePcpus(demands, assignment, pcpus, options.fairShareTarget, fair, room.capacity, room.weights);
  const everywhere = Array.from({ length: pcpus }, (_, p) => p);
  const plans: { where: number[][]; shares: readonly number[] }[] = [{ where: affinities.map(() => everywhere), shares: fair }];
  if (shared.sets.length > 1) plans.push({ where: shared.setOf.map((s) => shared.sets[s]!), shares: shared.shares });
  if (room.clockBound) for (const plan of plans) plan.shares = predictLearnedShares(demands, plan.where, room.clockBound, plan.shares, pcpus, room.capacity, room.weights, room.crowded);
  return plans.map(({ where, shares }) => ({
    strategy: where.every((w) => w.length === pcpus) ? 'release' : 'share',
    where,
    predicted: summarize(demands, shares, fair, setLoads(demands, where, room)),
    changes: changesTo(where, affinities),
  }));
}

/** One pCPU per vCPU, learned clock-bound vCPUs kept apart from busy ones. Only with vCPUs learned clock-bound. */
export function segregateCandidate(input: CandidateInput, clockBound: Uint8Array): Candidate {
  const { demands, affinities, homes, room, fair } = input;
  const where = segregatedAssignment(demands, clockBound, homes, room.pcpus, room.other).map((p) => [p]);
  return { strategy: 'segregate', where, predicted: summarizePlacement(demands, where, room, fair), changes: changesTo(where, affinities) };
}

/** Learned clock-bound vCPUs and the others as groups on pCPU subsets, one candidate per split (groups.ts). */
export function groupsCandidates(input: CandidateInput, clockBound: Uint8Array): Candidate[] {
  const { demands, affinities, homes, room, fair } = input;
  return groupedCandidates(demands, clockBound, homes, room.pcpus, room.other).map((where) => ({
    strategy: 'groups',
    where,
    predicted: summarizePlacement(demands, where, room, fair),
    changes: changesTo(where, affinities),
  }));
}
