// The oracle of the random-mix bench (issue #17): the best static placement of a small mix (at most
// 4 pCPUs and 8 vCPUs) found by search, evaluated in the simulator's own tick physics.
//
// A placement splits the pCPUs into disjoint groups and puts every vCPU in one group: a group of one
// pCPU is a pin, a larger one a shared set, the one group of all pCPUs is release (nothing pinned).
// Weights are never changed. With disjoint groups the host shares each group's pCPUs among that
// group's vCPUs (and that group's pCPUs' other load) only, so what a vCPU receives depends on its
// own group alone. The search therefore evaluates score(pCPU group, vCPU subset) at most once each,
// by simulating just those vCPUs held on those pCPUs (everything else asks nothing) for the whole run:
// score = min over the subset's vCPUs of received / fair share over the second half, the fair shares
// computed once from the whole mix with nothing pinned. A placement's value is the min over its
// groups, and a dynamic programme over (pCPUs left, vCPUs left) maximises it. Evaluations are lazy:
// a cheap upper bound (received ≤ demand, Σ received ≤ the group's pCPUs) stands in for every pair not
// yet simulated; the programme's best placement is simulated where it still rests on bounds, and the
// programme rerun, until its best rests on simulations only (then it is the optimum of the model) or
// the time budget is spent. pCPUs with the same other load (or none) are interchangeable, so a group
// is known by how many of each kind it holds. The few best placements found (and release) are then
// run whole and judged by the bench's per-guest metric (src/score/mix-metric.ts); the best is reported.

import { performance } from 'node:perf_hooks';
import { createSimulatedHost } from '../host/sim/index.js';
import type { Scenario } from '../host/sim/scenario.js';
import { shapeValue, type Workload } from '../host/sim/workload.js';
import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { fairShares, guestCapacity } from '../score/fairness.js';
import { mixMetric, type MixMetric } from '../score/mix-metric.js';
import { traceTruth } from './simulate.js';

export interface PlacedVcpu {
  domain: string;
  vcpu: number;
  /** The pCPUs it may run on; every pCPU of the host = unpinned. */
  pcpus: number[];
}

export interface OracleOptions {
  /** Stop searching after this many ms (the final whole runs come on top, a few hundred ms). Default 5000. */
  budgetMs?: number;
  /** How many of the best placements found are run whole and judged by the per-guest metric (default 4, release included). */
  rerank?: number;
  /** Largest mix searched (default 4 pCPUs, 8 vCPUs). */
  maxPcpus?: number;
  maxVcpus?: number;
  /** A group is simulated alone for settleS seconds, then measured for measureS (default 10 and 20), ending where the run ends. */
  settleS?: number;
  measureS?: number;
  /** Take a group with one more vCPU as no better than without it (default true; a heuristic bound). */
  monotone?: boolean;
}

export interface OracleResult {
  /** Per vCPU in scenario order: where the best placement found holds it. */
  placement: PlacedVcpu[];
  /** The bench's metric of that placement (worst guest's median fraction of fair share, second half). */
  worstFraction: number;
  /** The same placement's value in the search's own terms (min over vCPUs of received / fair share). */
  searchValue: number;
  /** The search's upper bound on any static placement's value (equal to searchValue when complete). */
  bound: number;
  /** Simulations run: group evaluations plus whole runs. */
  evaluated: number;
  ms: number;
  /** The search proved its best placement optimal (in its own terms) within the budget. */
  complete: boolean;
  /** The budget ran out before the search finished. */
  budgetHit: boolean;
  /** The whole-run metric of every placement judged at the end (release first). */
  judged: { placement: PlacedVcpu[]; searchValue: number; worstFraction: number }[];
}

/** The run's timing: the control loop takes its truth every interval from t = 0; the second half is judged. */
function runWindow(scenario: Scenario): { fromS: number; endS: number; fromInterval: number } {
  const truthful = scenario.intervals - 1;
  const fromInterval = 1 + Math.floor(truthful / 2);
  return { fromS: (fromInterval - 1) * scenario.intervalSeconds, endS: truthful * scenario.intervalSeconds, fromInterval };
}

/**
 * The scenario run with every vCPU held where `pinOf` says (null: unpinned) and no controller, as
 * the control loop would record it (truth every interval from t = 0): trace lines for the metric.
 */
