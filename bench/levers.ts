// Which lever wins: pins or CPU weights, on which mix (issue #17, item 3). A study on the simulated
// host's tick model (src/host/sim/physics.ts, clock-bound.ts), not the policy: every configuration is
// fixed for the whole run (pins and weights set at boot, no controller).
//
// A clock-bound (bursty) guest beside busy ones gets less than it asks: the host shares a pCPU by
// weight among the threads runnable *now*, and the bursty window ends by the clock whether or not it
// ran. Two levers can help it: pins (keep it away from busy threads: the grouped placement) and its
// CPU weight (cpu_shares: it gets more of the pCPU while its window lasts, and finishes it).
//
// Configurations per mix:
//   none          nothing pinned (the host scheduler alone), every weight 1
//   w×2, ×4, ×8   nothing pinned, the bursty guests' weight ×2, ×4, ×8
//   grouped       clock-bound vCPUs on k pCPUs of their own (shared set), busy ones on the rest (best k)
//   grouped w×4   the same with the bursty guests' weight ×4
//   pairs         round-robin one-pCPU pins, bursty interleaved with busy (cpu-12's start)
//   pairs w×k     the same with the bursty guests' weight ×2, ×4, ×8
// Metric: per guest, the median over the run's second half of (received / max-min fair share), the
// fair share computed from the *configured* weights (all 1: a weight set as a lever does not make a
// guest matter more) over the simulator's truth (what each vCPU asked and received); the table shows
// the worst guest's, averaged over seeds. 1.00 = every guest got its fair share.
//
// Run alone with `node dist/bench/levers.js`; VB_BENCH_SEEDS (default 3) seeds per cell,
// VB_LEVERS_INTERVALS (default 30) intervals of 2 s per run.
import { pathToFileURL } from 'node:url';
import { createSimulatedHost, parseScenario } from '../src/host/sim/index.js';
import { traceTruth } from '../src/control/simulate.js';
import { fairShares } from '../src/score/fairness.js';
import { refuseArguments } from './no-arguments.js';

const SEEDS = Math.max(1, Number(process.env.VB_BENCH_SEEDS ?? 3));
const INTERVALS = Math.max(4, Number(process.env.VB_LEVERS_INTERVALS ?? 30));
const INTERVAL_S = 2;

function log(s: string): void {
  console.log(`[bench levers] ${s}`);
}

/** One vCPU's workload: busy (always runnable) or bursty (clock-bound window of `duty` every `periodMs`). */
type Shape = { busy: true } | { duty: number; periodMs: number };
const busy: Shape = { busy: true };
const bursty = (duty: number, periodMs = 100): Shape => ({ duty, periodMs });
const isBursty = (s: Shape): s is { duty: number; periodMs: number } => !('busy' in s);

interface Guest {
  name: string;
  vcpus: Shape[];
}

interface Mix {
  name: string;
  pcpus: number;
  guests: Guest[];
}

/** A bursty guest: one with a clock-bound vCPU (its weight is the lever). */
const burstyGuest = (g: Guest): boolean => g.vcpus.some(isBursty);

