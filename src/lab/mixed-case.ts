// Mixes of busy and bursty vCPUs on real guests (issue #11's mixed case, issue #17's mixes). A mix
// describes its guests, each vCPU's load (duty, and period: vb-workload spins by the clock for duty
// of every period, so a burst kept waiting is not made up) and the pCPU it starts pinned to. One
// round of a mode measures, per guest and vCPU, what it received over a window after settling (vCPU
// time), what it asked (its duty; the measured time + delay beside it), its max-min fair share
// computed from the duties over the host's pCPUs, and the fraction of that fair share it got.
//   run             `virtbalance run --cpu` (fairness objective), scoped with --only;
//   vcpu_scheduler  the drop-in, scoped likewise (the assignment's objective: balanced usage);
//   nothing         every vCPU unpinned: the host's scheduler alone;
//   oracle          a fixed reference placement (referencePlacement) pinned once, no controller.
// Each mix is also a simulator Scenario (mixScenario), so the same mix can go to the simulator's
// oracle or a `sim` run.
import { rmSync } from 'node:fs';
import { fairSharesOf } from '../cpu/sharing.js';
import { UNANSWERED_NOTICE } from '../control/loop.js';
import { parseScenario, type ControllerKind, type Scenario } from '../host/sim/index.js';
import { seededRandom } from '../host/sim/random.js';
import type { TraceInterval } from '../ground/trace-record.js';
import { readTraceIntervals, sleep, type BenchWindow, type LabBench } from './bench-session.js';
import { formatCpuLoad, type WorkloadController } from './workload-channel.js';

export const BUSY_DUTY = 1.0;
export const BURSTY_DUTY = 0.4;
export type MixedMode = 'run' | 'vcpu_scheduler' | 'nothing' | 'oracle';
export const MIXED_MODES: readonly MixedMode[] = ['run', 'vcpu_scheduler', 'nothing', 'oracle'];

/** One vCPU of a mix: its load and the pCPU it is pinned to at the start of each round. */
export interface MixVcpu {
  duty: number;
  /** ms; undefined = vb-workload's default 100 ms. */
  periodMs?: number;
  startPcpu: number;
}

export interface MixGuest {
  /** The scenario domain name; the lab guest is prefix + name. */
  name: string;
  vcpus: MixVcpu[];
}

export interface Mix {
  name: string;
  description: string;
  /** The host's pCPUs the mix is sized for (its start pins and reference placement use them). */
  pcpus: number;
  guests: MixGuest[];
}

/** One vCPU's pins, the oracle's placement shape (src/host/sim/oracle.ts). */
export interface VcpuPins {
  domain: string;
  vcpu: number;
  pcpus: number[];
}

const busy = (startPcpu: number): MixVcpu => ({ duty: BUSY_DUTY, startPcpu });
const bursty = (startPcpu: number, duty = BURSTY_DUTY, periodMs?: number): MixVcpu => (periodMs === undefined ? { duty, startPcpu } : { duty, periodMs, startPcpu });
const one = (name: string, vcpu: MixVcpu): MixGuest => ({ name, vcpus: [vcpu] });

/**
 * The mixes, by name. Start pins are the placement a spread-minimising scheduler picks (the pCPUs'
 * summed duties as even as the vCPUs allow; mix-3-3: as even as they can be with busy and bursty
 * vCPUs on both pCPUs).
 */
