// Plays a scenario's guest workloads on lab guests: every tick, each guest's vCPU duties (a bursty
// vCPU's with its period: `cpu 0.4@50`) and the
// memory it should use, taken from the same workload functions and noise streams the simulated
// host uses, so a real run follows the simulated demand. Sent over the workload channel only when
// they change. File reads (a scan, a hot set) are played by vb-workload reading the guest's disk,
// each start and end sent once when due. Page cache present at boot (`cachesMiB`) is not reproduced.
import type { DomainSpec, ReadSpec, Scenario } from '../host/sim/scenario.js';
import { hashString } from '../host/sim/random.js';
import { workloadValue } from '../host/sim/workload.js';
import { cpuCommand, hotCommand, scanCommand, type CpuLoad, type HotSchedule, type MemorySchedule, type ScanSchedule, type WorkloadController } from './workload-channel.js';

/** A scenario's file read: a one-time scan, or a hot set re-read every `everySeconds` from `atSeconds` until `untilSeconds`. */
export type ScenarioRead = ReadSpec;

/** One channel command a read asks for at a given time. */
export type ReadAction =
  | { key: string; at: number; kind: 'scan'; scan: ScanSchedule }
  | { key: string; at: number; kind: 'hot'; hot: HotSchedule | 'off' };

/**
 * The commands a domain's reads need, in time order: each scan's start, each hot set's start and
 * (when it has one) its end. vb-workload runs one scan and one hot set at a time: a scan started
 * while another runs replaces it, and so does a hot set; the plan says so when a scenario overlaps them.
 */
export function readActions(reads: readonly ScenarioRead[]): ReadAction[] {
  const actions: ReadAction[] = [];
  reads.forEach((r, i) => {
    if (r.kind === 'scan') {
      actions.push({ key: `read${i}`, at: r.atSeconds, kind: 'scan', scan: { mib: r.sizeMiB, rateMiBps: r.rateMiBps } });
    } else {
      actions.push({ key: `read${i}`, at: r.atSeconds, kind: 'hot', hot: { mib: r.sizeMiB, everySeconds: r.everySeconds, rateMiBps: r.rateMiBps } });
      // A later hot set that started meanwhile has replaced this one: its end is not this one's to stop.
      const replaced = reads.some((o, j) => j !== i && o.kind === 'hot' && o.atSeconds >= r.atSeconds && (o.atSeconds > r.atSeconds || j > i) && o.atSeconds <= (r.untilSeconds ?? Infinity));
      if (r.untilSeconds !== null && !replaced) actions.push({ key: `read${i}-end`, at: r.untilSeconds, kind: 'hot', hot: 'off' });
    }
  });
  return actions.sort((a, b) => a.at - b.at);
}

export interface GuestDemand {
  /** Duty per vCPU, clamped to 0..1. */
  cpu: number[];
  /**
   * Period per vCPU, ms: a `bursty: {duty, period}` vCPU's period, played by vb-workload as
   * `duty@period`; undefined (or absent) = vb-workload's default 100 ms.
   */
  periodMs?: Array<number | undefined>;
  /** Memory the guest should use in total (kernel and base system included), MiB. */
  usedMiB: number;
}

/** A domain's demand at scenario time t (seconds), with the simulator's noise streams. */
export function demandAt(spec: DomainSpec, t: number, seed: number): GuestDemand {
  return {
    cpu: spec.cpu.map((w, i) => Math.min(1, Math.max(0, workloadValue(w, t, seed, hashString(`${spec.name}/cpu/${i}`))))),
    periodMs: spec.cpu.map((w) => (w.kind === 'bursty' ? w.periodMs : undefined)),
    usedMiB: Math.max(0, workloadValue(spec.usedMiB, t, seed, hashString(`${spec.name}/used`))),
  };
}

/**
 * The memory schedule that moves vb-workload from holding for `now` to holding for `next` within
 * one tick. vb-workload holds memory on top of what the guest uses idle (`baselineMiB`).
 */
export function memoryStep(now: GuestDemand, next: GuestDemand, tickSeconds: number, baselineMiB: number): MemorySchedule {
  const target = Math.max(0, Math.round(next.usedMiB - baselineMiB));
  const from = Math.max(0, Math.round(now.usedMiB - baselineMiB));
  return { rateMiBps: Math.max(1, Math.abs(target - from) / tickSeconds), targetMiB: target };
}

