// Issue #11's mixed case on real guests: on a 2-pCPU host, 2 busy one-vCPU guests (duty 1.0) and
// 2 bursty ones (duty 0.4: the guest program spins by the clock for 40 ms of every 100 ms, so a
// burst that was kept waiting is not made up), starting from the placement a spread-minimising
// scheduler picks (each pCPU: one busy + one bursty). One round of a mode measures, per guest, what
// its vCPU received over a window after settling (vCPU time), what it asked (its duty; the measured
// time + delay beside it), its max-min fair share computed from the duties over the host's pCPUs,
// and the fraction of that fair share it got.
//   run             `virtbalance run --cpu` (fairness objective), scoped with --only;
//   vcpu_scheduler  the drop-in, scoped likewise (the assignment's objective: balanced usage);
//   nothing         every vCPU unpinned: the host's scheduler alone.
import { fairSharesOf } from '../cpu/sharing.js';
import { seededRandom } from '../host/sim/random.js';
import type { TraceInterval } from '../ground/trace-record.js';
import { readTraceIntervals, sleep, type BenchWindow, type LabBench } from './bench-session.js';
import type { WorkloadController } from './workload-channel.js';

export const BUSY_DUTY = 1.0;
export const BURSTY_DUTY = 0.4;
export type MixedMode = 'run' | 'vcpu_scheduler' | 'nothing';
export const MIXED_MODES: readonly MixedMode[] = ['run', 'vcpu_scheduler', 'nothing'];

export interface MixedGuest {
  name: string;
  role: 'busy' | 'bursty';
  duty: number;
  /** The pCPU it is pinned to at the start of each round. */
  startPcpu: number;
}

/**
 * The first half of `names` busy, the rest bursty; busy i and bursty i share pCPU i mod pCPUs (on
 * 2 pCPUs: each pCPU one busy + one bursty, the placement that minimises the pCPUs' demand spread).
 * With `randomSeed`, each guest starts on a pCPU drawn from that seed instead (issue #11's
 * "randomly pinned"); the same seed gives the same pins.
 */
export function mixedGuests(names: readonly string[], hostPcpus: number, randomSeed?: number): MixedGuest[] {
  const half = Math.ceil(names.length / 2);
  const random = randomSeed === undefined ? undefined : seededRandom(randomSeed);
  return names.map((name, i) => {
    const busy = i < half;
    const startPcpu = random ? Math.min(hostPcpus - 1, Math.floor(random() * hostPcpus)) : (busy ? i : i - half) % hostPcpus;
    return { name, role: busy ? 'busy' : 'bursty', duty: busy ? BUSY_DUTY : BURSTY_DUTY, startPcpu };
  });
}

/** Each guest's max-min fair share of the host's pCPUs (of `capacity` per pCPU, when given), from the duties (one vCPU each). */
export function mixedFairShares(guests: readonly MixedGuest[], hostPcpus: number, capacity?: readonly number[]): number[] {
  return fairSharesOf(guests.map((g) => g.duty), hostPcpus, capacity);
}

export interface MixedGuestResult {
  name: string;
  role: 'busy' | 'bursty';
  duty: number;
  /** Share of one pCPU its vCPU ran over the window. */
  received: number;
  /** Share of the window its vCPU waited for a pCPU while runnable. */
  delay: number;
  fair: number;
  /** received / fair. */
  fraction: number;
  /** Its max-min fair share of what the window left after all work other than these vCPUs (other processes, QEMU's own threads), spread evenly over the pCPUs. */
  fairLeft: number;
  /** received / fairLeft. */
  fractionLeft: number;
  /** Its affinity read back just before the mode started. */
  startAffinity: number[];
}

/** What the scheduler's trace said about one vCPU over the window (means over the window's intervals). */
export interface TracedVcpu {
  domain: string;
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
  /** Smallest fraction of fair share. */
  worst: number;
  /** Smallest fraction of the fair share of what other work left. */
  worstLeft: number;
  window: BenchWindow;
  /** Affinities at the end of the window. */
  endPlacement: string;
  /** Pin changes the controller made during the window (from its trace); undefined for nothing. */
  pinChangesInWindow?: number;
  traced?: TracedVcpu[];
  /** Every domain the controller's trace named during the window (its scope). */
  tracedDomains?: string[];
  /** Notices the controller wrote to its trace, distinct. */
  notices: string[];
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
}