export const MIXES: Readonly<Record<string, Mix>> = {
  'mix-2-2': {
    name: 'mix-2-2',
    description: 'issue #11: 2 busy + 2 bursty (0.4 of 100 ms) one-vCPU guests; each pCPU one busy + one bursty',
    pcpus: 2,
    guests: [one('busy1', busy(0)), one('busy2', busy(1)), one('bursty1', bursty(0)), one('bursty2', bursty(1))],
  },
  'mix-3-3': {
    name: 'mix-3-3',
    description: '3 busy + 3 bursty (0.4 of 50 ms) one-vCPU guests; pCPU0 busy1, busy3, bursty2 (2.4 asked), pCPU1 busy2, bursty1, bursty3 (1.8)',
    pcpus: 2,
    guests: [
      one('busy1', busy(0)), one('busy2', busy(1)), one('busy3', busy(0)),
      one('bursty1', bursty(1, 0.4, 50)), one('bursty2', bursty(0, 0.4, 50)), one('bursty3', bursty(1, 0.4, 50)),
    ],
  },
  'mix-2vcpu': {
    name: 'mix-2vcpu',
    description: '3 two-vCPU guests of unequal duties: vm1, vm2 one busy vCPU + one 0.3 of 100 ms, vm3 two 0.3; pCPU0 vm1\'s busy vCPU and vm3\'s two (1.6 asked), pCPU1 vm2\'s busy vCPU and the 0.3s of vm1 and vm2 (1.6)',
    pcpus: 2,
    guests: [
      { name: 'vm1', vcpus: [busy(0), bursty(1, 0.3)] },
      { name: 'vm2', vcpus: [busy(1), bursty(1, 0.3)] },
      { name: 'vm3', vcpus: [bursty(0, 0.3), bursty(0, 0.3)] },
    ],
  },
  'mix-periods': {
    name: 'mix-periods',
    description: '2 busy + 2 bursty one-vCPU guests of different periods (0.4 of 20 ms, 0.4 of 100 ms); each pCPU one busy + one bursty',
    pcpus: 2,
    guests: [one('busy1', busy(0)), one('busy2', busy(1)), one('fast', bursty(0, 0.4, 20)), one('slow', bursty(1, 0.4, 100))],
  },
};

/** `mixed` is mix-2-2 (the bench's case name before there were others). */
export const MIX_ALIASES: Readonly<Record<string, string>> = { mixed: 'mix-2-2' };

/** The mix of that name (or alias); undefined when there is none. */
export function mixByName(name: string): Mix | undefined {
  return MIXES[MIX_ALIASES[name] ?? name];
}

/** The same mix, each vCPU starting on a pCPU drawn from `seed` instead (issue #11's "randomly pinned"); the same seed gives the same pins. */
export function withRandomStart(mix: Mix, seed: number, hostPcpus = mix.pcpus): Mix {
  const random = seededRandom(seed);
  return { ...mix, guests: mix.guests.map((g) => ({ ...g, vcpus: g.vcpus.map((v) => ({ ...v, startPcpu: Math.min(hostPcpus - 1, Math.floor(random() * hostPcpus)) })) })) };
}

/** `busy` for a duty of 1, else `0.4@50` (duty@period; the default period is not written). */
export function describeLoad(v: Pick<MixVcpu, 'duty' | 'periodMs'>): string {
  return v.duty >= 1 ? 'busy' : formatCpuLoad(v);
}

/** `busy`, `0.4@50`, or per vCPU `busy+0.3`. */
export function describeGuest(g: MixGuest): string {
  return g.vcpus.map(describeLoad).join('+');
}

/** The max-min fair share of every vCPU (per guest, per vCPU) and of each guest (its vCPUs' sum), from the duties, over `hostPcpus` (of `capacity` each, when given). */
export function mixFairShares(mix: Mix, hostPcpus: number, capacity?: readonly number[]): { vcpu: number[][]; guest: number[] } {
  const flat = fairSharesOf(mix.guests.flatMap((g) => g.vcpus.map((v) => v.duty)), hostPcpus, capacity);
  let k = 0;
  const vcpu = mix.guests.map((g) => g.vcpus.map(() => flat[k++]!));
  return { vcpu, guest: vcpu.map((xs) => xs.reduce((a, b) => a + b, 0)) };
}

/** The start pins, one entry per vCPU. */
export function startPlacement(mix: Mix): VcpuPins[] {
  return mix.guests.flatMap((g) => g.vcpus.map((v, vcpu) => ({ domain: g.name, vcpu, pcpus: [v.startPcpu] })));
}

/**
 * Hand-found placements that keep busy vCPUs apart from bursty ones (a clock-bound burst beside a
 * busy vCPU loses what it waited; beside other bursts it mostly fits): the reference the oracle mode
 * replays. mix-2-2 / mix-periods: the busy pair on pCPU0 (50 % each, 83 % of their 60 % fair share),
 * the bursty pair on pCPU1 (40 % each asked, 0.8 of the pCPU); mix-3-3: the 3 busy on pCPU0 (33 %
 * each, their fair share), the 3 bursty on pCPU1 (1.2 asked: 33 % each, their fair share too);
 * mix-2vcpu: the two busy vCPUs on pCPU0 (50 % each), the four 0.3 ones on pCPU1 (1.2 asked, 25 %
 * each). Each is the best one-pCPU-per-vCPU placement the simulator found trying them all (worst
 * guest 83 % of its fair share in mix-2-2 and mix-2vcpu, 91 % in mix-3-3, 80 % in mix-periods; the
 * start pins 41-50 %: test/lab/mixed-case.test.ts).
 */
