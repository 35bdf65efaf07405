// A climb for the worst-served guest: one-pCPU pins improved by single moves and pairwise swaps, each
// step the one that raises the model's predicted guest fractions of fair share most (leximin: the
// worst guest first, then the next). The other candidates (candidates.ts) are scored per vCPU; the
// trial loop (trials.ts) and the bench measure per guest, and a guest's busy vCPU can make up for its
// bursty one only in the per-guest sum (mix-88: g4's clock-bound g4/1 beside two busy vCPUs gets
// 0.14 of a 0.27 fair share, but its busy g4/0 there gets 0.37, so guest g4 gets 95 %; no per-vCPU
// candidate is that placement). Bounded: small hosts only (the oracle's reach: 4 pCPUs, 8 vCPUs; on 16 vCPUs,
// mix-75, the per-guest predictions of bursty vCPUs were measured 14 points short), a few steps from a few starts.
import type { Candidate, CandidateInput } from './candidates.js';
import { changesTo } from './candidates.js';
import { summarizePlacement, type PlacementSummary } from './placement-summary.js';
import { guestFractions } from './sharing.js';

/** Hosts larger than this are not climbed (each step tries n·(P − 1) moves and up to n²/2 swaps). */
export const climbMaxPcpus = 4;
export const climbMaxVcpus = 8;
/** Steps per start at most. */
const maxSteps = 6;
/** A step must raise some guest's fraction (leximin) by at least this. */
const minStep = 1e-3;

/** The guests' predicted fractions of fair share under a summary, sorted ascending, each capped at 1. */
export function sortedGuestFractions(input: CandidateInput, summary: PlacementSummary, guestOf: readonly number[]): number[] {
  return guestFractions(input.demands, summary.shares, input.fair, guestOf)
    .map((f) => Math.min(1, f))
    .sort((a, b) => a - b);
}

/** The worst guest's predicted fraction of fair share (1 when no guest wants CPU). */
export function worstGuestFraction(input: CandidateInput, summary: PlacementSummary, guestOf: readonly number[]): number {
  return sortedGuestFractions(input, summary, guestOf)[0] ?? 1;
}

/** a serves the guests better than b (leximin, by at least minStep at the first guest that differs). */
function better(a: readonly number[], b: readonly number[]): boolean {
  for (let k = 0; k < a.length; k++) {
    if (a[k]! > b[k]! + minStep) return true;
    if (a[k]! < b[k]! - minStep) return false;
  }
  return false;
}

/** Climbed from each of `starts` (one pCPU per vCPU): the best placement found for the guests, with its summary and sorted guest fractions. */
export function guestClimbCandidate(
  input: CandidateInput,
  guestOf: readonly number[],
  starts: readonly (readonly number[])[],
): { candidate: Candidate; guests: number[] } | undefined {
  const { demands, affinities, room, fair } = input;
  const n = demands.length;
  const pcpus = room.pcpus;
  if (pcpus < 2 || pcpus > climbMaxPcpus || n > climbMaxVcpus || starts.length === 0) return undefined;
  const pinsOf: number[][] = Array.from({ length: pcpus }, (_, p) => [p]);
  const evaluate = (assignment: readonly number[]): { summary: PlacementSummary; guests: number[] } => {
    const summary = summarizePlacement(demands, assignment.map((p) => pinsOf[p]!), room, fair);
    return { summary, guests: sortedGuestFractions(input, summary, guestOf) };
  };
  let best: { assignment: number[]; summary: PlacementSummary; guests: number[] } | undefined;
  const seen = new Set<string>();
  for (const start of starts) {
    const key = start.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    let at = { assignment: [...start], ...evaluate(start) };
    for (let step = 0; step < maxSteps; step++) {
      let next: typeof at | undefined;
      const consider = (assignment: number[]): void => {
        const e = evaluate(assignment);
        if (better(e.guests, (next ?? at).guests)) next = { assignment, ...e };
      };
      for (let i = 0; i < n; i++) {
        for (let p = 0; p < pcpus; p++) {
          if (p === at.assignment[i]) continue;
          const moved = [...at.assignment];
          moved[i] = p;
          consider(moved);
        }
        for (let j = i + 1; j < n; j++) {
          if (at.assignment[i] === at.assignment[j]) continue;
          const swapped = [...at.assignment];
          swapped[i] = at.assignment[j]!;
          swapped[j] = at.assignment[i]!;
          consider(swapped);
        }
      }
      if (!next) break;
      at = next;
    }
    if (!best || better(at.guests, best.guests)) best = at;
  }
  if (!best) return undefined;
  const where = best.assignment.map((p) => pinsOf[p]!);
  return { candidate: { strategy: 'guests', where, predicted: best.summary, changes: changesTo(where, affinities) }, guests: best.guests };
}