/** Sets the duties, applies the starting pins and checks they read back. */
export async function prepareMixed(bench: LabBench, workload: WorkloadController, guests: readonly MixedGuest[]): Promise<Map<string, number[]>> {
  for (const g of guests) await workload.setCpu(g.name, g.duty);
  for (const g of guests) await bench.pin(g.name, [g.startPcpu]);
  const affinity = await bench.affinity();
  for (const g of guests) {
    const a = affinity.get(g.name);
    if (!a || a.length !== 1 || a[0] !== g.startPcpu) throw new Error(`${g.name}: pinned to pCPU${g.startPcpu} but reads back ${a?.join(',') ?? 'nothing'}`);
  }
  return affinity;
}

/** One round of one mode, from the starting pins. */
export async function mixedRound(bench: LabBench, workload: WorkloadController, guests: readonly MixedGuest[], mode: MixedMode, opts: MixedRoundOptions, round: number): Promise<MixedRound> {
  const startAffinity = await prepareMixed(bench, workload, guests);
  await sleep(1_000);
  let window: BenchWindow;
  let traced: TracedVcpu[] | undefined;
  let tracedDomains: string[] | undefined;
  let pinChangesInWindow: number | undefined;
  let notices: string[] = [];
  let tail: string[] = [];
  let endPlacement: string;
  if (mode === 'nothing') {
    await bench.pinAll(bench.all);
    await sleep(2_000);
    window = await bench.measure(opts.windowSeconds);
    endPlacement = await bench.placement();
  } else {
    const trace = `${opts.traceDir}/${mode}-round${round}.jsonl`;
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
      const inWindow = readTraceIntervals(trace).slice(first);
      pinChangesInWindow = inWindow.reduce((n, e) => n + e.actions.filter((a) => a.kind === 'pin').length, 0);
      traced = traceSummary(inWindow, guests.map((g) => g.name));
      tracedDomains = [...new Set(inWindow.flatMap((e) => e.domains))].sort();
      notices = [...new Set(readTraceIntervals(trace).flatMap((e) => e.notices.map((n) => n.message)))];
    } finally {
      await child.stop();
      tail = child.output.slice(-6);
    }
  }
  const fair = mixedFairShares(guests, bench.hostPcpus);
  const left = Math.max(0, 1 - window.otherWork / bench.hostPcpus);
  const fairLeft = mixedFairShares(guests, bench.hostPcpus, bench.all.map(() => left));
  const results = guests.map((g, i): MixedGuestResult => {
    const received = window.guestShare.get(g.name) ?? 0;
    return {
      name: g.name, role: g.role, duty: g.duty, received, delay: window.guestDelay.get(g.name) ?? 0, fair: fair[i]!, fraction: received / fair[i]!,
      fairLeft: fairLeft[i]!, fractionLeft: fairLeft[i]! > 0 ? received / fairLeft[i]! : 0, startAffinity: startAffinity.get(g.name) ?? [],
    };
  });
  return { mode, guests: results, worst: Math.min(...results.map((r) => r.fraction)), worstLeft: Math.min(...results.map((r) => r.fractionLeft)), window, endPlacement, pinChangesInWindow, traced, tracedDomains, notices, tail };
}

const knownVcpuKeys = new Set(['domain', 'vcpu', 'pcpu', 'affinity', 'usage', 'demand', 'predicted', 'weight']);

/** Per vCPU of `names`, means over the intervals of what the trace recorded. */
export function traceSummary(intervals: readonly TraceInterval[], names: readonly string[]): TracedVcpu[] {
  return names.map((domain) => {
    const rows = intervals.flatMap((e) => (e.cpu?.vcpus ?? []).filter((v) => v.domain === domain));
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
      intervals: rows.length,
      usage: mean(rows.map((r) => r.usage)) ?? 0,
      demand: mean(rows.map((r) => r.demand)) ?? 0,
      predicted: mean(rows.map((r) => r.predicted).filter((x): x is number => x !== undefined)),
      extra,
    };
  });
}