/** The per-vCPU loads vb-workload plays for a demand: duties to 2 decimals, each with its period when it has one. */
export function cpuLoadsOf(demand: GuestDemand): CpuLoad[] {
  return demand.cpu.map((d, i) => {
    const periodMs = demand.periodMs?.[i];
    return periodMs === undefined ? { duty: Number(d.toFixed(2)) } : { duty: Number(d.toFixed(2)), periodMs };
  });
}

export interface PlayerGuest {
  /** The scenario domain this guest plays. */
  spec: DomainSpec;
  /** The lab guest's name. */
  guest: string;
}

export interface TickResult {
  /** Commands sent. */
  sent: number;
  /** Guests that could not be reached this tick (e.g. still booting), with the reason. */
  failed: { guest: string; error: string }[];
  /** Read commands sent this tick (scans, hot sets), for the run's log. */
  reads: { guest: string; command: string }[];
}

export class WorkloadPlayer {
  private readonly sentCpu = new Map<string, string>();
  private readonly sentMem = new Map<string, number>();
  private readonly baseline = new Map<string, number>();
  private readonly sentReads = new Map<string, Set<string>>();

  constructor(
    private readonly controller: WorkloadController,
    private readonly scenario: Pick<Scenario, 'seed'>,
    private readonly guests: readonly PlayerGuest[],
    private readonly tickSeconds = 1,
  ) {}

  /** Reads a guest's idle memory use (MemTotal - MemAvailable less what vb-workload holds). */
  private async measureBaseline(guest: string): Promise<number> {
    const s = await this.controller.status(guest);
    const mib = Math.max(0, (s.memTotalKiB - s.memAvailableKiB) / 1024 - s.memMiB);
    this.baseline.set(guest, mib);
    return mib;
  }

  /** Measures every guest's idle memory now (guests not measured here are measured at their first tick). */
  async measureBaselines(guests: readonly string[] = this.guests.map((g) => g.guest)): Promise<Map<string, number>> {
    for (const g of guests) await this.measureBaseline(g);
    return new Map(this.baseline);
  }

  /** The idle memory measured for each guest so far, MiB. */
  baselines(): Map<string, number> {
    return new Map(this.baseline);
  }

  /** Sends the read commands that are due at t and were not sent yet (each once, in time order). */
  private async playReads(g: PlayerGuest, t: number, log: TickResult['reads']): Promise<number> {
    const done = this.sentReads.get(g.guest) ?? new Set<string>();
    this.sentReads.set(g.guest, done);
    let sent = 0;
    for (const a of readActions(g.spec.reads)) {
      if (a.at > t || done.has(a.key)) continue;
      if (a.kind === 'scan') await this.controller.setScan(g.guest, a.scan);
      else await this.controller.setHot(g.guest, a.hot);
      done.add(a.key);
      log.push({ guest: g.guest, command: a.kind === 'scan' ? scanCommand(a.scan) : hotCommand(a.hot) });
      sent++;
    }
    return sent;
  }

  /** Sends what changed for scenario time t to every guest that runs at t. */
  async tick(t: number): Promise<TickResult> {
    let sent = 0;
    const failed: TickResult['failed'] = [];
    const reads: TickResult['reads'] = [];
    await Promise.all(this.guests.map(async (g) => {
      if (t < g.spec.startSeconds || (g.spec.stopSeconds !== null && t >= g.spec.stopSeconds)) return;
      try {
        const baseline = this.baseline.get(g.guest) ?? (await this.measureBaseline(g.guest));
        const now = demandAt(g.spec, t, this.scenario.seed);
        const next = demandAt(g.spec, t + this.tickSeconds, this.scenario.seed);
        const loads = cpuLoadsOf(now);
        const cpuKey = cpuCommand(loads);
        if (this.sentCpu.get(g.guest) !== cpuKey) {
          await this.controller.setCpu(g.guest, loads);
          this.sentCpu.set(g.guest, cpuKey);
          sent++;
        }
        const step = memoryStep(now, next, this.tickSeconds, baseline);
        if (this.sentMem.get(g.guest) !== step.targetMiB) {
          await this.controller.setMemory(g.guest, step);
          this.sentMem.set(g.guest, step.targetMiB);
          sent++;
        }
        sent += await this.playReads(g, t, reads);
      } catch (err) {
        failed.push({ guest: g.guest, error: (err as Error).message });
      }
    }));
    return { sent, failed, reads };
  }
}