function guests(prefix: string, n: number, vcpus: Shape[], from = 1): Guest[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}${from + i}`, vcpus }));
}

export const mixes: Mix[] = [
  { name: '2 busy + 2 bursty (0.4/100 ms) on 2 (cpu-12)', pcpus: 2, guests: [...guests('busy', 2, [busy]), ...guests('burst', 2, [bursty(0.4)])] },
  { name: '3 busy + 3 bursty (0.4/50 ms) on 2', pcpus: 2, guests: [...guests('busy', 3, [busy]), ...guests('burst', 3, [bursty(0.4, 50)])] },
  { name: '4 busy + 4 bursty (0.4/100 ms) on 4 (cpu-13)', pcpus: 4, guests: [...guests('busy', 4, [busy]), ...guests('burst', 4, [bursty(0.4)])] },
  { name: '2 busy + 2 bursty (0.2/100 ms) on 2', pcpus: 2, guests: [...guests('busy', 2, [busy]), ...guests('burst', 2, [bursty(0.2)])] },
  { name: '2 busy + 2 bursty (0.6/100 ms) on 2', pcpus: 2, guests: [...guests('busy', 2, [busy]), ...guests('burst', 2, [bursty(0.6)])] },
  { name: '2 two-vCPU (busy + bursty 0.4) + 2 busy on 3', pcpus: 3, guests: [...guests('mixed', 2, [busy, bursty(0.4)]), ...guests('busy', 2, [busy])] },
  { name: '6 busy + 2 bursty (0.4/100 ms) on 4', pcpus: 4, guests: [...guests('busy', 6, [busy]), ...guests('burst', 2, [bursty(0.4)])] },
];

/** Where each vCPU may run (by guest, by vCPU; undefined: anywhere) and each guest's weight. */
interface Configuration {
  name: string;
  pins?: (g: number, v: number) => number[];
  burstyWeight: number;
}

/** Clock-bound vCPUs on pCPUs 0..k-1 (a shared set), every other one on k..P-1. */
function grouped(mix: Mix, k: number): (g: number, v: number) => number[] {
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  return (g, v) => (isBursty(mix.guests[g]!.vcpus[v]!) ? range(0, k) : range(k, mix.pcpus));
}

/** One-pCPU pins, round-robin over the vCPUs with the clock-bound ones first: each bursty vCPU beside busy ones (as cpu-12 starts). */
function pairs(mix: Mix): (g: number, v: number) => number[] {
  const order: string[] = [];
  mix.guests.forEach((guest, g) => guest.vcpus.forEach((s, v) => isBursty(s) && order.push(`${g}/${v}`)));
  mix.guests.forEach((guest, g) => guest.vcpus.forEach((s, v) => !isBursty(s) && order.push(`${g}/${v}`)));
  return (g, v) => [order.indexOf(`${g}/${v}`) % mix.pcpus];
}

function scenarioYaml(mix: Mix, config: Configuration, seed: number): string {
  const lines = [
    `name: levers`,
    `controllers: [cpu]`,
    `interval: ${INTERVAL_S}`,
    `intervals: ${INTERVALS}`,
    `seed: ${seed}`,
    `host: { pcpus: ${mix.pcpus}, memoryMiB: 8192, overheadMiB: 512 }`,
    `domains:`,
  ];
  mix.guests.forEach((guest, g) => {
    const cpu = guest.vcpus.map((s) => (isBursty(s) ? `{ bursty: { duty: ${s.duty}, period: ${s.periodMs} } }` : '1.0'));
    const pin = config.pins ? `, pin: [${guest.vcpus.map((_, v) => `[${config.pins!(g, v).join(', ')}]`).join(', ')}]` : '';
    const weight = burstyGuest(guest) && config.burstyWeight !== 1 ? `, weight: ${config.burstyWeight}` : '';
    lines.push(`  - { name: ${guest.name}, memoryMiB: 256, vcpus: ${guest.vcpus.length}${pin}${weight}, workload: { cpu: [${cpu.join(', ')}] } }`);
  });
  return lines.join('\n') + '\n';
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Outcome {
  /** The worst guest's median fraction of its fair share over the second half. */
  worst: number;
  /** The same over the bursty guests only, and over the others. */
  worstBursty: number;
  worstBusy: number;
}

/** Runs one fixed configuration on one seed; the fair shares from configured weights (all 1). */
export async function runConfiguration(mix: Mix, config: Configuration, seed: number, intervals = INTERVALS): Promise<Outcome> {
  const run = createSimulatedHost(parseScenario(scenarioYaml(mix, config, seed), 'levers.yaml'));
  const fractions = new Map<string, number[]>(mix.guests.map((g) => [g.name, []]));
  for (let i = 0; i < intervals; i++) {
    await run.clock.sleep(INTERVAL_S * 1000);
    const truth = traceTruth(run.truth());
    if (i < Math.floor(intervals / 2)) continue;
    // Configured weights: every guest 1, whatever weight it runs with here.
    const fair = fairShares(truth.vcpus.map((v) => v.demand), mix.pcpus);
    for (const g of mix.guests) {
      let got = 0;
      let owed = 0;
      truth.vcpus.forEach((v, k) => {
        if (v.domain !== g.name) return;
        got += v.received;
        owed += fair[k]!;
      });
      if (owed > 0) fractions.get(g.name)!.push(got / owed);
    }
  }
  const medians = mix.guests.map((g) => ({ bursty: burstyGuest(g), m: median(fractions.get(g.name)!) }));
  const min = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
  return { worst: min(medians.map((x) => x.m)), worstBursty: min(medians.filter((x) => x.bursty).map((x) => x.m)), worstBusy: min(medians.filter((x) => !x.bursty).map((x) => x.m)) };
}

async function averaged(mix: Mix, config: Configuration): Promise<Outcome> {
  const outcomes: Outcome[] = [];
  for (let s = 1; s <= SEEDS; s++) outcomes.push(await runConfiguration(mix, config, s));
  const mean = (f: (o: Outcome) => number) => outcomes.reduce((a, o) => a + f(o), 0) / outcomes.length;
  return { worst: mean((o) => o.worst), worstBursty: mean((o) => o.worstBursty), worstBusy: mean((o) => o.worstBusy) };
}

type Family = 'nothing' | 'weights' | 'pins' | 'both';

interface Column {
  name: string;
  family: Family;
  configs: (mix: Mix) => Configuration[];
}

const clockBoundVcpus = (mix: Mix): number => mix.guests.reduce((n, g) => n + g.vcpus.filter(isBursty).length, 0);
/** Every split with at least one pCPU on each side (the best is reported). */
const splits = (mix: Mix): number[] => Array.from({ length: Math.min(mix.pcpus - 1, clockBoundVcpus(mix)) }, (_, i) => i + 1);

const columns: Column[] = [
  { name: 'none', family: 'nothing', configs: () => [{ name: 'none', burstyWeight: 1 }] },
  ...[2, 4, 8].map((w): Column => ({ name: `w×${w}`, family: 'weights', configs: () => [{ name: `w×${w}`, burstyWeight: w }] })),
  { name: 'grouped', family: 'pins', configs: (mix) => splits(mix).map((k) => ({ name: `grouped k=${k}`, pins: grouped(mix, k), burstyWeight: 1 })) },
  { name: 'grouped w×4', family: 'both', configs: (mix) => splits(mix).map((k) => ({ name: `grouped k=${k} w×4`, pins: grouped(mix, k), burstyWeight: 4 })) },
  { name: 'pairs', family: 'pins', configs: (mix) => [{ name: 'pairs', pins: pairs(mix), burstyWeight: 1 }] },
  ...[2, 4, 8].map((w): Column => ({ name: `pairs w×${w}`, family: 'both', configs: (mix) => [{ name: `pairs w×${w}`, pins: pairs(mix), burstyWeight: w }] })),
];

interface Cell {
  column: Column;
  config: string;
  outcome: Outcome;
}

const f2 = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(2));

export async function runLeversBench(): Promise<void> {
  log(`worst guest's median received / max-min fair share (configured weights, all 1), second half of ${INTERVALS} × ${INTERVAL_S} s, mean of ${SEEDS} seed${SEEDS === 1 ? '' : 's'}; fixed configurations, no controller`);
  const header = `| mix | ${columns.map((c) => c.name).join(' | ')} |`;
  const rows: string[] = [header, `| --- |${columns.map(() => ' ---: |').join('')}`];
  const conclusions: string[] = [];
  const started = Date.now();
  for (const mix of mixes) {
    const cells: Cell[] = [];
    for (const column of columns) {
      let best: Cell | undefined;
      for (const config of column.configs(mix)) {
        const outcome = await averaged(mix, config);
        if (!best || outcome.worst > best.outcome.worst + 1e-9) best = { column, config: config.name, outcome };
      }
      cells.push(best!);
    }
    rows.push(`| ${mix.name} | ${cells.map((c) => f2(c.outcome.worst)).join(' | ')} |`);
    for (const c of cells) log(`  ${mix.name} · ${c.config}: worst ${f2(c.outcome.worst)} (bursty guests ${f2(c.outcome.worstBursty)}, busy ${f2(c.outcome.worstBusy)})`);
    conclusions.push(conclude(mix, cells));
  }
  console.log('');
  console.log(rows.join('\n'));
  console.log('');
  for (const c of conclusions) console.log(c);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Which family wins on this mix, and by how much (points of fair share) over the best of the others. */
