// Sharing pCPUs: when no one-vCPU-per-pCPU placement can be fair, pin groups of vCPUs to SETS of pCPUs.
//
// Pinned to single pCPUs, whole vCPUs split each pCPU among whoever happens to sit there: with four
// heavy and four light guests on four pCPUs the heavy guest paired with the biggest light one gets
// 0.70 of a pCPU while global max-min sharing would give every heavy one 0.81. Pinning the vCPUs
// of two pCPUs to both of them lets the host's scheduler share those two max-min fairly, which
// brings that guest to 0.80. Pinning everything to every pCPU ("release") is the extreme case.
//
// The fair share of a vCPU is what max-min sharing of ALL pCPUs among all vCPUs would give it
// (predictSharesUnpinned). Greedy merging: take the set whose worst-served vCPU gets the smallest
// fraction of its fair share; merge it with the other set (among the richest few: spare capacity
// first, then highest water level) that raises that fraction most; repeat until every set reaches
// `target`, no merge helps, or `maxMerges` merges were made (large overcommitted hosts: release). Each merge only joins pCPUs whose occupants are treated unequally,
// so a host that is fair except on two pCPUs shares just those two.

import { idleDemand, isWeighted, predictSharesUnpinned } from './fairness.js';
import { waterFill } from './water-fill.js';

export interface SharedPlacement {
  /** pCPU sets, each sorted; together they cover every pCPU once. */
  sets: number[][];
  /** Index into `sets` of each vCPU, in input order. */
  setOf: number[];
  /** Predicted share of each vCPU (fraction of one pCPU). */
  shares: number[];
  /** Smallest predicted share / fair share over vCPUs that want CPU (1 when nobody does). */
  worstFractionOfFairShare: number;
}

/** Candidate partners tried per merge: enough for small hosts to try them all, bounded on large ones. */
const partnersTried = 8;
/** Merges tried at most; a host that needs more is better served by releasing everything (the caller's other candidate). */
const maxMerges = 16;
const eps = 1e-9;

/** Global max-min fair share of each vCPU over all pCPUs (over what their other load leaves, when `capacity` is given). */
export function fairSharesOf(demands: readonly number[], pcpus: number, capacity?: readonly number[], weights?: readonly number[]): number[] {
  return predictSharesUnpinned(demands, pcpus, capacity, weights);
}

/** Smallest share / fair share over the vCPUs that want CPU. */
export function worstFractionOfFairShare(demands: readonly number[], shares: readonly number[], fair: readonly number[]): number {
  let worst = 1;
  demands.forEach((d, i) => {
    const f = fair[i] ?? 0;
    if (d >= idleDemand && f > eps) worst = Math.min(worst, (shares[i] ?? 0) / f);
  });
  return worst;
}

/**
 * Each guest's share over its fair share (its vCPUs' shares together over their fair shares together),
 * over guests that want CPU and are owed some: what a guest is sold is the guest, and its busy vCPU may
 * make up for its bursty one. `guestOf` maps each vCPU to its guest (usage.ts guestIndexOf).
 */
export function guestFractions(demands: readonly number[], shares: readonly number[], fair: readonly number[], guestOf: readonly number[]): number[] {
  const received: number[] = [];
  const owed: number[] = [];
  const wanted: number[] = [];
  for (let i = 0; i < demands.length; i++) {
    const g = guestOf[i]!;
    received[g] = (received[g] ?? 0) + (shares[i] ?? 0);
    owed[g] = (owed[g] ?? 0) + (fair[i] ?? 0);
    wanted[g] = (wanted[g] ?? 0) + demands[i]!;
  }
  const fractions: number[] = [];
  for (let g = 0; g < owed.length; g++) if ((wanted[g] ?? 0) >= idleDemand && (owed[g] ?? 0) > 1e-9) fractions.push(received[g]! / owed[g]!);
  return fractions;
}

interface Group {
  pcpus: number[];
  members: number[];
  shares: number[];
  worst: number;
  /** Spare capacity + 1 when not saturated, else the water level (largest share): higher is richer. */
  richness: number;
}