export const HAND_PLACEMENTS: Readonly<Record<string, readonly VcpuPins[]>> = {
  'mix-2-2': [pins('busy1', 0, 0), pins('busy2', 0, 0), pins('bursty1', 0, 1), pins('bursty2', 0, 1)],
  'mix-3-3': [pins('busy1', 0, 0), pins('busy2', 0, 0), pins('busy3', 0, 0), pins('bursty1', 0, 1), pins('bursty2', 0, 1), pins('bursty3', 0, 1)],
  'mix-2vcpu': [pins('vm1', 0, 0), pins('vm2', 0, 0), pins('vm1', 1, 1), pins('vm2', 1, 1), pins('vm3', 0, 1), pins('vm3', 1, 1)],
  'mix-periods': [pins('busy1', 0, 0), pins('busy2', 0, 0), pins('fast', 0, 1), pins('slow', 0, 1)],
};

function pins(domain: string, vcpu: number, pcpu: number): VcpuPins {
  return { domain, vcpu, pcpus: [pcpu] };
}

/**
 * The placement the oracle mode pins once and leaves. Today a hand-found one per mix; once
 * src/host/sim/oracle.ts lands, one line switches it to the simulator's best static placement:
 *   return bestStaticPlacement(mixScenario(mix), { budgetMs: 20_000 }).placement;
 */
export function referencePlacement(mix: Mix): VcpuPins[] {
  const hand = HAND_PLACEMENTS[mix.name];
  if (!hand) throw new Error(`no reference placement for mix ${mix.name}`);
  return checkPlacement(mix, hand);
}

/** A placement with exactly one entry per vCPU of the mix, each on pCPUs below mix.pcpus (else an error naming what is wrong). */
export function checkPlacement(mix: Mix, placement: readonly VcpuPins[]): VcpuPins[] {
  const want = new Set(mix.guests.flatMap((g) => g.vcpus.map((_, v) => `${g.name}/${v}`)));
  const seen = new Set<string>();
  for (const p of placement) {
    const key = `${p.domain}/${p.vcpu}`;
    if (!want.has(key)) throw new Error(`placement for ${mix.name} names ${key}, not a vCPU of the mix`);
    if (seen.has(key)) throw new Error(`placement for ${mix.name} names ${key} twice`);
    if (p.pcpus.length === 0 || p.pcpus.some((c) => !Number.isInteger(c) || c < 0 || c >= mix.pcpus)) throw new Error(`placement for ${mix.name}: ${key} on pCPUs ${p.pcpus.join(',')} (the mix has ${mix.pcpus})`);
    seen.add(key);
  }
  const missing = [...want].filter((k) => !seen.has(k));
  if (missing.length > 0) throw new Error(`placement for ${mix.name} leaves out ${missing.join(', ')}`);
  return placement.map((p) => ({ ...p, pcpus: [...p.pcpus] }));
}

/** `busy1→0 bursty1→1`, a guest of several vCPUs `vm1→0|1`. */
export function describePlacement(mix: Mix, placement: readonly VcpuPins[]): string {
  return mix.guests.map((g) => `${g.name}→${g.vcpus.map((_, v) => placement.find((p) => p.domain === g.name && p.vcpu === v)?.pcpus.join(',') ?? '?').join('|')}`).join(' ');
}

/**
 * The mix as a simulator scenario: one domain per guest (256 MiB), a duty of 1 as a constant busy
 * vCPU and anything less as `bursty: {duty, period}`, the start pins (or `placement`) as the
 * scenario's pins, the cpu controller (or `controllers`) every `intervalSeconds`. Built through the scenario reader, so it is valid.
 */