function conclude(mix: Mix, cells: Cell[]): string {
  // The gentlest of a family (fewest pins, smallest weight: listed first) unless another is better by more than noise.
  const bestOf = (family: Family) => cells.filter((c) => c.column.family === family).reduce<Cell | undefined>((b, c) => (!b || c.outcome.worst > b.outcome.worst + 0.005 ? c : b), undefined)!;
  const nothing = bestOf('nothing');
  const weights = bestOf('weights');
  const pins = bestOf('pins');
  const both = bestOf('both');
  const pts = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 100)} pts`;
  const best = [weights, pins, both].reduce((b, c) => (c.outcome.worst > b.outcome.worst + 0.005 ? c : b));
  const verdict =
    nothing.outcome.worst >= best.outcome.worst - 0.005
      ? `no lever helps: nothing pinned at weight 1 is best (${f2(nothing.outcome.worst)}); the best pins (${pins.config}) ${f2(pins.outcome.worst)}, the best weights (${weights.config}) ${f2(weights.outcome.worst)}`
      : best === weights
      ? `weights alone win: ${best.config} ${f2(best.outcome.worst)}, ${pts(best.outcome.worst - pins.outcome.worst)} over the best pins (${pins.config})`
      : best === pins
        ? `pins alone win: ${best.config} ${f2(best.outcome.worst)}, ${pts(best.outcome.worst - weights.outcome.worst)} over the best weights alone (${weights.config})`
        : `pins and weights together win: ${best.config} ${f2(best.outcome.worst)}, ${pts(best.outcome.worst - Math.max(pins.outcome.worst, weights.outcome.worst))} over either alone (pins ${pins.config} ${f2(pins.outcome.worst)}, weights ${weights.config} ${f2(weights.outcome.worst)})`;
  return `${mix.name}: ${verdict}${nothing.outcome.worst >= best.outcome.worst - 0.005 ? '' : `; nothing pinned ${f2(nothing.outcome.worst)}`}.`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  refuseArguments('levers', 'VB_LEVERS_INTERVALS');
  await runLeversBench();
}