export function runHeld(scenario: Scenario, pinOf: (domain: string, vcpu: number) => number[] | null): TraceLine[] {
  const held: Scenario = { ...scenario, domains: scenario.domains.map((d) => ({ ...d, pin: d.pin.map((_, i) => pinOf(d.name, i)) })) };
  const run = createSimulatedHost(held);
  const lines: TraceLine[] = [];
  for (let k = 0; k < scenario.intervals; k++) {
    if (k > 0) run.hypervisor.advance(scenario.intervalSeconds * 1000);
    const entry: TraceInterval = { type: 'interval', interval: k, timeMs: k * scenario.intervalSeconds * 1000, domains: [], actions: [], failures: [], notices: [], truth: traceTruth(run.truth()) };
    lines.push(entry);
  }
  return lines;
}

/** The bench's metric of a static placement (pinOf: null = unpinned). */
export function heldMetric(scenario: Scenario, pinOf: (domain: string, vcpu: number) => number[] | null): MixMetric {
  return mixMetric(runHeld(scenario, pinOf), scenario, { fromInterval: runWindow(scenario).fromInterval });
}

interface Vcpu {
  domain: string;
  index: number;
  /** Mean demand and fair share over the judged half, with nothing pinned. */
  demand: number;
  fair: number;
}

const ZERO: Workload = { kind: 'constant', value: 0 };

/** The workload seen from `t0` on: w'(t) = w(t + t0) (noise is drawn anew: the same in distribution). */
export function shiftWorkload(w: Workload, t0: number): Workload {
  if (t0 <= 0) return w;
  switch (w.kind) {
    case 'constant':
    case 'bursty':
      return w;
    case 'steps':
    case 'ramp': {
      const later = w.points.filter(([t]) => t > t0).map(([t, v]): [number, number] => [t - t0, v]);
      return { ...w, points: [[0, shapeValue(w, t0)], ...later] };
    }
    case 'onOff':
      return { ...w, phaseSeconds: (((w.phaseSeconds - t0) % w.periodSeconds) + w.periodSeconds) % w.periodSeconds };
  }
}
const popcount = (x: number): number => {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
};
const bitsOf = (mask: number, n: number): number[] => Array.from({ length: n }, (_, i) => i).filter((i) => mask & (1 << i));