export function mixScenario(mix: Mix, opts: { intervalSeconds?: number; intervals?: number; seed?: number; controllers?: ControllerKind[]; placement?: readonly VcpuPins[] } = {}): Scenario {
  const placement = checkPlacement(mix, opts.placement ?? startPlacement(mix));
  const pinOf = (domain: string, vcpu: number) => placement.find((p) => p.domain === domain && p.vcpu === vcpu)!.pcpus;
  const doc = {
    name: mix.name,
    description: `${mix.description} (the lab bench's mix, src/lab/mixed-case.ts)`,
    controllers: opts.controllers ?? ['cpu'],
    interval: opts.intervalSeconds ?? 2,
    intervals: opts.intervals ?? 60,
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    host: { pcpus: mix.pcpus, memoryMiB: 4096, overheadMiB: 512 },
    domains: mix.guests.map((g) => ({
      name: g.name,
      vcpus: g.vcpus.length,
      memoryMiB: 256,
      pin: g.vcpus.map((_, v) => pinOf(g.name, v)),
      workload: { cpu: g.vcpus.map((v) => (v.duty >= 1 ? 1 : { bursty: { duty: v.duty, period: v.periodMs ?? 100 } })) },
    })),
  };
  // JSON is YAML: the reader checks every field as it would a file's.
  return parseScenario(JSON.stringify(doc), `mix ${mix.name}`);
}

/** A mix played on lab guests: guest `name` is the lab guest `prefix + name`. */
export interface LabMix {
  mix: Mix;
  prefix: string;
}

export const labNameOf = (lab: LabMix, guest: string) => `${lab.prefix}${guest}`;

export interface MixedVcpuResult {
  duty: number;
  periodMs?: number;
  received: number;
  delay: number;
  fair: number;
  fraction: number;
}

export interface MixedGuestResult {
  /** The lab guest's name. */
  name: string;
  /** `busy`, `0.4@50`, `busy+0.3`. */
  role: string;
  /** Its vCPUs' duties summed. */
  duty: number;
  /** Share of one pCPU its vCPUs ran over the window (summed). */
  received: number;
  /** Share of the window its vCPUs waited for a pCPU while runnable (summed). */
  delay: number;
  /** Its vCPUs' max-min fair shares, summed. */
  fair: number;
  /** received / fair. */
  fraction: number;
  /** Its max-min fair share of what the window left after all work other than these vCPUs (other processes, QEMU's own threads), spread evenly over the pCPUs. */
  fairLeft: number;
  /** received / fairLeft. */
  fractionLeft: number;
  /** Each vCPU's figures. */
  vcpus: MixedVcpuResult[];
  /** Its vCPUs' affinities read back just before the mode started. */
  startAffinity: number[][];
}

/** What the scheduler's trace said about one vCPU over the window (means over the window's intervals). */
export interface TracedVcpu {
  domain: string;
  vcpu: number;
  intervals: number;
  usage: number;
  demand: number;
  /** Mean predicted share over the intervals that had one (undefined: none had). */
  predicted?: number;
  /** Other numeric or boolean fields the scheduler records per vCPU (what it learned), means over the window (a boolean absent in an interval counts as false). */
  extra: Record<string, number>;
}

export interface MixedRound {
  mode: MixedMode;
  guests: MixedGuestResult[];
  /** Smallest guest fraction of fair share. */
  worst: number;
  /** Smallest vCPU fraction of fair share. */
  worstVcpu: number;
  /** Smallest guest fraction of the fair share of what other work left. */
  worstLeft: number;
  window: BenchWindow;
  /** Affinities at the end of the window. */
  endPlacement: string;
  /** Pin changes the controller made during the window (from its trace); 0 for nothing and oracle (no controller). */
  pinChangesInWindow: number;
  traced?: TracedVcpu[];
  /** Every domain the controller's trace named during the window (its scope). */
  tracedDomains?: string[];
  /** Notices the controller wrote to its trace, distinct. */
  notices: string[];
  /** Domains the controller found with their QEMU not answering during the round (a stalled guest: its figure is the stall's too). */
  stalled: string[];
  /** The controller's last output lines (when it failed or for the record). */
  tail: string[];
}

export interface MixedRoundOptions {
  intervalSeconds: number;
  /** Intervals the controller runs before the window starts. */
  settleIntervals: number;
  windowSeconds: number;
  /** A directory for the controller's trace. */
  traceDir: string;
  /** Extra arguments for `run` (e.g. `--objective fairness` where the flag exists). */
  runArgs?: string[];
  /** The oracle mode's placement (default: referencePlacement(mix)). */
  reference?: readonly VcpuPins[];
}

async function applyPlacement(bench: LabBench, lab: LabMix, placement: readonly VcpuPins[]): Promise<void> {
  for (const p of placement) await bench.pinVcpu(labNameOf(lab, p.domain), p.vcpu, p.pcpus);
}

