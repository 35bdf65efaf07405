// The deterministic simulated host: a Hypervisor over a scenario, driven by a virtual clock.
// Time only moves when the clock sleeps; the host integrates the workloads in small sub-steps,
// shares pCPUs as a fair scheduler would (fair-share.ts) and moves balloons at a finite rate.

import type {
  BalloonObservation,
  Clock,
  DomainObservation,
  DomainRef,
  HostObservation,
  Hypervisor,
} from '../../ground/hypervisor.js';
import { fairShare, type ShareResult } from './fair-share.js';
import { hashString } from './random.js';
import type { DomainSpec, Scenario } from './scenario.js';
import type { ActionCounts, DomainTruth, LifecycleEvent, OomEvent, TruthInterval, VcpuTruth } from './truth.js';
import { workloadValue } from './workload.js';

export interface SimOptions {
  /** Seeds every noise stream; defaults to the scenario's seed. */
  seed?: number;
  /** Extra Gaussian noise on every demand, on top of what the scenario says (hardening tests). */
  noise?: { cpuSd?: number; usedSdMiB?: number };
}

const NS_PER_S = 1e9;
const KIB_PER_MIB = 1024;
/** Guests report `last-update` as wall-clock seconds; the simulated wall clock starts here. */
export const SIM_EPOCH_SECONDS = 1_700_000_000;
/** A guest that boots during the scenario loads its balloon driver this long after start. */
export const BALLOON_DRIVER_LOAD_SECONDS = 2;

interface StatsSnapshot {
  unusedKiB: number;
  usableKiB: number;
  availableKiB: number;
  diskCachesKiB: number;
  lastUpdate: number;
}

interface VcpuState {
  affinity: number[];
  timeNs: number;
  delayNs: number;
  /** ns per pCPU since the last observe, to report where it mostly ran. */
  seenNs: number[];
  lastPcpu: number;
  stream: number;
  truth: { demandNs: number; receivedNs: number; pcpuNs: number[] };
}

interface DomainState {
  spec: DomainSpec;
  running: boolean;
  everStarted: boolean;
  vcpus: VcpuState[];
  actualKiB: number;
  targetKiB: number;
  usedDemandKiB: number;
  usedKiB: number;
  cachesKiB: number;
  /** Page cache the workload wants, before the balloon caps it. */
  cachesDemandKiB: number;
  rssKiB: number;
  statsPeriod: number;
  nextRefreshNs: number;
  /** When the balloon driver loads and sends its one boot-time report. */
  driverLoadNs: number;
  snapshot?: StatsSnapshot;
  inOom: boolean;
  usedStream: number;
  cachesStream: number;
  truth: { runningNs: number; peakDemandKiB: number; minActualKiB: number; oomNs: number; seen: boolean };
}

function notFound(name: string): Error {
  return new Error(`Domain not found: no domain with matching name '${name}'`);
}

