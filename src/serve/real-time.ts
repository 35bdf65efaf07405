// Drives a simulated host in real time: every tick, simulated time moves by the real time elapsed
// times `speed`. Foreign clients then see vCPU times and balloons move as on a real host, and the
// judge's own observer sleeps on the same time line (the clock below).
import type { Clock } from '../ground/hypervisor.js';
import type { SimulatedHost } from '../host/sim/index.js';

const TICK_MS = 20;

export class RealTimeDriver {
  private timer: NodeJS.Timeout | undefined;
  private lastMs = 0;
  private waiters: { atNs: number; resolve: () => void }[] = [];

  constructor(private readonly host: SimulatedHost, readonly speed = 1) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, not ${speed}`);
  }

  start(): void {
    if (this.timer) return;
    this.lastMs = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /** Brings the simulation up to now (also called before answering, so replies are never a tick stale). */
  tick(): void {
    if (!this.timer) return;
    const now = performance.now();
    const realMs = now - this.lastMs;
    this.lastMs = now;
    if (realMs > 0) this.host.advance(realMs * this.speed);
    const t = this.host.timeNs;
    const due = this.waiters.filter((w) => w.atNs <= t);
    if (due.length > 0) {
      this.waiters = this.waiters.filter((w) => w.atNs > t);
      for (const w of due) w.resolve();
    }
  }

  /** A clock on the simulated time line: sleeping waits until the simulation has moved that far. */
  get clock(): Clock {
    return {
      nowMs: () => this.host.timeNs / 1e6,
      sleep: (ms: number) => new Promise<void>((resolve) => {
        if (!this.timer) return resolve();
        this.waiters.push({ atNs: this.host.timeNs + ms * 1e6, resolve });
      }),
    };
  }
}
