// Same decisions as another build: runs this build's decideCpu and a reference build's on the same
// seeded random measurements and fails on the first decision that differs in anything (actions,
// reasons, summary, predicted shares, the whole next state; numbers compared exactly), except a pin
// action's `why` (its reason as data, which older builds lack: the reason text rendered from it is compared)
// and the encoding of placement signatures (each named by the order it was first seen in).
//   node dist/bench/decision-equivalence.js REFERENCE_DIST [CASES]
// REFERENCE_DIST is the dist/ of the build to compare with (for example a `git worktree` of main,
// built). Each case is a short run of intervals on one random host: multi-vCPU domains pinned,
// unpinned or on pCPU sets, other load, weights, dedicated domains, and option variants; the
// actions of one interval become the affinities of the next, each build carrying its own state.
import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decideCpu as decideHere } from '../src/cpu/decide.js';
import { initialCpuSchedulerState, type CpuDecision, type CpuSchedulerState } from '../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../src/cpu/options.js';
import { pcpuDemandOf, pcpuUsageOf, type CpuMeasurement, type VcpuLoad } from '../src/cpu/usage.js';
import * as placementHere from '../src/cpu/placement.js';
import * as sharingHere from '../src/cpu/sharing.js';
import * as fairnessHere from '../src/cpu/fairness.js';
import * as learnedHere from '../src/cpu/learned-sharing.js';
import { otherLoadOf, vcpuKey } from '../src/cpu/usage.js';
import { seededRandom } from '../src/host/sim/random.js';

type Decide = (m: CpuMeasurement, state: CpuSchedulerState, options: CpuSchedulerOptions) => CpuDecision;

interface GuestVcpu {
  domain: { name: string; uuid: string };
  vcpu: number;
  affinity: number[];
  demand: number;
  weight: number | undefined;
}

interface HostCase {
  pcpus: number;
  vcpus: GuestVcpu[];
  other: number[] | undefined;
  options: CpuSchedulerOptions;
  intervals: number;
  coarse: boolean;
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** Demands with ties, zeros, idle, medium and busy ones; `coarse`: on a grid of eighths, so that loads tie too. */
function randomDemand(random: () => number, coarse = false): number {
  if (coarse) return Math.round(randomDemand(random) * 8) / 8;
  const kind = random();
  if (kind < 0.1) return pick(random, [0, 0.5, 1, 0.25]);
  if (kind < 0.35) return random() * 0.05;
  if (kind < 0.7) return 0.1 + random() * 0.5;
  return 0.8 + random() * 0.2;
}

/** One pCPU, every pCPU, a contiguous range, a scattered set, or an unnormalised list. */
function randomAffinity(random: () => number, pcpus: number): number[] {
  const kind = random();
  if (kind < 0.5) return [Math.floor(random() * pcpus)];
  if (kind < 0.7) return Array.from({ length: pcpus }, (_, p) => p);
  if (kind < 0.82) {
    const length = 1 + Math.floor(random() * pcpus);
    const start = Math.floor(random() * (pcpus - length + 1));
    return Array.from({ length }, (_, k) => start + k);
  }
  if (kind < 0.95) return [...new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * pcpus)))].sort((a, b) => a - b);
  return pick(random, [[], [pcpus + 3], [1, 0, 1].map((p) => p % pcpus)]);
}

function randomCase(seed: number): HostCase {
  const random = seededRandom(seed);
  const big = seed % 25 === 0;
  const pcpus = big ? pick(random, [64, 256]) : pick(random, [1, 2, 2, 3, 4, 4, 6, 8, 12, 16, 40]);
  const domains = big ? (pcpus === 256 ? 1000 : 200) : 1 + Math.floor(random() * 12);
  const weighted = random() < 0.25;
  const coarse = random() < 0.3;
  const vcpus: GuestVcpu[] = [];
  for (let d = 0; d < domains; d++) {
    const name = `vm${d}`;
    const uuid = random() < 0.05 ? '' : `uuid-${seed}-${d}`;
    const count = big ? 4 : 1 + Math.floor(random() * 4);
    const weight = weighted && random() < 0.4 ? pick(random, [0.5, 2, 3]) : undefined;
    for (let v = 0; v < count; v++) vcpus.push({ domain: { name, uuid }, vcpu: v, affinity: randomAffinity(random, pcpus), demand: randomDemand(random, coarse), weight });
  }
  const other = random() < 0.35 ? Array.from({ length: pcpus }, () => (random() < 0.5 ? 0 : random() < 0.5 ? random() * 0.03 : random())) : undefined;
  const options: CpuSchedulerOptions = {
    ...defaultCpuSchedulerOptions,
    persistIntervals: pick(random, [1, 1, 2]),
    sharePcpusWhenUnfair: random() < 0.85,
    countOtherLoad: random() < 0.8,
    tolerancePoints: pick(random, [0, 2, 2, 5]),
    marginPoints: pick(random, [5, 10, 10]),
    dedicated: random() < 0.12 && pcpus > 1 ? [pick(random, vcpus).domain.name] : [],
  };
  return { pcpus, vcpus, other, options, intervals: big ? 4 : 6, coarse };
}