function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class SimulatedHost implements Hypervisor {
  readonly uri: string;
  readonly seed: number;
  private nowNs = 0;
  private closed = false;
  private readonly stepNs: number;
  private readonly allPcpus: number[];
  private readonly domains: DomainState[];
  /** Last sharing problem solved; reused while demands are unchanged and nothing was pinned, started or stopped. */
  private shareCache: { layout: number; demands: number[]; result: ShareResult } | undefined;
  /** Bumped whenever which vCPUs run, or where they may run, changes. */
  private layout = 0;
  private truthFromNs = 0;
  private pcpuBusyNs: number[];
  private minFreeKiB = Infinity;
  private oomEvents: OomEvent[] = [];
  private lifecycle: LifecycleEvent[] = [];
  private actions: ActionCounts = SimulatedHost.noActions();
  /** Every boot and shutdown time, ns, ascending: sub-steps end exactly there. */
  private readonly lifecycleTimesNs: number[];

  constructor(
    readonly scenario: Scenario,
    private readonly options: SimOptions = {},
  ) {
    this.uri = `sim:${scenario.source}`;
    this.seed = options.seed ?? scenario.seed;
    this.stepNs = Math.max(1, Math.round(scenario.stepMs * 1e6));
    this.allPcpus = Array.from({ length: scenario.host.pcpus }, (_, p) => p);
    this.pcpuBusyNs = new Array<number>(scenario.host.pcpus).fill(0);
    this.domains = scenario.domains.map((spec) => this.initialState(spec));
    const times = scenario.domains.flatMap((d) => (d.stopSeconds === null ? [d.startSeconds] : [d.startSeconds, d.stopSeconds]));
    this.lifecycleTimesNs = [...new Set(times.map((s) => Math.round(s * NS_PER_S)))].sort((a, b) => a - b);
    this.applyLifecycle();
    this.minFreeKiB = this.hostFreeKiB();
  }

  private static noActions(): ActionCounts {
    return { pinCalls: 0, pinChanges: 0, setMemoryCalls: 0, setStatsPeriodCalls: 0, rejectedCalls: 0 };
  }

  private initialState(spec: DomainSpec): DomainState {
    const memoryKiB = spec.memoryMiB * KIB_PER_MIB;
    return {
      spec,
      running: false,
      everStarted: false,
      vcpus: spec.pin.map((pin, i) => ({
        affinity: pin ? [...pin] : [...this.allPcpus],
        timeNs: 0,
        delayNs: 0,
        seenNs: new Array<number>(this.scenario.host.pcpus).fill(0),
        lastPcpu: (pin ?? this.allPcpus)[i % (pin ?? this.allPcpus).length]!,
        stream: hashString(`${spec.name}/cpu/${i}`),
        truth: { demandNs: 0, receivedNs: 0, pcpuNs: new Array<number>(this.scenario.host.pcpus).fill(0) },
      })),
      actualKiB: memoryKiB,
      targetKiB: memoryKiB,
      usedDemandKiB: 0,
      usedKiB: 0,
      cachesKiB: 0,
      cachesDemandKiB: 0,
      rssKiB: 0,
      statsPeriod: spec.statsPeriod,
      nextRefreshNs: 0,
      driverLoadNs: 0,
      inOom: false,
      usedStream: hashString(`${spec.name}/used`),
      cachesStream: hashString(`${spec.name}/caches`),
      truth: { runningNs: 0, peakDemandKiB: 0, minActualKiB: memoryKiB, oomNs: 0, seen: false },
    };
  }

  /** Simulated time since the scenario began, ns. */
  get timeNs(): number {
    return this.nowNs;
  }

  // ---- lifecycle ----

  private applyLifecycle(): void {
    const t = this.nowNs;
    for (const d of this.domains) {
      const startNs = Math.round(d.spec.startSeconds * NS_PER_S);
      const stopNs = d.spec.stopSeconds === null ? Infinity : Math.round(d.spec.stopSeconds * NS_PER_S);
      const shouldRun = t >= startNs && t < stopNs;
      if (shouldRun && !d.running && !d.everStarted) {
        Object.assign(d, this.initialState(d.spec));
        d.running = true;
        d.everStarted = true;
        this.layout++;
        d.nextRefreshNs = t;
        // A guest running at t = 0 booted before the scenario: its driver has already loaded.
        d.driverLoadNs = t === 0 ? 0 : t + BALLOON_DRIVER_LOAD_SECONDS * NS_PER_S;
        d.truth.seen = true;
        this.sampleMemory(d, t, 0);
        // A guest booting with a stats period reports at once (at t = 0: it was running before).
        this.refreshStats(d, t);
        this.lifecycle.push({ domain: d.spec.name, kind: 'start', timeNs: t });
      } else if (!shouldRun && d.running) {
        d.running = false;
        this.layout++;
        this.lifecycle.push({ domain: d.spec.name, kind: 'stop', timeNs: t });
      }
    }
  }

  private nextLifecycleNs(): number {
    for (const ns of this.lifecycleTimesNs) if (ns > this.nowNs) return ns;
    return Infinity;
  }

  // ---- time ----

  /** Runs the simulation forward by `ms` of simulated time. */
  advance(ms: number): void {
    if (!(ms > 0)) return;
    const endNs = this.nowNs + Math.round(ms * 1e6);
    while (this.nowNs < endNs) {
      const stepEnd = Math.min(this.nowNs + this.stepNs, endNs, this.nextLifecycleNs());
      this.step(stepEnd - this.nowNs);
      this.nowNs = stepEnd;
      this.applyLifecycle();
    }
  }

  private step(dtNs: number): void {
    const startNs = this.nowNs;
    const endNs = startNs + dtNs;
    const running = this.domains.filter((d) => d.running);
    this.stepCpu(running, (startNs + dtNs / 2) / NS_PER_S, dtNs);
    for (const d of running) {
      d.truth.runningNs += dtNs;
      this.stepBalloon(d, dtNs);
      this.sampleMemory(d, endNs, dtNs);
      this.refreshStats(d, endNs);
    }
    this.minFreeKiB = Math.min(this.minFreeKiB, this.hostFreeKiB());
  }

  private stepCpu(running: DomainState[], tMid: number, dtNs: number): void {
    const demands: number[] = [];
    const weights: number[] = [];
    const affinity: number[][] = [];
    const states: VcpuState[] = [];
    const extra = this.options.noise?.cpuSd ?? 0;
    for (const d of running) {
      d.vcpus.forEach((v, i) => {
        const raw = workloadValue(d.spec.cpu[i]!, tMid, this.seed, v.stream, extra);
        demands.push(Math.min(1, Math.max(0, raw)));
        weights.push(d.spec.weight);
        affinity.push(v.affinity);
        states.push(v);
      });
    }
    if (states.length === 0) return;
    // Piecewise-constant workloads repeat the same problem step after step.
    const cached = this.shareCache;
    let share = cached && cached.layout === this.layout && cached.demands.every((x, k) => x === demands[k]) ? cached.result : undefined;
    if (!share) {
      share = fairShare({ demands, weights, affinity, pcpus: this.scenario.host.pcpus });
      this.shareCache = { layout: this.layout, demands, result: share };
    }
    states.forEach((v, k) => {
      const got = share.received[k]!;
      const wanted = Math.max(demands[k]!, got);
      v.timeNs += got * dtNs;
      v.delayNs += (wanted - got) * dtNs;
      v.truth.demandNs += wanted * dtNs;
      v.truth.receivedNs += got * dtNs;
      const row = share.placement[k]!;
      for (let p = 0; p < row.length; p++) {
        const ns = row[p]! * dtNs;
        if (ns === 0) continue;
        v.seenNs[p] = v.seenNs[p]! + ns;
        v.truth.pcpuNs[p] = v.truth.pcpuNs[p]! + ns;
        this.pcpuBusyNs[p] = this.pcpuBusyNs[p]! + ns;
      }
    });
  }

  private stepBalloon(d: DomainState, dtNs: number): void {
    const maxMove = this.scenario.host.balloonRateMiBps * KIB_PER_MIB * (dtNs / NS_PER_S);
    const gap = d.targetKiB - d.actualKiB;
    d.actualKiB = Math.abs(gap) <= maxMove ? d.targetKiB : d.actualKiB + Math.sign(gap) * maxMove;
  }

  /** What the guest uses at time t given its workload and balloon; records running out of memory. */
  private sampleMemory(d: DomainState, tNs: number, dtNs: number): void {
    const t = tNs / NS_PER_S;
    const demandMiB = Math.max(0, workloadValue(d.spec.usedMiB, t, this.seed, d.usedStream, this.options.noise?.usedSdMiB ?? 0));
    const cachesMiB = Math.max(0, workloadValue(d.spec.cachesMiB, t, this.seed, d.cachesStream));
    d.usedDemandKiB = demandMiB * KIB_PER_MIB;
    d.usedKiB = Math.min(d.usedDemandKiB, d.actualKiB);
    d.cachesDemandKiB = cachesMiB * KIB_PER_MIB;
    d.cachesKiB = Math.min(d.cachesDemandKiB, d.actualKiB - d.usedKiB);
    // Pages the guest touched stay resident on the host until the balloon takes them back.
    d.rssKiB = Math.min(d.actualKiB, Math.max(d.rssKiB, d.usedKiB + d.cachesKiB));
    d.truth.peakDemandKiB = Math.max(d.truth.peakDemandKiB, d.usedDemandKiB);
    d.truth.minActualKiB = Math.min(d.truth.minActualKiB, d.actualKiB);
    const short = d.usedDemandKiB > d.actualKiB + 0.5;
    if (short) {
      d.truth.oomNs += dtNs;
      if (!d.inOom) {
        this.oomEvents.push({ domain: d.spec.name, timeNs: tNs, demandMiB: demandMiB, actualMiB: d.actualKiB / KIB_PER_MIB });
      }
    }
    d.inOom = short;
  }

  private refreshStats(d: DomainState, tNs: number): void {
    if (!d.spec.balloon) return;
    if (d.spec.statsStopSeconds !== null && tNs >= d.spec.statsStopSeconds * NS_PER_S) return;
    if (d.statsPeriod > 0) {
      if (tNs < d.nextRefreshNs) return;
      d.snapshot = this.statsAt(tNs, d.actualKiB, d.usedKiB, d.cachesKiB);
      const periodNs = d.statsPeriod * NS_PER_S;
      while (d.nextRefreshNs <= tNs) d.nextRefreshNs += periodNs;
      return;
    }
    // Without a period QEMU still keeps the one report the balloon driver sends when it loads,
    // before the balloon inflates: the guest then still sees its whole maximum.
    if (d.snapshot || tNs < d.driverLoadNs) return;
    const maxKiB = d.spec.maxMemoryMiB * KIB_PER_MIB;
    const used = Math.min(d.usedDemandKiB, maxKiB);
    d.snapshot = this.statsAt(tNs, maxKiB, used, Math.min(d.cachesDemandKiB, maxKiB - used));
  }

  private statsAt(tNs: number, actualKiB: number, usedKiB: number, cachesKiB: number): StatsSnapshot {
    const actual = Math.round(actualKiB);
    const used = Math.round(usedKiB);
    const caches = Math.round(cachesKiB);
    return {
      availableKiB: actual,
      usableKiB: actual - used,
      unusedKiB: actual - used - caches,
      diskCachesKiB: caches,
      lastUpdate: SIM_EPOCH_SECONDS + Math.floor(tNs / NS_PER_S),
    };
  }

  private hostFreeKiB(): number {
    const { memoryMiB, overheadMiB } = this.scenario.host;
    let free = (memoryMiB - overheadMiB) * KIB_PER_MIB;
    for (const d of this.domains) if (d.running) free -= d.actualKiB;
    return free;
  }

  // ---- Hypervisor ----

  private checkOpen(): void {
    if (this.closed) throw new Error(`connection to ${this.uri} is closed`);
  }

  private find(ref: DomainRef): DomainState {
    const d = this.domains.find((x) => x.running && x.spec.name === ref.name && (ref.uuid === '' || x.spec.uuid === ref.uuid));
    if (!d) throw notFound(ref.name);
    return d;
  }

  /** Counts calls that throw, so scoring sees rejected actions. */
  private guard<T>(fn: () => T): T {
    try {
      this.checkOpen();
      return fn();
    } catch (err) {
      this.actions.rejectedCalls++;
      throw err;
    }
  }

  async observe(): Promise<HostObservation> {
    this.checkOpen();
    const { hostname, pcpus, memoryMiB } = this.scenario.host;
    const domains: DomainObservation[] = [];
    for (const d of this.domains) {
      if (!d.running) continue;
      const vcpus = d.vcpus.map((v, index) => {
        let best = -1;
        for (let p = 0; p < v.seenNs.length; p++) if (v.seenNs[p]! > 0 && (best < 0 || v.seenNs[p]! > v.seenNs[best]!)) best = p;
        if (best >= 0) v.lastPcpu = best;
        else if (!v.affinity.includes(v.lastPcpu)) v.lastPcpu = v.affinity[0]!;
        v.seenNs.fill(0);
        return { index, timeNs: Math.round(v.timeNs), delayNs: Math.round(v.delayNs), pcpu: v.lastPcpu, affinity: [...v.affinity] };
      });
      const obs: DomainObservation = { name: d.spec.name, uuid: d.spec.uuid, state: 'running', vcpus };
      if (d.spec.balloon) obs.balloon = this.balloonOf(d);
      domains.push(obs);
    }
    return {
      timeNs: this.nowNs,
      host: {
        hostname,
        pcpus,
        memoryTotalKiB: memoryMiB * KIB_PER_MIB,
        memoryFreeKiB: Math.max(0, Math.round(this.hostFreeKiB())),
      },
      domains,
    };
  }

  private balloonOf(d: DomainState): BalloonObservation {
    const b: BalloonObservation = {
      currentKiB: Math.round(d.actualKiB),
      maximumKiB: d.spec.maxMemoryMiB * KIB_PER_MIB,
      rssKiB: Math.round(d.rssKiB),
    };
    if (d.snapshot) Object.assign(b, d.snapshot);
    return b;
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= d.vcpus.length) {
        throw new Error(`invalid argument: vcpu ${vcpu} is out of range of live cpu count ${d.vcpus.length} of domain '${d.spec.name}'`);
      }
      if (!Array.isArray(pcpus) || pcpus.length === 0) throw new Error(`invalid argument: empty cpumap for vcpu ${vcpu} of domain '${d.spec.name}'`);
      const host = this.scenario.host.pcpus;
      for (const p of pcpus) {
        if (!Number.isInteger(p) || p < 0 || p >= host) {
          throw new Error(`invalid argument: pCPU ${p} does not exist (host has ${host} pCPUs: 0-${host - 1})`);
        }
      }
      const next = [...new Set(pcpus)].sort((a, b) => a - b);
      const state = d.vcpus[vcpu]!;
      this.actions.pinCalls++;
      if (!sameSet(next, state.affinity)) this.actions.pinChanges++;
      state.affinity = next;
      this.layout++;
    });
  }

  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!d.spec.balloon) throw new Error(`operation failed: domain '${d.spec.name}' has no balloon device`);
      if (!Number.isInteger(targetKiB) || targetKiB <= 0) throw new Error(`invalid argument: memory size ${targetKiB} KiB must be a positive integer`);
      const maxKiB = d.spec.maxMemoryMiB * KIB_PER_MIB;
      if (targetKiB > maxKiB) {
        throw new Error(`invalid argument: cannot set memory higher than max memory (${targetKiB} KiB > ${maxKiB} KiB for domain '${d.spec.name}')`);
      }
      this.actions.setMemoryCalls++;
      d.targetKiB = targetKiB;
    });
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!d.spec.balloon) throw new Error(`operation failed: domain '${d.spec.name}' has no balloon device`);
      if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`invalid argument: stats period ${seconds} must be a whole number of seconds ≥ 0`);
      this.actions.setStatsPeriodCalls++;
      // Like QEMU: turning stats on polls the guest at once; changing the period re-arms the timer.
      if (seconds > 0) d.nextRefreshNs = d.statsPeriod > 0 ? this.nowNs + seconds * NS_PER_S : this.nowNs;
      d.statsPeriod = seconds;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // ---- ground truth ----

  /** Ground truth since the previous call (or the start). */
  truth(): TruthInterval {
    const fromNs = this.truthFromNs;
    const toNs = this.nowNs;
    const span = Math.max(1, toNs - fromNs);
    const vcpus: VcpuTruth[] = [];
    const domains: DomainTruth[] = [];
    for (const d of this.domains) {
      if (!d.running && !d.truth.seen) continue;
      d.vcpus.forEach((v, vcpu) => {
        vcpus.push({
          domain: d.spec.name,
          vcpu,
          demand: v.truth.demandNs / span,
          received: v.truth.receivedNs / span,
          demandNs: Math.round(v.truth.demandNs),
          receivedNs: Math.round(v.truth.receivedNs),
          waitNs: Math.round(v.truth.demandNs - v.truth.receivedNs),
          pcpuNs: v.truth.pcpuNs.map(Math.round),
        });
        v.truth = { demandNs: 0, receivedNs: 0, pcpuNs: new Array<number>(this.scenario.host.pcpus).fill(0) };
      });
      domains.push({
        name: d.spec.name,
        uuid: d.spec.uuid,
        running: d.running,
        runningNs: d.truth.runningNs,
        usedDemandMiB: d.usedDemandKiB / KIB_PER_MIB,
        peakUsedDemandMiB: d.truth.peakDemandKiB / KIB_PER_MIB,
        usedMiB: d.usedKiB / KIB_PER_MIB,
        actualMiB: d.actualKiB / KIB_PER_MIB,
        minActualMiB: d.truth.minActualKiB / KIB_PER_MIB,
        targetMiB: d.targetKiB / KIB_PER_MIB,
        maximumMiB: d.spec.maxMemoryMiB,
        oomNs: d.truth.oomNs,
        statsPeriod: d.statsPeriod,
      });
      d.truth = { runningNs: 0, peakDemandKiB: d.usedDemandKiB, minActualKiB: d.actualKiB, oomNs: 0, seen: d.running };
    }
    const free = this.hostFreeKiB();
    const report: TruthInterval = {
      fromNs,
      toNs,
      vcpus,
      pcpuBusy: this.pcpuBusyNs.map((ns) => ns / span),
      domains,
      host: { memoryFreeMiB: free / KIB_PER_MIB, minMemoryFreeMiB: Math.min(this.minFreeKiB, free) / KIB_PER_MIB },
      oomEvents: this.oomEvents,
      lifecycle: this.lifecycle,
      actions: this.actions,
    };
    this.truthFromNs = toNs;
    this.pcpuBusyNs = new Array<number>(this.scenario.host.pcpus).fill(0);
    this.minFreeKiB = free;
    this.oomEvents = [];
    this.lifecycle = [];
    this.actions = SimulatedHost.noActions();
    return report;
  }
}

/** A Clock whose sleep advances the simulated host instead of waiting. */
export class VirtualClock implements Clock {
  constructor(private readonly host: SimulatedHost) {}

  nowMs(): number {
    return this.host.timeNs / 1e6;
  }

  async sleep(ms: number): Promise<void> {
    this.host.advance(ms);
  }
}

export interface SimulatedRun {
  hypervisor: SimulatedHost;
  clock: VirtualClock;
  /** Ground truth since the previous call. */
  truth: () => TruthInterval;
  scenario: Scenario;
}

/** Builds a simulated host for the scenario; the same scenario and seed give the same run. */
export function createSimulatedHost(scenario: Scenario, options: SimOptions = {}): SimulatedRun {
  const hypervisor = new SimulatedHost(scenario, options);
  return { hypervisor, clock: new VirtualClock(hypervisor), truth: () => hypervisor.truth(), scenario };
}