/** Sets every vCPU's duty and period, applies the starting pins and checks they read back. */
export async function prepareMixed(bench: LabBench, workload: WorkloadController, lab: LabMix): Promise<Map<string, number[][]>> {
  for (const g of lab.mix.guests) await workload.setCpu(labNameOf(lab, g.name), g.vcpus.map((v) => (v.periodMs === undefined ? v.duty : { duty: v.duty, periodMs: v.periodMs })));
  await applyPlacement(bench, lab, startPlacement(lab.mix));
  const affinity = await bench.vcpuAffinities();
  for (const g of lab.mix.guests) {
    const a = affinity.get(labNameOf(lab, g.name));
    g.vcpus.forEach((v, i) => {
      const got = a?.[i];
      if (!got || got.length !== 1 || got[0] !== v.startPcpu) throw new Error(`${labNameOf(lab, g.name)} vCPU${i}: pinned to pCPU${v.startPcpu} but reads back ${got?.join(',') ?? 'nothing'}`);
    });
  }
  return affinity;
}

/** One round of one mode, from the starting pins. */
export async function mixedRound(bench: LabBench, workload: WorkloadController, lab: LabMix, mode: MixedMode, opts: MixedRoundOptions, round: number): Promise<MixedRound> {
  const mix = lab.mix;
  const startAffinity = await prepareMixed(bench, workload, lab);
  await sleep(1_000);
  let window: BenchWindow;
  let traced: TracedVcpu[] | undefined;
  let tracedDomains: string[] | undefined;
  let pinChangesInWindow = 0;
  let notices: string[] = [];
  let stalled: string[] = [];
  let tail: string[] = [];
  let endPlacement: string;
  if (mode === 'nothing' || mode === 'oracle') {
    if (mode === 'nothing') await bench.pinAll(bench.all);
    else await applyPlacement(bench, lab, opts.reference ?? referencePlacement(mix));
    // The window opens as long after the starting pins as a controller's does (its settling intervals): every mode is
    // measured at the same time into its round, so modes differ by placement, not by when they were measured.
    await sleep(Math.max(2_000, opts.settleIntervals * opts.intervalSeconds * 1000));
    window = await bench.measure(opts.windowSeconds);
    endPlacement = await bench.placement();
  } else {
    const trace = `${opts.traceDir}/${mode}-round${round}.jsonl`;
    // A trace left by an earlier bench in a kept directory would count as this run's intervals and open the window at once.
    rmSync(trace, { force: true });
    const only = `${bench.prefix}*`;
    const args = mode === 'run'
      ? ['run', '--cpu', '--connect', bench.uri, '--interval', String(opts.intervalSeconds), '--only', only, '--trace', trace, '--quiet', ...(opts.runArgs ?? [])]
      : ['vcpu_scheduler', String(opts.intervalSeconds), '--connect', bench.uri, '--only', only, '--trace', trace];
    const child = bench.startCli(args);
    try {
      const deadline = Date.now() + (opts.settleIntervals + 5) * opts.intervalSeconds * 1000 + 15_000;
      let seen: TraceInterval[] = [];
      while ((seen = readTraceIntervals(trace)).length < opts.settleIntervals) {
        if (child.process.exitCode !== null || child.process.signalCode !== null) throw new Error(`${mode} exited early (${child.process.exitCode ?? child.process.signalCode}):\n${child.output.slice(-8).join('\n')}`);
        if (Date.now() > deadline) throw new Error(`${mode} wrote ${seen.length} of ${opts.settleIntervals} intervals in time:\n${child.output.slice(-8).join('\n')}`);
        await sleep(200);
      }
      const first = seen.length;
      window = await bench.measure(opts.windowSeconds);
      endPlacement = await bench.placement();
      await child.stop();
      const all = readTraceIntervals(trace);
      const inWindow = all.slice(first);
      pinChangesInWindow = inWindow.reduce((n, e) => n + e.actions.filter((a) => a.kind === 'pin').length, 0);
      traced = traceSummary(inWindow, mix.guests.flatMap((g) => g.vcpus.map((_, vcpu) => ({ domain: labNameOf(lab, g.name), vcpu }))));
      tracedDomains = [...new Set(inWindow.flatMap((e) => e.domains))].sort();
      notices = [...new Set(all.flatMap((e) => e.notices.map((n) => n.message)))];
      stalled = stalledDomains(all);
    } finally {
      await child.stop();
      tail = child.output.slice(-6);
    }
  }
  const results = mixResults(lab, bench.hostPcpus, window, startAffinity);
  return {
    mode, guests: results,
    worst: Math.min(...results.map((r) => r.fraction)),
    worstVcpu: Math.min(...results.flatMap((r) => r.vcpus.filter((v) => v.fair > 0).map((v) => v.fraction))),
    worstLeft: Math.min(...results.map((r) => r.fractionLeft)),
    window, endPlacement, pinChangesInWindow, traced, tracedDomains, notices, stalled, tail,
  };
}

