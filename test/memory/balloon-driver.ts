import type { DomainObservation, HostObservation } from '../../src/ground/hypervisor.js';
import type { Action, SetMemoryAction } from '../../src/ground/actions.js';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryDecision, type MemoryOptions, type MemoryState } from '../../src/memory/coordinator.js';

// A tiny in-test model of guests with a virtio balloon, to test the coordinator's dynamics:
//  - `actual` follows the balloon target at a limited rate;
//  - the guest refreshes its statistics every stats period, at a phase offset, so readings lag;
//  - statistics exist only after a stats period was requested and the balloon driver has loaded;
//  - a guest whose use exceeds its MemTotal (actual − reserved) counts an OOM event.
// (The project's real simulator lives in src/host/sim/; this one is deliberately minimal.)

export const MiB = 1024;

export interface GuestSpec {
  name: string;
  actualMiB: number;
  maximumMiB: number;
  /** Guest use (MiB) as a function of time (s). */
  used: (t: number) => number;
  /** Kernel reservation: MemTotal = actual − reserved. */
  reservedMiB?: number;
  /** Balloon speed, MiB/s. */
  balloonMiBps?: number;
  /** Seconds after start when the balloon driver loads. */
  driverLoadsAt?: number;
  /** Report MemTotal (`available`). */
  reportsAvailable?: boolean;
  /** Statistics stop updating after this time. */
  statsStopAt?: number;
  /** Noise added to reported unused, MiB (uniform ±). */
  noiseMiB?: number;
}

interface Guest {
  spec: GuestSpec;
  actualKiB: number;
  targetKiB: number;
  statsPeriod: number;
  snapshot?: { unusedKiB: number; availableKiB: number; lastUpdate: number };
  nextSnapshotAt: number;
  oom: number;
  /** Lowest true free memory (MemTotal − use) seen so far, KiB. */
  minUnusedKiB: number;
}

export interface IntervalRecord {
  t: number;
  decision: MemoryDecision;
  actual: Record<string, number>;
  used: Record<string, number>;
  hostFreeKiB: number;
}

export class BalloonWorld {
  t = 0;
  readonly guests: Guest[];
  state: MemoryState = initialMemoryState();
  /** Lowest host free memory seen between decisions, KiB. */
  minHostFreeKiB = Infinity;
  readonly history: IntervalRecord[] = [];
  private seed: number;

  constructor(
    specs: GuestSpec[],
    readonly hostTotalMiB: number,
    readonly options: MemoryOptions = defaultMemoryOptions,
    readonly intervalSeconds = 1,
    seed = 1,
  ) {
    this.seed = seed;
    this.guests = specs.map((spec) => ({
      spec,
      actualKiB: spec.actualMiB * MiB,
      targetKiB: spec.actualMiB * MiB,
      statsPeriod: 0,
      nextSnapshotAt: Infinity,
      oom: 0,
      minUnusedKiB: Infinity,
    }));
  }

  get oomEvents(): number {
    return this.guests.reduce((s, g) => s + g.oom, 0);
  }

  guest(name: string): Guest {
    const g = this.guests.find((x) => x.spec.name === name);
    if (!g) throw new Error(`no guest ${name}`);
    return g;
  }

  hostFreeKiB(): number {
    return this.hostTotalMiB * MiB - this.guests.reduce((s, g) => s + g.actualKiB, 0);
  }

  observe(): HostObservation {
    const domains: DomainObservation[] = this.guests.map((g) => ({
      name: g.spec.name,
      uuid: `uuid-${g.spec.name}`,
      state: 'running',
      vcpus: [],
      balloon: {
        currentKiB: Math.round(g.actualKiB),
        maximumKiB: g.spec.maximumMiB * MiB,
        rssKiB: Math.round(g.actualKiB),
        ...(g.snapshot && {
          unusedKiB: g.snapshot.unusedKiB,
          lastUpdate: g.snapshot.lastUpdate,
          ...(g.spec.reportsAvailable !== false && { availableKiB: g.snapshot.availableKiB }),
        }),
      },
    }));
    return {
      timeNs: Math.round(this.t * 1e9),
      host: { hostname: 'test', pcpus: 4, memoryTotalKiB: this.hostTotalMiB * MiB, memoryFreeKiB: Math.round(this.hostFreeKiB()) },
      domains,
    };
  }