function groupOf(
  pcpus: number[],
  members: number[],
  demands: readonly number[],
  fair: readonly number[],
  capacity?: readonly number[],
  weights?: readonly number[],
): Group {
  let room = pcpus.length;
  let largest = 1;
  if (capacity !== undefined) {
    room = 0;
    largest = 0;
    for (const p of pcpus) {
      const c = Math.max(0, capacity[p] ?? 1);
      room += c;
      largest = Math.max(largest, c);
    }
  }
  const wanted = members.map((i) => Math.min(1, largest, demands[i] ?? 0));
  const shares = waterFill(wanted, room, isWeighted(weights) ? members.map((i) => weights[i] ?? 1) : undefined);
  let worst = Infinity;
  let used = 0;
  let level = 0;
  members.forEach((i, k) => {
    const share = shares[k] ?? 0;
    used += share;
    level = Math.max(level, share);
    const f = fair[i] ?? 0;
    if ((demands[i] ?? 0) >= idleDemand && f > eps) worst = Math.min(worst, share / f);
  });
  const spare = room - used;
  return { pcpus, members, shares, worst, richness: spare > eps ? 1 + spare : level };
}

/** The `count` richest groups other than `except`, richest first (ties: lower index), as a sort would rank them. */
function richest(groups: readonly Group[], except: number, count: number): { g: Group; k: number }[] {
  const top: { g: Group; k: number }[] = [];
  groups.forEach((g, k) => {
    if (k === except) return;
    let at = top.length;
    while (at > 0 && top[at - 1]!.g.richness < g.richness) at--;
    if (at >= count) return;
    top.splice(at, 0, { g, k });
    if (top.length > count) top.pop();
  });
  return top;
}

/**
 * Starting from one pCPU per vCPU (`assignment`), merges pCPUs into shared sets until every vCPU is
 * predicted at least `target` of its fair share, or no merge helps.
 */
export function sharePcpus(
  demands: readonly number[],
  assignment: readonly number[],
  pcpus: number,
  target: number,
  fair: readonly number[] = fairSharesOf(demands, pcpus),
  capacity?: readonly number[],
  weights?: readonly number[],
): SharedPlacement {
  const membersOf: number[][] = Array.from({ length: pcpus }, () => []);
  assignment.forEach((p, i) => membersOf[p]?.push(i));
  let groups: Group[] = membersOf.map((members, p) => groupOf([p], members, demands, fair, capacity, weights));

  for (let merge = 0; merge < maxMerges; merge++) {
    let low = 0;
    groups.forEach((g, k) => {
      if (g.worst < groups[low]!.worst) low = k;
    });
    const poor = groups[low]!;
    if (groups.length < 2 || poor.worst >= target - eps) break;
    const partners = richest(groups, low, partnersTried);
    let best: { k: number; merged: Group } | undefined;
    for (const { g, k } of partners) {
      const merged = groupOf([...poor.pcpus, ...g.pcpus].sort((a, b) => a - b), [...poor.members, ...g.members], demands, fair, capacity, weights);
      if (!best || merged.worst > best.merged.worst + eps) best = { k, merged };
    }
    if (!best || best.merged.worst <= poor.worst + eps) break;
    const partner = best.k;
    groups = [...groups.filter((_, k) => k !== low && k !== partner), best.merged];
  }

  groups.sort((a, b) => (a.pcpus[0] ?? 0) - (b.pcpus[0] ?? 0));
  const setOf = new Array<number>(demands.length).fill(0);
  const shares = new Array<number>(demands.length).fill(0);
  groups.forEach((g, s) =>
    g.members.forEach((i, k) => {
      setOf[i] = s;
      shares[i] = g.shares[k] ?? 0;
    }),
  );
  return { sets: groups.map((g) => g.pcpus), setOf, shares, worstFractionOfFairShare: worstFractionOfFairShare(demands, shares, fair) };
}