/** The measurement of one interval: demands drift by noise, now and then a guest changes phase. */
function measurementOf(c: HostCase, random: () => number): CpuMeasurement {
  const vcpus: VcpuLoad[] = c.vcpus.map((g) => {
    if (random() < 0.1) g.demand = randomDemand(random, c.coarse);
    const demand = c.coarse ? g.demand : Math.min(1, Math.max(0, g.demand + (random() - 0.5) * 0.04));
    const pcpu = random() < 0.2 ? undefined : g.affinity.length > 0 ? pick(random, g.affinity) : undefined;
    const usage = demand * (0.5 + random() * 0.5);
    return { domain: { ...g.domain }, vcpu: g.vcpu, affinity: g.affinity.slice(), pcpu: pcpu !== undefined && pcpu < c.pcpus ? pcpu : undefined, usage, demand, ...(g.weight !== undefined ? { weight: g.weight } : {}) };
  });
  // Now and then the host lists its vCPUs in another order, misses one, or lists one twice.
  const odd = random();
  if (odd < 0.1) vcpus.reverse();
  else if (odd < 0.15 && vcpus.length > 1) vcpus.splice(Math.floor(random() * vcpus.length), 1);
  else if (odd < 0.2 && vcpus.length > 0) vcpus.splice(Math.floor(random() * vcpus.length), 0, { ...pick(random, vcpus), demand: random() });
  const m: CpuMeasurement = { elapsedNs: 1e9, pcpus: c.pcpus, vcpus, pcpuUsage: pcpuUsageOf(vcpus, c.pcpus), pcpuDemand: pcpuDemandOf(vcpus, c.pcpus) };
  if (c.other) m.pcpuOther = c.other.map((o) => Math.min(1, Math.max(0, o + (random() - 0.5) * 0.02)));
  return m;
}

/**
 * A value without the `why` of its pin actions (ground/pin-why.ts), wherever they are (actions, the
 * trial's revert list in the state): a build before it has none, and its reason text, which is
 * rendered from it, is still compared.
 */
function withoutWhy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutWhy);
  // A pin action whose reason is rendered when read (ground/pin-why.ts pinAction) is compared as its JSON says it.
  if (typeof value === 'object' && value !== null && !(value instanceof Date) && typeof (value as { toJSON?: unknown }).toJSON === 'function') return withoutWhy((value as { toJSON: () => unknown }).toJSON());
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (key !== 'why' || (value as { kind?: unknown }).kind !== 'pin') out[key] = withoutWhy(v);
  return out;
}

/**
 * A decision with the state's per-vCPU lists as records keyed by vCPU (builds differ in how they keep
 * them, vcpu-lists.ts; the contents must not), and pin actions without their `why` (withoutWhy).
 */
function comparable(given: CpuDecision): unknown {
  const decision = withoutWhy(given) as CpuDecision;
  const state = decision.state as unknown as Record<string, unknown>;
  if (!Array.isArray(state.vcpuKeys)) return decision;
  const keys = state.vcpuKeys as string[];
  const asRecord = (names: string[], values: unknown[]): unknown => Object.fromEntries(names.map((key, j) => [key, values[j]]));
  const { vcpuKeys: _keys, ...rest } = state;
  // A trial's revert list: older builds keep whole pin actions there, newer ones the moves (domain, vCPU, to, from).
  const trials = rest.trials as { trial?: { revert?: Array<Record<string, unknown>> } } | undefined;
  if (trials?.trial?.revert) {
    const revert = trials.trial.revert.map(({ domain, vcpu, pcpus, previous }) => ({ domain, vcpu, pcpus, previous }));
    rest.trials = { ...trials, trial: { ...trials.trial, revert } };
  }
  const predicted = state.predicted as { keys: string[]; shares: number[] } | undefined;
  return { ...decision, state: { ...rest, vcpus: asRecord(keys, state.vcpus as unknown[]), ...(predicted ? { predicted: asRecord(predicted.keys, predicted.shares) } : {}) } };
}

/** Placement signatures (trials.ts: 16 hex digits) are hashes whose encoding may change between builds: each is named by the order it was first seen in, per build and case. */
const signaturePattern = /^[0-9a-f]{16}$/;