/** The domains a controller's trace says stopped answering (their QEMU: libvirt's job lock held), each once, sorted. */
export function stalledDomains(intervals: readonly Pick<TraceInterval, 'notices'>[]): string[] {
  return [...new Set(intervals.flatMap((e) => e.notices.filter((n) => n.message === UNANSWERED_NOTICE && n.domain !== undefined).map((n) => n.domain!)))].sort();
}

/** Each guest's (and vCPU's) figures over a window against the fair shares. */
export function mixResults(lab: LabMix, hostPcpus: number, window: Pick<BenchWindow, 'guestShare' | 'guestDelay' | 'vcpuShare' | 'vcpuDelay' | 'otherWork'>, startAffinity: ReadonlyMap<string, number[][]> = new Map()): MixedGuestResult[] {
  const fair = mixFairShares(lab.mix, hostPcpus);
  const left = Math.max(0, 1 - window.otherWork / hostPcpus);
  const fairLeft = mixFairShares(lab.mix, hostPcpus, Array.from({ length: hostPcpus }, () => left));
  return lab.mix.guests.map((g, i): MixedGuestResult => {
    const name = labNameOf(lab, g.name);
    const shares = window.vcpuShare.get(name) ?? [];
    const delays = window.vcpuDelay.get(name) ?? [];
    const vcpus = g.vcpus.map((v, k): MixedVcpuResult => {
      const received = shares[k] ?? 0;
      const f = fair.vcpu[i]![k]!;
      return { duty: v.duty, ...(v.periodMs === undefined ? {} : { periodMs: v.periodMs }), received, delay: delays[k] ?? 0, fair: f, fraction: f > 0 ? received / f : 1 };
    });
    const received = window.guestShare.get(name) ?? vcpus.reduce((s, v) => s + v.received, 0);
    const fl = fairLeft.guest[i]!;
    return {
      name, role: describeGuest(g), duty: g.vcpus.reduce((s, v) => s + v.duty, 0), received,
      delay: window.guestDelay.get(name) ?? vcpus.reduce((s, v) => s + v.delay, 0),
      fair: fair.guest[i]!, fraction: received / fair.guest[i]!, fairLeft: fl, fractionLeft: fl > 0 ? received / fl : 0,
      vcpus, startAffinity: startAffinity.get(name) ?? [],
    };
  });
}

const knownVcpuKeys = new Set(['domain', 'vcpu', 'pcpu', 'affinity', 'usage', 'demand', 'predicted', 'weight']);

/** Per vCPU (a guest name: its vCPU0), means over the intervals of what the trace recorded. */
export function traceSummary(intervals: readonly TraceInterval[], vcpus: readonly (string | { domain: string; vcpu: number })[]): TracedVcpu[] {
  return vcpus.map((which) => {
    const { domain, vcpu } = typeof which === 'string' ? { domain: which, vcpu: 0 } : which;
    const rows = intervals.flatMap((e) => (e.cpu?.vcpus ?? []).filter((v) => v.domain === domain && v.vcpu === vcpu));
    const mean = (xs: number[]) => (xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length);
    // Booleans (e.g. what the scheduler learned a vCPU to be) count as the fraction of intervals they held.
    const valueOf = (r: object, k: string) => {
      const v = (r as Record<string, unknown>)[k];
      return typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : undefined;
    };
    const extraKeys = new Set(rows.flatMap((r) => Object.keys(r).filter((k) => !knownVcpuKeys.has(k) && valueOf(r, k) !== undefined)));
    const extra: Record<string, number> = {};
    for (const k of extraKeys) extra[k] = mean(rows.map((r) => valueOf(r, k) ?? 0))!;
    return {
      domain,
      vcpu,
      intervals: rows.length,
      usage: mean(rows.map((r) => r.usage)) ?? 0,
      demand: mean(rows.map((r) => r.demand)) ?? 0,
      predicted: mean(rows.map((r) => r.predicted).filter((x): x is number => x !== undefined)),
      extra,
    };
  });
}
