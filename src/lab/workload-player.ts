// Plays a scenario's guest workloads on lab guests: every tick, each guest's vCPU duties and the
// memory it should use, taken from the same workload functions and noise streams the simulated
// host uses, so a real run follows the simulated demand. Sent over the workload channel only when
// they change. Page cache (`cachesMiB`) is not reproduced: the guests have no disk.
import type { DomainSpec, Scenario } from '../host/sim/scenario.js';
import { hashString } from '../host/sim/random.js';
import { workloadValue } from '../host/sim/workload.js';
import type { MemorySchedule, WorkloadController } from './workload-channel.js';

export interface GuestDemand {
  /** Duty per vCPU, clamped to 0..1. */
  cpu: number[];
  /** Memory the guest should use in total (kernel and base system included), MiB. */
  usedMiB: number;
}

/** A domain's demand at scenario time t (seconds), with the simulator's noise streams. */
export function demandAt(spec: DomainSpec, t: number, seed: number): GuestDemand {
  return {
    cpu: spec.cpu.map((w, i) => Math.min(1, Math.max(0, workloadValue(w, t, seed, hashString(`${spec.name}/cpu/${i}`))))),
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
}

export class WorkloadPlayer {
  private readonly sentCpu = new Map<string, string>();
  private readonly sentMem = new Map<string, number>();
  private readonly baseline = new Map<string, number>();

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

  /** Sends what changed for scenario time t to every guest that runs at t. */
  async tick(t: number): Promise<TickResult> {
    let sent = 0;
    const failed: TickResult['failed'] = [];
    await Promise.all(this.guests.map(async (g) => {
      if (t < g.spec.startSeconds || (g.spec.stopSeconds !== null && t >= g.spec.stopSeconds)) return;
      try {
        const baseline = this.baseline.get(g.guest) ?? (await this.measureBaseline(g.guest));
        const now = demandAt(g.spec, t, this.scenario.seed);
        const next = demandAt(g.spec, t + this.tickSeconds, this.scenario.seed);
        const cpuKey = now.cpu.map((d) => d.toFixed(2)).join(',');
        if (this.sentCpu.get(g.guest) !== cpuKey) {
          await this.controller.setCpu(g.guest, now.cpu.map((d) => Number(d.toFixed(2))));
          this.sentCpu.set(g.guest, cpuKey);
          sent++;
        }
        const step = memoryStep(now, next, this.tickSeconds, baseline);
        if (this.sentMem.get(g.guest) !== step.targetMiB) {
          await this.controller.setMemory(g.guest, step);
          this.sentMem.set(g.guest, step.targetMiB);
          sent++;
        }
      } catch (err) {
        failed.push({ guest: g.guest, error: (err as Error).message });
      }
    }));
    return { sent, failed };
  }
}