function signaturesNamed(value: unknown, names: Map<string, string>): unknown {
  const name = (signature: string): string => {
    if (!signaturePattern.test(signature)) return signature;
    let named = names.get(signature);
    if (named === undefined) names.set(signature, (named = `placement#${names.size + 1}`));
    return named;
  };
  if (typeof value === 'string') return name(value);
  if (Array.isArray(value)) return value.map((v) => signaturesNamed(v, names));
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [name(key), signaturesNamed(v, names)]));
}

/** The first path at which two values differ (numbers by Object.is), or undefined. */
function firstDifference(a: unknown, b: unknown, path = 'decision'): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const d = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
      if (d) return d;
    }
    return `${path}: same keys and values, different types`;
  }
  return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/**
 * The optimiser, the sharing planner and the share model called directly, beside decideCpu: random
 * items with unknown and odd homes, base loads, capacities and weights. Returns how many calls differ.
 */
async function compareParts(referenceDist: string, cases: number): Promise<{ calls: number; differ: number }> {
  const load = async (name: string): Promise<Record<string, (...args: never[]) => unknown>> => (await import(pathToFileURL(resolve(referenceDist, `src/cpu/${name}.js`)).href)) as Record<string, (...args: never[]) => unknown>;
  const there = { placement: await load('placement'), sharing: await load('sharing'), fairness: await load('fairness'), learned: await load('learned-sharing'), usage: await load('usage') };
  let calls = 0;
  let differ = 0;
  const check = (what: string, seed: number, mine: unknown, theirs: unknown): void => {
    calls++;
    const difference = firstDifference(mine, theirs, what);
    if (difference) {
      differ++;
      if (differ <= 5) console.log(`[decision-equivalence] ${what}, case ${seed}: ${difference.slice(0, 400)}`);
    }
  };
  for (let seed = 1; seed <= cases; seed++) {
    const random = seededRandom(seed * 31 + 5);
    const pcpus = seed % 20 === 0 ? 256 : 1 + Math.floor(random() * 24);
    const n = seed % 20 === 0 ? 4000 : Math.floor(random() * 60);
    const coarse = random() < 0.4;
    const items = Array.from({ length: n }, () => {
      const odd = random();
      const home = odd < 0.1 ? undefined : odd < 0.12 ? pick(random, [-1, pcpus, -0]) : Math.floor(random() * pcpus);
      return { demand: randomDemand(random, coarse), home, pinned: random() < 0.8 };
    });
    const base = random() < 0.3 ? Array.from({ length: pcpus }, () => (random() < 0.5 ? 0 : random())) : undefined;
    const tolerance = pick(random, [0, 0.02, 0.05]);
    const demands = items.map((i) => i.demand);
    check('planPlacement', seed, placementHere.planPlacement(items, pcpus, tolerance, base), there.placement.planPlacement!(...([items, pcpus, tolerance, base] as never[])));
    const assignment = items.map(() => Math.floor(random() * pcpus));
    const capacity = base?.map((b) => 1 - b);
    const weights = random() < 0.3 ? items.map(() => pick(random, [1, 1, 0.5, 2, 3])) : undefined;
    const fair = sharingHere.fairSharesOf(demands, pcpus, capacity, weights);
    check('fairSharesOf', seed, fair, there.sharing.fairSharesOf!(...([demands, pcpus, capacity, weights] as never[])));
    const target = pick(random, [0.9, 0.95, 1]);
    check('sharePcpus', seed, sharingHere.sharePcpus(demands, assignment, pcpus, target, fair, capacity, weights), there.sharing.sharePcpus!(...([demands, assignment, pcpus, target, fair, capacity, weights] as never[])));
    const shareItems = items.map((item, i) => ({ demand: item.demand, pcpus: randomAffinity(random, pcpus), ...(weights ? { weight: weights[i]! } : {}) }));
    // Learning over a few intervals of one host, every vCPU on one pCPU or released (one group of them all).
    const hostCase = randomCase(seed);
    const hostRandom = seededRandom(seed * 13);
    let mineLearned: learnedHere.LearnedSharing | undefined;
    let theirLearned: unknown;
    for (let interval = 0; interval < 4; interval++) {
      const m = measurementOf(hostCase, hostRandom);
      if (seed % 2 === 0) for (const v of m.vcpus) v.affinity = Array.from({ length: m.pcpus }, (_, p) => p);
      const keys = m.vcpus.map((v) => vcpuKey(v.domain, v.vcpu));
      const affinities = m.vcpus.map((v) => (v.affinity.length > 0 && v.affinity.every((p) => p < m.pcpus) ? [...new Set(v.affinity)].sort((a, b) => a - b) : Array.from({ length: m.pcpus }, (_, p) => p)));
      const capacity = m.pcpuOther?.map((o) => 1 - o);
      mineLearned = learnedHere.learnSharing(m, keys, mineLearned, capacity, affinities);
      theirLearned = there.learned.learnSharing!(...([m, keys, theirLearned, capacity, affinities] as never[]));
      check('learnSharing', seed, mineLearned, theirLearned);
      check('pcpuUsageOf', seed, pcpuUsageOf(m.vcpus, m.pcpus), there.usage.pcpuUsageOf!(...([m.vcpus, m.pcpus] as never[])));
      check('pcpuDemandOf', seed, pcpuDemandOf(m.vcpus, m.pcpus), there.usage.pcpuDemandOf!(...([m.vcpus, m.pcpus] as never[])));
      const busy = m.pcpuUsage.map((u) => Math.min(1, u + hostRandom() * 0.3));
      const normalised = m.vcpus.map((v, i) => ({ ...v, affinity: affinities[i]! }));
      check('otherLoadOf', seed, otherLoadOf(busy, normalised, m.pcpus), there.usage.otherLoadOf!(...([busy, normalised, m.pcpus] as never[])));
    }
    check('predictShares', seed, fairnessHere.predictShares(shareItems, pcpus, capacity), there.fairness.predictShares!(...([shareItems, pcpus, capacity] as never[])));
  }
  return { calls, differ };
}

