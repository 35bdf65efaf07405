// Random CPU mixes for judging the vCPU scheduler on cases nobody showed it (issue #17): a seeded,
// deterministic generator of scenarios (the same Scenario type a scenario file loads into, with the
// vCPU scheduler as its only controller) and the issue's fixed case. Each vCPU is busy (constant
// 1.0), bursty (clock-bound windows of any duty 0.1-0.9 and period 10-200 ms), a constant partial
// demand, or noisy (constant with Gaussian noise); some hosts have other load on some pCPUs, some
// guests a CPU weight; a mix is steady or phased (some vCPUs' demand steps once mid-run). Guests
// mostly start unpinned, as real guests do; some mixes start all on pCPU0 or pinned at random.
// The small mode (at most 4 pCPUs and 8 vCPUs in all) is what the oracle can search.

import { seededRandom, uuidFromName } from './random.js';
import type { DomainSpec, OtherLoadSpec, Scenario } from './scenario.js';
import type { Workload } from './workload.js';

/** A generated mix: a scenario plus what the bench reports about it. */
export interface MixScenario extends Scenario {
  /** The seed it was generated from. */
  mixSeed: number;
  /** False when some vCPU's demand steps during the run (a phase change). */
  steady: boolean;
  /** At most 4 pCPUs and 8 vCPUs: within the oracle's reach. */
  small: boolean;
  /** How the guests started: all unpinned, all on pCPU0, pinned at random, or as a case says. */
  start: 'unpinned' | 'pcpu0' | 'random' | 'given';
  /** One line: counts of each vCPU shape, other load, weights, phases. */
  summary: string;
}

export interface MixConstraints {
  /** At most 4 pCPUs and 8 vCPUs in all (the oracle's size). */
  small?: boolean;
  minPcpus?: number;
  maxPcpus?: number;
  /** Upper bound on the vCPUs of all guests together. */
  maxVcpus?: number;
  /** Force steady (true) or phased (false); default: phased about one mix in four. */
  steady?: boolean;
  /** Intervals of 2 s (default 40). */
  intervals?: number;
}

/** What the generator draws from, documented once. */
export const MIX_RANGES = {
  pcpus: [2, 16],
  guests: [4, 40],
  vcpusPerGuest: [1, 4],
  burstyDuty: [0.1, 0.9],
  burstyPeriodMs: [10, 200],
  smallPcpus: 4,
  smallVcpus: 8,
  /** Total vCPUs of a full-size mix stay within this many per pCPU (and this many in all), so a bench of hundreds runs in minutes. */
  vcpusPerPcpu: 4,
  maxVcpus: 48,
} as const;

export const MIX_INTERVAL_SECONDS = 2;
export const MIX_INTERVALS = 40;

type Shape = 'busy' | 'bursty' | 'partial' | 'noisy';