export function bestStaticPlacement(scenario: Scenario, options: OracleOptions = {}): OracleResult {
  const started = performance.now();
  const budgetMs = options.budgetMs ?? 5000;
  const P = scenario.host.pcpus;
  const vcpus: Vcpu[] = scenario.domains.flatMap((d) => d.cpu.map((_, index) => ({ domain: d.name, index, demand: 0, fair: 0 })));
  const V = vcpus.length;
  if (P > (options.maxPcpus ?? 4) || V > (options.maxVcpus ?? 8)) {
    throw new Error(`oracle: ${P} pCPUs and ${V} vCPUs is beyond its reach (at most ${options.maxPcpus ?? 4} pCPUs and ${options.maxVcpus ?? 8} vCPUs)`);
  }
  const allPcpus = Array.from({ length: P }, (_, p) => p);
  const { fromS, endS, fromInterval } = runWindow(scenario);
  let evaluated = 0;

  // Fair shares once, from the whole mix with nothing pinned (demands do not depend on placement).
  const released = runHeld(scenario, () => null);
  evaluated++;
  const weightOf = new Map(scenario.domains.map((d) => [d.name, d.weight]));
  let counted = 0;
  for (const line of released) {
    if (line.type !== 'interval' || line.interval < fromInterval || !line.truth) continue;
    const t = line.truth.vcpus;
    const weights = t.map((v) => weightOf.get(v.domain) ?? 1);
    const fair = fairShares(t.map((v) => v.demand), P, guestCapacity(line), weights.some((w) => w !== 1) ? weights : undefined);
    t.forEach((v, k) => {
      vcpus[k]!.demand += v.demand;
      vcpus[k]!.fair += fair[k]!;
    });
    counted++;
  }
  for (const v of vcpus) {
    v.demand /= Math.max(1, counted);
    v.fair /= Math.max(1, counted);
  }
  /** vCPUs that ask (next to) nothing constrain nothing. */
  const matters = vcpus.map((v) => v.fair > 1e-6 && v.demand >= 0.005);

  // pCPUs with the same other load (or none) are interchangeable: a group is known by its kinds.
  const kindOf = allPcpus.map((p) => JSON.stringify((scenario.host.otherLoad ?? []).filter((o) => o.pcpu === p).map((o) => [o.load, o.weight])));
  const groupKey = (pm: number): string => bitsOf(pm, P).map((p) => kindOf[p]).sort().join('|');

  const classes = new Map<string, number>();
  const classOf = Array.from({ length: 1 << P }, (_, pm) => {
    const k = groupKey(pm);
    if (!classes.has(k)) classes.set(k, classes.size);
    return classes.get(k)!;
  });
  const W = 1 << V;
  /** Per (group kind, vCPU subset): the simulated value once known, else the upper bound. */
  const vals = new Float64Array(classes.size * W);
  const known = new Uint8Array(classes.size * W);
  /** Cheap upper bound on a group's value: r·fair ≤ demand (and ≤ 1), Σ r·fair ≤ the group's pCPUs. */
  const upper = (pm: number, vm: number): number => {
    let r = Infinity;
    let fairSum = 0;
    for (const i of bitsOf(vm, V)) {
      if (!matters[i]) continue;
      const v = vcpus[i]!;
      r = Math.min(r, (Math.min(1, v.demand) * 1.02 + 0.002) / v.fair);
      fairSum += v.fair;
    }
    if (fairSum > 0) r = Math.min(r, (popcount(pm) * 1.02) / fairSum);
    return r;
  };
  for (let pm = 1; pm < 1 << P; pm++) {
    const c = classOf[pm]!;
    for (let vm = 0; vm < W; vm++) {
      if (known[c * W + vm]) continue;
      const free = vm === 0 || !bitsOf(vm, V).some((i) => matters[i]);
      vals[c * W + vm] = free ? Infinity : upper(pm, vm);
      known[c * W + vm] = free ? 1 : 0;
    }
  }
  /**
   * Simulates the group alone: its vCPUs held on its pCPUs, the other vCPUs of their guests and the
   * other pCPUs' load asking nothing, guests without a vCPU in the group left out. Over the judged
   * window's last `measureS` seconds after `settleS` to settle (the workloads shifted in time, so the
   * simulation starts there instead of at 0).
   */
  const settleS = options.settleS ?? 10;
  const measureS = Math.min(options.measureS ?? 20, endS - fromS);
  const shiftS = Math.max(0, endS - measureS - settleS);
  const simulate = (pm: number, vm: number): number => {
    const group = bitsOf(pm, P);
    const members = new Map<string, number>();
    let flat = 0;
    const domains = scenario.domains.flatMap((d) => {
      const cpu = d.cpu.map((w, i) => {
        const inGroup = (vm & (1 << flat)) !== 0;
        if (inGroup) members.set(`${d.name}/${i}`, flat);
        flat++;
        return inGroup ? shiftWorkload(w, shiftS) : ZERO;
      });
      return cpu.some((w) => w !== ZERO) ? [{ ...d, cpu, pin: d.cpu.map(() => group) }] : [];
    });
    const sub: Scenario = {
      ...scenario,
      host: { ...scenario.host, otherLoad: (scenario.host.otherLoad ?? []).map((o) => (pm & (1 << o.pcpu) ? { ...o, load: shiftWorkload(o.load, shiftS) } : { ...o, load: ZERO })) },
      domains,
    };
    const run = createSimulatedHost(sub);
    run.hypervisor.advance(settleS * 1000);
    run.truth();
    run.hypervisor.advance(measureS * 1000);
    evaluated++;
    let r = Infinity;
    for (const v of run.truth().vcpus) {
      const i = members.get(`${v.domain}/${v.vcpu}`);
      if (i !== undefined && matters[i]) r = Math.min(r, v.received / vcpus[i]!.fair);
    }
    return r;
  };
  const value = (pm: number, vm: number): { v: number; known: boolean } => {
    const at = classOf[pm]! * W + vm;
    return { v: vals[at]!, known: known[at] === 1 };
  };
  const learn = (pm: number, vm: number): void => {
    const c = classOf[pm]!;
    const x = simulate(pm, vm);
    vals[c * W + vm] = x;
    known[c * W + vm] = 1;
    // Another vCPU in the same group takes from the others: a superset is (taken as) no better.
    // A heuristic bound (the tick physics does not promise it), which prunes most of the search.
    if (options.monotone ?? true) {
      const rest = (W - 1) & ~vm;
      for (let add = rest; add !== 0; add = (add - 1) & rest) {
        const at = c * W + (vm | add);
        if (!known[at] && vals[at]! > x) vals[at] = x;
      }
    }
  };

  type Group = { pm: number; vm: number };
  /** The dynamic programme over (pCPUs left, vCPUs left) with what is known so far. */
  const solve = (): { v: number; groups: Group[] } => {
    const fullP = (1 << P) - 1;
    const memo = new Map<number, { v: number; g: Group | undefined }>();
    const best = (pm: number, vm: number): number => {
      if (pm === 0) return vm === 0 ? Infinity : -Infinity;
      const id = pm * 512 + vm;
      const hit = memo.get(id);
      if (hit) return hit.v;
      const low = pm & -pm;
      const restP = pm & ~low;
      let bestV = -Infinity;
      let bestG: Group | undefined;
      // G: the lowest pCPU left and any subset of the others; S: any subset of the vCPUs left.
      for (let extra = restP; ; extra = (extra - 1) & restP) {
        const g = low | extra;
        for (let s = vm; ; s = (s - 1) & vm) {
          const here = vals[classOf[g]! * W + s]!;
          if (here > bestV) {
            const rest = best(pm & ~g, vm & ~s);
            const v = Math.min(here, rest);
            if (v > bestV) {
              bestV = v;
              bestG = { pm: g, vm: s };
            }
          }
          if (s === 0) break;
        }
        if (extra === 0) break;
      }
      memo.set(id, { v: bestV, g: bestG });
      return bestV;
    };
    const v = best(fullP, (1 << V) - 1);
    const groups: Group[] = [];
    let pm = fullP;
    let vm = (1 << V) - 1;
    while (pm !== 0) {
      const g = memo.get(pm * 512 + vm)!.g!;
      groups.push(g);
      pm &= ~g.pm;
      vm &= ~g.vm;
    }
    return { v, groups };
  };

  const placementOf = (groups: Group[]): PlacedVcpu[] =>
    vcpus.map((v, i) => {
      const g = groups.find((x) => x.vm & (1 << i))!;
      return { domain: v.domain, vcpu: v.index, pcpus: bitsOf(g.pm, P) };
    });
  const releaseGroups: Group[] = [{ pm: (1 << P) - 1, vm: (1 << V) - 1 }];
  const candidates = new Map<string, { groups: Group[]; v: number }>();
  const remember = (groups: Group[]): void => {
    const vals = groups.map((g) => value(g.pm, g.vm));
    if (!vals.every((x) => x.known)) return;
    const id = JSON.stringify(placementOf(groups));
    candidates.set(id, { groups, v: Math.min(...vals.map((x) => x.v)) });
  };
  learn(releaseGroups[0]!.pm, releaseGroups[0]!.vm);
  remember(releaseGroups);

  let complete = false;
  let budgetHit = false;
  let bound = Infinity;
  for (;;) {
    const { v, groups } = solve();
    bound = v;
    const open = groups.filter((g) => !value(g.pm, g.vm).known);
    if (open.length === 0) {
      remember(groups);
      complete = true;
      break;
    }
    if (performance.now() - started > budgetMs) {
      budgetHit = true;
      break;
    }
    for (const g of open) learn(g.pm, g.vm);
    remember(groups);
  }

  // Judge the best few whole, by the bench's own metric; release is always among them.
  const ranked = [...candidates.values()].sort((a, b) => b.v - a.v);
  const releaseId = JSON.stringify(placementOf(releaseGroups));
  const chosen = ranked.slice(0, Math.max(1, options.rerank ?? 4));
  if (!chosen.some((c) => JSON.stringify(placementOf(c.groups)) === releaseId)) chosen.push(candidates.get(releaseId)!);
  const judged = chosen.map((c) => {
    const placement = placementOf(c.groups);
    const where = new Map(placement.map((p) => [`${p.domain}/${p.vcpu}`, p.pcpus]));
    const lines = c.groups.length === 1 && c.groups[0]!.pm === (1 << P) - 1 ? released : runHeld(scenario, (d, i) => where.get(`${d}/${i}`)!);
    if (lines !== released) evaluated++;
    return { placement, searchValue: c.v, worstFraction: mixMetric(lines, scenario, { fromInterval }).worstFraction };
  });
  judged.sort((a, b) => b.worstFraction - a.worstFraction);
  const top = judged[0]!;
  return {
    placement: top.placement,
    worstFraction: top.worstFraction,
    searchValue: top.searchValue,
    bound: Math.max(bound, top.searchValue),
    evaluated,
    ms: performance.now() - started,
    complete,
    budgetHit,
    judged,
  };
}