export async function compareDecisions(referenceDist: string, cases: number): Promise<{ decisions: number; differ: number; acted: number; learned: number }> {
  // decideCpu moved from scheduler.js to decide.js; a reference build may have either.
  const load = async (file: string): Promise<Record<string, unknown>> => (existsSync(resolve(referenceDist, file)) ? ((await import(pathToFileURL(resolve(referenceDist, file)).href)) as Record<string, unknown>) : {});
  const reference = { ...(await load('src/cpu/scheduler.js')), ...(await load('src/cpu/decide.js')) } as { decideCpu: Decide; initialCpuSchedulerState: () => CpuSchedulerState };
  let decisions = 0;
  let differ = 0;
  let acted = 0;
  let learned = 0;
  for (let seed = 1; seed <= cases; seed++) {
    const c = randomCase(seed);
    const random = seededRandom(seed * 7919);
    let here = initialCpuSchedulerState();
    // Each build starts from its own initial state (they may keep different fields).
    let there = reference.initialCpuSchedulerState();
    const namesHere = new Map<string, string>();
    const namesThere = new Map<string, string>();
    const byName = new Map(c.vcpus.map((g) => [`${g.domain.name}/${g.vcpu}`, g]));
    for (let interval = 0; interval < c.intervals; interval++) {
      const m = measurementOf(c, random);
      const mine = decideHere(structuredClone(m), here, c.options);
      const theirs = reference.decideCpu(structuredClone(m), there, c.options);
      decisions++;
      const difference = firstDifference(signaturesNamed(comparable(mine), namesHere), signaturesNamed(comparable(theirs), namesThere));
      if (difference) {
        differ++;
        if (differ <= 5) console.log(`[decision-equivalence] case ${seed} interval ${interval} (${c.vcpus.length} vCPUs on ${c.pcpus} pCPUs): ${difference.slice(0, 400)}`);
        break;
      }
      if (mine.actions.length > 0) acted++;
      if (((mine as { clockBound?: unknown[] }).clockBound?.length ?? 0) > 0) learned++;
      for (const action of mine.actions) {
        const g = byName.get(`${action.domain.name}/${action.vcpu}`);
        if (g) g.affinity = action.pcpus.slice();
      }
      here = mine.state;
      there = theirs.state;
    }
  }
  return { decisions, differ, acted, learned };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [referenceDist, casesText] = process.argv.slice(2);
  const cases = Number(casesText ?? 400);
  if (!referenceDist || !Number.isInteger(cases) || cases < 1) {
    console.error('usage: node dist/bench/decision-equivalence.js REFERENCE_DIST [CASES]');
    process.exit(2);
  }
  const result = await compareDecisions(referenceDist, cases).catch((error: unknown) => {
    console.error(`decision-equivalence: cannot run the reference build in ${referenceDist}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    process.exit(2);
  });
  const { decisions, differ, acted, learned } = result;
  console.log(`[decision-equivalence] ${cases} cases, ${decisions} decisions (${acted} with pin changes, ${learned} with vCPUs learned clock-bound): ${differ} differ`);
  const parts = await compareParts(referenceDist, cases).catch((error: unknown) => {
    console.error(`decision-equivalence: cannot call the reference build's parts in ${referenceDist}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    process.exit(2);
  });
  console.log(`[decision-equivalence] planPlacement, fairSharesOf, sharePcpus, learnSharing, pcpuUsageOf, pcpuDemandOf, otherLoadOf, predictShares called directly: ${parts.calls} calls, ${parts.differ} differ`);
  if (differ > 0 || parts.differ > 0) process.exit(1);
}