interface Draw {
  random: () => number;
  int(lo: number, hi: number): number;
  uniform(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

function draws(seed: number): Draw {
  const random = seededRandom((seed ^ 0x5eed17) >>> 0);
  const d: Draw = {
    random,
    int: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)),
    uniform: (lo, hi) => lo + random() * (hi - lo),
    pick: (items) => items[Math.floor(random() * items.length)]!,
    chance: (p) => random() < p,
  };
  return d;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function host(pcpus: number, otherLoad: OtherLoadSpec[]): Scenario['host'] {
  return { hostname: 'mix', pcpus, memoryMiB: 1024 * 1024, overheadMiB: 0, reserveMiB: 0, balloonRateMiBps: 400, diskReadMiBps: 200, otherLoad };
}

function domain(name: string, cpu: Workload[], pin: Array<number[] | null>, weight = 1): DomainSpec {
  return {
    name,
    uuid: uuidFromName(name),
    vcpus: cpu.length,
    memoryMiB: 256,
    maxMemoryMiB: 256,
    pin,
    startSeconds: 0,
    stopSeconds: null,
    statsPeriod: 0,
    statsStopSeconds: null,
    balloon: true,
    weight,
    dedicated: false,
    cpu,
    usedMiB: { kind: 'constant', value: 100 },
    cachesMiB: 0,
    reads: [],
  };
}

function shapeWorkload(shape: Shape, r: Draw): Workload {
  switch (shape) {
    case 'busy':
      return { kind: 'constant', value: 1 };
    case 'bursty':
      return { kind: 'bursty', duty: round2(r.uniform(0.1, 0.9)), periodMs: r.int(10, 200) };
    case 'partial':
      return { kind: 'constant', value: round2(r.uniform(0.05, 0.95)) };
    case 'noisy':
      return { kind: 'constant', value: round2(r.uniform(0.2, 0.9)), noise: { sd: round2(r.uniform(0.03, 0.15)), everySeconds: r.pick([1, 2]) } };
  }
}

/** The mix's shape mix: a few have one dominant shape, most a blend. */
function shapeChooser(r: Draw): () => Shape {
  const all: Shape[] = ['busy', 'bursty', 'partial', 'noisy'];
  const weights = all.map(() => r.random() + 0.05);
  // One mix in five leans hard on one shape (all busy and bursty, mostly noise...).
  if (r.chance(0.2)) weights[r.int(0, 3)]! += 3;
  const total = weights.reduce((a, b) => a + b, 0);
  return () => {
    let x = r.random() * total;
    for (let k = 0; k < all.length; k++) {
      x -= weights[k]!;
      if (x < 0) return all[k]!;
    }
    return all[all.length - 1]!;
  };
}

/** A seeded random CPU mix; the same seed and constraints give the same scenario. */
export function generateMix(seed: number, constraints: MixConstraints = {}): MixScenario {
  const r = draws(seed);
  const small = constraints.small ?? false;
  const intervals = constraints.intervals ?? MIX_INTERVALS;
  const maxPcpus = Math.min(constraints.maxPcpus ?? MIX_RANGES.pcpus[1], small ? MIX_RANGES.smallPcpus : MIX_RANGES.pcpus[1]);
  const minPcpus = Math.min(maxPcpus, Math.max(2, constraints.minPcpus ?? MIX_RANGES.pcpus[0]));
  const pcpus = r.int(minPcpus, maxPcpus);
  const vcpuCap = Math.min(
    constraints.maxVcpus ?? Infinity,
    small ? MIX_RANGES.smallVcpus : Math.min(MIX_RANGES.maxVcpus, Math.max(8, MIX_RANGES.vcpusPerPcpu * pcpus)),
  );
  // Guests of 1-4 vCPUs until the vCPU budget is spent; at least 4 guests unless the budget forbids.
  const minGuests = Math.min(MIX_RANGES.guests[0], vcpuCap);
  const wantGuests = r.int(minGuests, Math.max(minGuests, Math.min(MIX_RANGES.guests[1], vcpuCap)));
  const sizes: number[] = [];
  let left = vcpuCap;
  for (let g = 0; g < wantGuests && left > 0; g++) {
    const guestsAfter = Math.max(0, minGuests - g - 1);
    const most = Math.max(1, Math.min(MIX_RANGES.vcpusPerGuest[1], left - guestsAfter));
    // Most guests are small: one vCPU half the time.
    const n = r.chance(0.5) ? 1 : r.int(1, most);
    sizes.push(Math.min(n, most));
    left -= sizes[sizes.length - 1]!;
  }
  const chooseShape = shapeChooser(r);
  const steady = constraints.steady ?? !r.chance(0.25);
  const durationS = intervals * MIX_INTERVAL_SECONDS;
  const stepAt = Math.round(r.uniform(0.25, 0.45) * durationS);

  // Other load on some pCPUs (a host process, QEMU's threads, another tenant): one mix in four.
  const otherLoad: OtherLoadSpec[] = [];
  if (r.chance(0.25)) {
    const count = r.int(1, Math.max(1, Math.floor(pcpus / 2)));
    const taken = new Set<number>();
    for (let k = 0; k < count; k++) {
      const p = r.int(0, pcpus - 1);
      if (taken.has(p)) continue;
      taken.add(p);
      const load: Workload = steady || r.chance(0.5)
        ? { kind: 'constant', value: round2(r.uniform(0.2, 1)) }
        : { kind: 'steps', points: [[0, 0], [stepAt, round2(r.uniform(0.4, 1))]] };
      otherLoad.push({ pcpu: p, load, weight: r.pick([1, 2, 4, 4]) });
    }
    otherLoad.sort((a, b) => a.pcpu - b.pcpu);
  }
  const weighted = r.chance(0.2);
  const start: MixScenario['start'] = r.chance(0.7) ? 'unpinned' : r.chance(0.5) ? 'pcpu0' : 'random';

  const counts: Record<Shape, number> = { busy: 0, bursty: 0, partial: 0, noisy: 0 };
  const domains: DomainSpec[] = [];
  let stepped = 0;
  sizes.forEach((n, g) => {
    const cpu: Workload[] = [];
    for (let i = 0; i < n; i++) {
      const shape = chooseShape();
      counts[shape]++;
      cpu.push(shapeWorkload(shape, r));
    }
    const pin = cpu.map((): number[] | null => (start === 'unpinned' ? null : start === 'pcpu0' ? [0] : [r.int(0, pcpus - 1)]));
    const weight = weighted && r.chance(0.3) ? r.pick([0.5, 2, 3]) : 1;
    domains.push(domain(`g${g + 1}`, cpu, pin, weight));
  });
  if (!steady) {
    // A phase: some non-bursty vCPUs change demand once, at the same time (a job starts or ends).
    const candidates = domains.flatMap((d) => d.cpu.map((w, i) => ({ d, i, w })).filter((x) => x.w.kind !== 'bursty'));
    const many = Math.max(1, Math.round(candidates.length * r.uniform(0.2, 0.6)));
    for (let k = 0; k < many && candidates.length > 0; k++) {
      const { d, i, w } = candidates.splice(r.int(0, candidates.length - 1), 1)[0]!;
      const before = w.kind === 'constant' ? w.value : 0.5;
      const after = r.chance(0.5) ? (before > 0.5 ? round2(r.uniform(0, 0.2)) : 1) : round2(r.uniform(0.05, 1));
      const stepShape: Workload = { kind: 'steps', points: [[0, before], [stepAt, after]] };
      if (w.noise) stepShape.noise = w.noise;
      d.cpu[i] = stepShape;
      stepped++;
    }
    // Phased with nothing to step (all bursty): say so honestly.
  }
  const vcpus = sizes.reduce((a, b) => a + b, 0);
  const parts = (Object.keys(counts) as Shape[]).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  if (otherLoad.length > 0) parts.push(`other load on ${otherLoad.map((o) => `p${o.pcpu}`).join(',')}`);
  if (domains.some((d) => d.weight !== 1)) parts.push(`weights ${domains.filter((d) => d.weight !== 1).map((d) => `${d.name}=${d.weight}`).join(',')}`);
  if (stepped > 0) parts.push(`${stepped} step at ${stepAt}s`);
  parts.push(`start ${start}`);
  return {
    name: `mix-${seed}${small ? 's' : ''}`,
    description: `random CPU mix ${seed}${small ? ' (small)' : ''}: ${pcpus} pCPUs, ${domains.length} guests, ${vcpus} vCPUs`,
    source: `mix:${seed}${small ? ':small' : ''}`,
    controllers: ['cpu'],
    intervalSeconds: MIX_INTERVAL_SECONDS,
    intervals,
    seed: seed >>> 0,
    stepMs: 100,
    host: host(pcpus, otherLoad),
    domains,
    mixSeed: seed,
    steady: stepped === 0 && otherLoad.every((o) => o.load.kind === 'constant'),
    small: pcpus <= MIX_RANGES.smallPcpus && vcpus <= MIX_RANGES.smallVcpus,
    start,
    summary: parts.join(', '),
  };
}

/**
 * Issue #17's case, measured on real guests on a 2-pCPU host: three one-vCPU busy guests and three
 * one-vCPU bursty ones (busy 40 % of every 50 ms), started busy and bursty mixed on both pCPUs.
 */
export function issueMix(intervals = MIX_INTERVALS): MixScenario {
  const busy: Workload = { kind: 'constant', value: 1 };
  const bursty: Workload = { kind: 'bursty', duty: 0.4, periodMs: 50 };
  const domains = [
    domain('busy1', [busy], [[0]]),
    domain('busy2', [busy], [[1]]),
    domain('busy3', [busy], [[0]]),
    domain('burst1', [bursty], [[1]]),
    domain('burst2', [bursty], [[0]]),
    domain('burst3', [bursty], [[1]]),
  ];
  return {
    name: 'mix-issue-17',
    description: 'issue #17: 3 busy + 3 bursty (40 % of 50 ms) one-vCPU guests on 2 pCPUs, started mixed on both pCPUs',
    source: 'mix:issue-17',
    controllers: ['cpu'],
    intervalSeconds: MIX_INTERVAL_SECONDS,
    intervals,
    seed: 17,
    stepMs: 100,
    host: host(2, []),
    domains,
    mixSeed: -17,
    steady: true,
    small: true,
    start: 'given',
    summary: '3 busy, 3 bursty (0.4 of 50 ms), start mixed',
  };
}

/** The same mix with every vCPU's pin replaced by `pinOf(domain, vcpu)` (null: unpinned). */
export function withPins(scenario: Scenario, pinOf: (domain: string, vcpu: number) => number[] | null): Scenario {
  return { ...scenario, domains: scenario.domains.map((d) => ({ ...d, pin: d.pin.map((_, i) => pinOf(d.name, i)) })) };
}
