// A fault-injecting Hypervisor decorator for hardening tests: wraps a host (usually the simulated
// one) and, from a seeded random stream, makes domains vanish between observe and act, calls fail,
// statistics come back partial or without a balloon, domains show paused or renamed, and calls
// take (virtual) time.
import { DomainGoneError } from '../../src/ground/errors.js';
import type { DomainObservation, DomainRef, HostObservation, Hypervisor } from '../../src/ground/hypervisor.js';

export { seededRandom } from '../../src/host/sim/random.js';

export interface FaultRates {
  /** Per observe: the call fails. */
  observeFails?: number;
  /** Per action call: it fails (transient error; the domain is still there). */
  actionFails?: number;
  /** Per observe and domain: the domain vanishes right after this observation (actions on it fail), for `vanishFor` observations. */
  vanish?: number;
  vanishFor?: number;
  /** Per observe and domain: its balloon statistics come back partial (unused / last-update missing). */
  partialStats?: number;
  /** Per observe and domain: its balloon group is missing altogether. */
  noBalloon?: number;
  /** Per observe and domain: vCPU delay is missing. */
  noDelay?: number;
  /** Per observe and domain: it reads as paused (policies must leave it alone). */
  paused?: number;
  /** Every observe, and `slowActions` of the action calls, take up to this long, ms (through `delay`, e.g. the simulated clock). */
  latencyMs?: number;
  slowActions?: number;
}

export interface FaultCounts {
  observeFailed: number;
  actionFailed: number;
  vanished: number;
  partialStats: number;
  noBalloon: number;
  paused: number;
  callsOnVanished: number;
}

export class FaultyHost implements Hypervisor {
  readonly uri: string;
  readonly counts: FaultCounts = { observeFailed: 0, actionFailed: 0, vanished: 0, partialStats: 0, noBalloon: 0, paused: 0, callsOnVanished: 0 };
  /** Domains hidden (by UUID) and the observation number they come back at. */
  private readonly hidden = new Map<string, number>();
  /** Domains that read as paused in the last observation: acting on them is a policy bug. */
  readonly pausedNow = new Set<string>();
  /** Every action that reached a domain reported as paused or vanished in the observation it was decided on. */
  readonly violations: string[] = [];
  /** Renames shown to the controllers: real name → shown name. */
  readonly renames = new Map<string, string>();
  /** UUIDs shown to the controllers: real → shown (a domain replaced by another of the same name). */
  readonly shownUuids = new Map<string, string>();
  /** Domains (real names) to vanish right after the next observation, for this many observations. */
  readonly vanishAfterNextObserve = new Map<string, number>();
  /** Domains (real names) that read as paused while listed here. */
  readonly forcePaused = new Set<string>();
  private observations = 0;

  constructor(
    private readonly inner: Hypervisor,
    private readonly rates: FaultRates,
    private readonly random: () => number,
    private readonly delay: (ms: number) => Promise<void> | void = () => {},
  ) {
    this.uri = `faulty:${inner.uri}`;
  }

  private chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.random() < p;
  }

  private async latency(action: boolean): Promise<void> {
    if (!this.rates.latencyMs || (action && !this.chance(this.rates.slowActions))) return;
    await this.delay(this.random() * this.rates.latencyMs);
  }

  async observe(): Promise<HostObservation> {
    await this.latency(false);
    this.observations++;
    for (const [uuid, until] of this.hidden) if (until <= this.observations) this.hidden.delete(uuid);
    if (this.chance(this.rates.observeFails)) {
      this.counts.observeFailed++;
      throw new Error('internal error: injected observe failure');
    }
    const obs = await this.inner.observe();
    this.pausedNow.clear();
    const domains: DomainObservation[] = [];
    for (const d of obs.domains) {
      if (this.hidden.has(d.uuid)) continue;
      const shown: DomainObservation = { ...d, name: this.renames.get(d.name) ?? d.name, uuid: this.shownUuids.get(d.uuid) ?? d.uuid };
      const scheduled = this.vanishAfterNextObserve.get(d.name);
      if (scheduled !== undefined) {
        this.vanishAfterNextObserve.delete(d.name);
        this.hidden.set(d.uuid, this.observations + 1 + scheduled);
        this.counts.vanished++;
      }
      if (this.forcePaused.has(d.name) || this.chance(this.rates.paused)) {
        shown.state = 'paused';
        this.pausedNow.add(shown.uuid);
        this.counts.paused++;
      }
      if (shown.balloon && this.chance(this.rates.noBalloon)) {
        delete shown.balloon;
        this.counts.noBalloon++;
      } else if (shown.balloon && this.chance(this.rates.partialStats)) {
        const { unusedKiB: _u, lastUpdate: _l, ...rest } = shown.balloon;
        shown.balloon = this.random() < 0.5 ? rest : { ...rest, lastUpdate: shown.balloon.lastUpdate };
        this.counts.partialStats++;
      }
      if (this.chance(this.rates.noDelay)) shown.vcpus = shown.vcpus.map(({ delayNs: _d, ...v }) => v);
      // Vanishes after this observation: whatever is decided for it will fail.
      if (this.chance(this.rates.vanish)) {
        this.hidden.set(d.uuid, this.observations + 1 + Math.floor(this.random() * (this.rates.vanishFor ?? 3)));
        this.counts.vanished++;
      }
      domains.push(shown);
    }
    return { ...obs, domains };
  }

  private realRef(domain: DomainRef): DomainRef {
    let ref = domain;
    for (const [real, shown] of this.renames) if (shown === ref.name) ref = { ...ref, name: real };
    for (const [real, shown] of this.shownUuids) if (shown === ref.uuid) ref = { ...ref, uuid: real };
    return ref;
  }

  private isHidden(domain: DomainRef): boolean {
    return this.hidden.has(this.realRef(domain).uuid);
  }

  private async act(domain: DomainRef, what: string, call: (ref: DomainRef) => Promise<void>): Promise<void> {
    await this.latency(true);
    if (this.pausedNow.has(domain.uuid)) this.violations.push(`${what} on ${domain.name}, reported paused`);
    if (this.isHidden(domain)) {
      this.counts.callsOnVanished++;
      throw new DomainGoneError(`Domain not found: no domain with matching uuid '${domain.uuid}' (${domain.name})`);
    }
    if (this.chance(this.rates.actionFails)) {
      this.counts.actionFailed++;
      throw new Error(`internal error: injected failure of ${what}`);
    }
    await call(this.realRef(domain));
  }

  pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    return this.act(domain, 'pin', (ref) => this.inner.pinVcpu(ref, vcpu, pcpus));
  }

  setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    return this.act(domain, 'set-memory', (ref) => this.inner.setMemory(ref, targetKiB));
  }

  setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    return this.act(domain, 'set-stats-period', (ref) => this.inner.setMemoryStatsPeriod(ref, seconds));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