  apply(actions: readonly Action[]): void {
    for (const a of actions) {
      const g = this.guest(a.domain.name);
      if (a.kind === 'set-memory') g.targetKiB = a.targetKiB;
      if (a.kind === 'set-stats-period' && g.statsPeriod === 0) {
        g.statsPeriod = a.seconds;
        g.nextSnapshotAt = Math.max(this.t, g.spec.driverLoadsAt ?? 0) + 0.5 * a.seconds;
      }
    }
  }

  /** One control interval: observe, decide, act, then let time run. */
  step(): IntervalRecord {
    const obs = this.observe();
    const decision = decideMemory(obs, this.state, this.options, this.intervalSeconds);
    this.state = decision.state;
    this.apply(decision.actions);
    const record: IntervalRecord = {
      t: this.t,
      decision,
      actual: Object.fromEntries(this.guests.map((g) => [g.spec.name, g.actualKiB])),
      used: Object.fromEntries(this.guests.map((g) => [g.spec.name, g.spec.used(this.t) * MiB])),
      hostFreeKiB: obs.host.memoryFreeKiB,
    };
    this.history.push(record);
    this.advance(this.intervalSeconds);
    return record;
  }

  run(intervals: number): IntervalRecord[] {
    return Array.from({ length: intervals }, () => this.step());
  }

  private advance(seconds: number): void {
    const dt = 0.05;
    const start = this.t;
    const ticks = Math.round(seconds / dt);
    for (let i = 1; i <= ticks; i++) {
      this.t = Math.round((start + i * dt) * 1000) / 1000;
      for (const g of this.guests) this.tick(g, dt);
      this.minHostFreeKiB = Math.min(this.minHostFreeKiB, this.hostFreeKiB());
    }
  }

  private tick(g: Guest, dt: number): void {
    const rate = (g.spec.balloonMiBps ?? 400) * MiB * dt;
    const delta = g.targetKiB - g.actualKiB;
    g.actualKiB += Math.sign(delta) * Math.min(Math.abs(delta), rate);
    const reservedKiB = (g.spec.reservedMiB ?? 0) * MiB;
    const usedKiB = g.spec.used(this.t) * MiB;
    if (usedKiB > g.actualKiB - reservedKiB) g.oom += 1;
    g.minUnusedKiB = Math.min(g.minUnusedKiB, g.actualKiB - reservedKiB - usedKiB);
    const stopped = g.spec.statsStopAt !== undefined && this.t >= g.spec.statsStopAt;
    if (this.t + 1e-9 >= g.nextSnapshotAt && !stopped) {
      const noise = (g.spec.noiseMiB ?? 0) * MiB * (2 * this.random() - 1);
      const availableKiB = g.actualKiB - reservedKiB;
      g.snapshot = {
        unusedKiB: Math.max(0, Math.round(availableKiB - usedKiB + noise)),
        availableKiB: Math.round(availableKiB),
        lastUpdate: Math.round(this.t * 100) / 100,
      };
      g.nextSnapshotAt += g.statsPeriod;
    }
  }

  private random(): number {
    // mulberry32: deterministic noise for reproducible tests
    let t = (this.seed += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function setMemoryActions(decision: MemoryDecision): SetMemoryAction[] {
  return decision.actions.filter((a): a is SetMemoryAction => a.kind === 'set-memory');
}

/** Resets the lowest-seen measures (e.g. after the start-up phase). */
export function resetLows(world: BalloonWorld): void {
  world.minHostFreeKiB = Infinity;
  for (const g of world.guests) g.minUnusedKiB = Infinity;
}

/** A use curve: `base` MiB until `start`, then +rate MiB/s up to `peak`, back to `base` at `stop`. */
export function consumer(base: number, start: number, rate: number, peak: number, stop = Infinity): (t: number) => number {
  return (t) => (t < start || t >= stop ? base : Math.min(peak, base + rate * (t - start)));
}
