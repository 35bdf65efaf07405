// The physics of the simulated host: what the guests do and get as simulated time moves.
// Time only moves through advance(); the world integrates the workloads in small sub-steps,
// shares pCPUs as a fair scheduler would (fair-share.ts), moves balloons at a finite rate and
// keeps the tallies the ground-truth record reads (truth-record.ts). The Hypervisor face
// (simulated-host.ts) reads this state and sets pins, balloon targets and stats periods.

import { reportFreePages, startReporting, type FreePageReporting } from './free-page-reporting.js';
import { fairShare, type ShareResult } from './fair-share.js';
import { PageCache } from './page-cache.js';
import { hashString } from './random.js';
import { DEFAULT_MEMORY_DEVICE_RATES, type DomainSpec, type Scenario } from './scenario.js';
import type { LifecycleEvent, OomEvent } from './truth.js';
import { workloadValue } from './workload.js';
import { emptyOtherTally, otherLoadDemands, type OtherLoadTally } from './other-load.js';
import { nextWindowEdge, runnableFraction, settleWindowStart, startBurstClock, type BurstClock } from './clock-bound.js';

export interface SimOptions {
  /** Seeds every noise stream; defaults to the scenario's seed. */
  seed?: number;
  /** Extra Gaussian noise on every demand, on top of what the scenario says (hardening tests). */
  noise?: { cpuSd?: number; usedSdMiB?: number };
}

export const NS_PER_S = 1e9;
/** Tick of the CPU simulation when some vCPU is clock-bound, ns: 1 ms, a fraction of a CFS slice. */
export const TICK_NS = 1e6;
/** Work an elastic thread keeps queued at most (ns of pCPU time): a starved thread catches up on at most this much. */
const MAX_BACKLOG_NS = 100e6;
/** Distinct sharing problems remembered by the tick simulation before it starts afresh. */
const MAX_TICK_SHARES = 4096;
export const KIB_PER_MIB = 1024;
/** Guests report `last-update` as wall-clock seconds; the simulated wall clock starts here. */
export const SIM_EPOCH_SECONDS = 1_700_000_000;
/** A guest that boots during the scenario loads its balloon driver this long after start. */
export const BALLOON_DRIVER_LOAD_SECONDS = 2;

/** The guest's last balloon statistics report, as QEMU keeps it. */
export interface StatsSnapshot {
  unusedKiB: number;
  usableKiB: number;
  availableKiB: number;
  diskCachesKiB: number;
  majorFaults: number;
  minorFaults: number;
  lastUpdate: number;
  /** The driver sent all ones for every figure (scenario `allOnesStats`): only `lastUpdate` means anything. */
  allOnes?: boolean;
}

export interface VcpuState {
  affinity: number[];
  timeNs: number;
  delayNs: number;
  /** ns per pCPU since the last observe, to report where it mostly ran. */
  seenNs: number[];
  lastPcpu: number;
  stream: number;
  /** Tallies since the last ground-truth report. */
  truth: { demandNs: number; receivedNs: number; pcpuNs: number[] };
  /** A clock-bound (bursty) vCPU's windows; undefined for every other shape. */
  burst?: BurstClock;
  /** Work arrived and not yet done, ns of pCPU time (tick simulation only; see stepCpuTicks). */
  backlogNs: number;
}

/**
 * A guest's virtio-mem device as the guest's driver works it (Linux drivers/virtio/virtio_mem.c):
 * it plugs or unplugs whole blocks toward the requested size at the host's rate; an unplug that
 * cannot free enough memory stops where it is and is tried again after the driver's back-off
 * (50 s, doubling to 300 s; at once when the host changes the request).
 */
export interface DeviceState {
  sizeKiB: number;
  blockKiB: number;
  requestedKiB: number;
  pluggedKiB: number;
  /** Progress toward the next block at the plug or unplug rate, KiB. */
  creditKiB: number;
  /** While an unplug is held back: when the driver tries again, ns. */
  retryAtNs: number;
  /** The driver's back-off for the next failure, ns. */
  backoffNs: number;
  /** Unplug attempts that stopped short since the last ground-truth report. */
  blockedUnplugs: number;
  /** The next of the scenario's scripted requests (`memoryDevice.requests`) still to come. */
  nextScripted: number;
}

/** Linux virtio_mem's retry timer after a failed unplug: VIRTIO_MEM_RETRY_TIMER_MIN_MS, doubling to _MAX_MS. */
export const UNPLUG_RETRY_MIN_SECONDS = 50;
export const UNPLUG_RETRY_MAX_SECONDS = 300;
/** Free memory a guest keeps while it offlines blocks (its watermarks, room to migrate pages): an unplug never leaves less, KiB. */
export const UNPLUG_GUEST_FREE_KIB = 32 * KIB_PER_MIB;
/**
 * Linux's memory block on x86-64 (128 MiB): the guest offlines online-movable memory a whole block at
 * a time, so an unplug of more than that goes in 128 MiB steps, each needing that much free memory (a
 * lab guest with 179 MiB free unplugged 128 MiB and stopped with 51 MiB free, no smaller step after).
 */
export const LINUX_MEMORY_BLOCK_KIB = 128 * KIB_PER_MIB;

export interface DomainState {
  spec: DomainSpec;
  /** Present for a guest with a virtio-mem device (scenario `memoryDevice`). */
  device?: DeviceState;
  running: boolean;
  everStarted: boolean;
  /** The host's id of this run of it: new at each start and each arrival (migrateIn). */
  id: number;
  /** Migrated away (scenario `moves`): not running here, its state kept for its return. */
  away: boolean;
  /** The job under way (`outgoing migration`, `incoming migration`), undefined when none. */
  job?: string;
  vcpus: VcpuState[];
  actualKiB: number;
  targetKiB: number;
  usedDemandKiB: number;
  /** Anonymous memory in use (demand capped by the balloon), KiB. */
  usedKiB: number;
  /** File data the guest keeps in its page cache, and its readers. */
  cache: PageCache;
  /** Pages first touched by anonymous use since boot. */
  minorFaults: number;
  rssKiB: number;
  /** Present when the guest reports free pages (scenario `freePageReporting`). */
  reporting?: FreePageReporting;
  statsPeriod: number;
  nextRefreshNs: number;
  /** When the balloon driver loads and sends its one boot-time report. */
  driverLoadNs: number;
  snapshot?: StatsSnapshot;
  inOom: boolean;
  usedStream: number;
  /** Tallies since the last ground-truth report. */
  truth: DomainTally;
}

export interface DomainTally {
  runningNs: number;
  peakDemandKiB: number;
  minActualKiB: number;
  oomNs: number;
  /** Whether the next report includes the domain (it ran during the interval). */
  seen: boolean;
}

/** Host-wide tallies since the last ground-truth report. */
export interface HostTally {
  fromNs: number;
  pcpuBusyNs: number[];
  minFreeKiB: number;
  oomEvents: OomEvent[];
  lifecycle: LifecycleEvent[];
}

export class SimPhysics {
  readonly seed: number;
  readonly domains: DomainState[];
  readonly tally: HostTally;
  private nowNs = 0;
  private readonly stepNs: number;
  private readonly allPcpus: number[];
  /** Last sharing problem solved; reused while demands are unchanged and nothing was pinned, started or stopped. */
  private shareCache: { layout: number; demands: number[]; result: ShareResult } | undefined;
  /** Bumped whenever which vCPUs run, or where they may run, changes. */
  private layout = 0;
  /** Every boot and shutdown time, ns, ascending: sub-steps end exactly there. */
  private readonly lifecycleTimesNs: number[];
  /** Busy time per pCPU since the scenario began, guests and other load, ns (what node CPU stats report). */
  readonly pcpuBusyTotalNs: number[];
  /** Other load wanted and received since the last ground-truth report. */
  otherTally: OtherLoadTally;
  /** Whether some vCPU is clock-bound: then CPU is simulated in ticks (stepCpuTicks), else per sub-step. */
  private readonly clockBound: boolean;
  /** Per other-load thread, work arrived and not yet done, ns (tick simulation only). */
  private readonly otherBacklogNs: number[];
  /** Sharing problems solved in the tick simulation, by demands; emptied when the layout changes. */
  private tickShares = new Map<string, ShareResult>();
  private tickSharesLayout = -1;

  constructor(
    readonly scenario: Scenario,
    private readonly options: SimOptions = {},
  ) {
    this.seed = options.seed ?? scenario.seed;
    this.stepNs = Math.max(1, Math.round(scenario.stepMs * 1e6));
    this.allPcpus = Array.from({ length: scenario.host.pcpus }, (_, p) => p);
    this.tally = { fromNs: 0, pcpuBusyNs: new Array<number>(scenario.host.pcpus).fill(0), minFreeKiB: Infinity, oomEvents: [], lifecycle: [] };
    this.pcpuBusyTotalNs = new Array<number>(scenario.host.pcpus).fill(0);
    this.otherTally = emptyOtherTally(scenario.host.pcpus);
    this.clockBound = scenario.domains.some((d) => d.cpu.some((w) => w.kind === 'bursty'));
    this.otherBacklogNs = new Array<number>((scenario.host.otherLoad ?? []).length).fill(0);
    this.domains = scenario.domains.map((spec) => this.initialState(spec));
    const times = scenario.domains.flatMap((d) => [
      d.startSeconds,
      ...(d.stopSeconds === null ? [] : [d.stopSeconds]),
      ...(d.moves ?? []).flatMap((m) => [m.atSeconds, m.atSeconds + m.jobSeconds]),
      ...(d.memoryDevice?.requests ?? []).map(([s]) => s),
    ]);
    this.lifecycleTimesNs = [...new Set(times.map((s) => Math.round(s * NS_PER_S)))].sort((a, b) => a - b);
    this.applyLifecycle();
    this.tally.minFreeKiB = this.hostFreeKiB();
  }

  private initialState(spec: DomainSpec): DomainState {
    // A guest with virtio-mem boots with its requested size plugged: its balloon's actual counts it.
    const pluggedKiB = (spec.memoryDevice?.requestedMiB ?? 0) * KIB_PER_MIB;
    const memoryKiB = spec.memoryMiB * KIB_PER_MIB + pluggedKiB;
    const state: DomainState = {
      spec,
      running: false,
      everStarted: false,
      id: -1,
      away: false,
      vcpus: spec.pin.map((pin, i) => {
        const stream = hashString(`${spec.name}/cpu/${i}`);
        const shape = spec.cpu[i]!;
        const v: VcpuState = {
          affinity: pin ? [...pin] : [...this.allPcpus],
          timeNs: 0,
          delayNs: 0,
          seenNs: new Array<number>(this.scenario.host.pcpus).fill(0),
          lastPcpu: (pin ?? this.allPcpus)[i % (pin ?? this.allPcpus).length]!,
          stream,
          truth: { demandNs: 0, receivedNs: 0, pcpuNs: new Array<number>(this.scenario.host.pcpus).fill(0) },
          backlogNs: 0,
        };
        if (shape.kind === 'bursty') v.burst = startBurstClock(shape, this.seed, stream, this.nowNs);
        return v;
      }),
      actualKiB: memoryKiB,
      targetKiB: memoryKiB,
      usedDemandKiB: 0,
      usedKiB: 0,
      // Filled at boot (applyLifecycle), when the guest's anonymous use is known.
      cache: new PageCache([], 0, 0, 0, this.scenario.host.diskReadMiBps),
      minorFaults: 0,
      rssKiB: 0,
      statsPeriod: spec.statsPeriod,
      nextRefreshNs: 0,
      driverLoadNs: 0,
      inOom: false,
      usedStream: hashString(`${spec.name}/used`),
      truth: { runningNs: 0, peakDemandKiB: 0, minActualKiB: memoryKiB, oomNs: 0, seen: false },
    };
    if (spec.memoryDevice) {
      state.device = {
        sizeKiB: spec.memoryDevice.sizeMiB * KIB_PER_MIB,
        blockKiB: spec.memoryDevice.blockMiB * KIB_PER_MIB,
        requestedKiB: pluggedKiB,
        pluggedKiB,
        creditKiB: 0,
        retryAtNs: 0,
        backoffNs: UNPLUG_RETRY_MIN_SECONDS * NS_PER_S,
        blockedUnplugs: 0,
        nextScripted: 0,
      };
    }
    return state;
  }

  /** The most a balloon target may be: the boot memory, plus what a virtio-mem device has plugged, KiB. */
  balloonCeilingKiB(d: DomainState): number {
    return d.spec.maxMemoryMiB * KIB_PER_MIB + (d.device?.pluggedKiB ?? 0);
  }

  /** Simulated time since the scenario began, ns. */
  get timeNs(): number {
    return this.nowNs;
  }

  // ---- what the Hypervisor face may change ----

  /** Pins a vCPU; `pcpus` must be sorted, distinct and exist. */
  setAffinity(d: DomainState, vcpu: number, pcpus: number[]): void {
    d.vcpus[vcpu]!.affinity = pcpus;
    this.layout++;
  }

  /** A new CPU weight for every vCPU of the domain (libvirt cpu_shares relative to the default). */
  setWeight(d: DomainState, weight: number): void {
    d.spec = { ...d.spec, weight };
    this.layout++;
  }

  setBalloonTarget(d: DomainState, targetKiB: number): void {
    d.targetKiB = targetKiB;
  }

  /** A new requested size for the guest's virtio-mem device (a multiple of its block, at most its size): the driver works toward it at once. */
  setDeviceRequest(d: DomainState, requestedKiB: number): void {
    const dev = d.device!;
    if (dev.requestedKiB !== requestedKiB) dev.creditKiB = 0;
    dev.requestedKiB = requestedKiB;
    // A changed request wakes the driver (virtio_mem_config_changed), whatever its retry timer says.
    dev.retryAtNs = 0;
  }

  setStatsPeriod(d: DomainState, seconds: number): void {
    // Like QEMU: turning stats on polls the guest at once; changing the period re-arms the timer.
    if (seconds > 0) d.nextRefreshNs = d.statsPeriod > 0 ? this.nowNs + seconds * NS_PER_S : this.nowNs;
    d.statsPeriod = seconds;
  }

  // ---- lifecycle ----

  private applyLifecycle(): void {
    const t = this.nowNs;
    for (const d of this.domains) {
      const startNs = Math.round(d.spec.startSeconds * NS_PER_S);
      const stopNs = d.spec.stopSeconds === null ? Infinity : Math.round(d.spec.stopSeconds * NS_PER_S);
      const inLife = t >= startNs && t < stopNs;
      const phase = movePhase(d.spec, t);
      const shouldRun = inLife && !phase.away;
      if (shouldRun && !d.running && !d.everStarted) {
        Object.assign(d, this.initialState(d.spec));
        d.running = true;
        d.everStarted = true;
        d.id = this.nextId++;
        this.layout++;
        d.nextRefreshNs = t;
        // A guest running at t = 0 booted before the scenario: its driver has already loaded.
        d.driverLoadNs = t === 0 ? 0 : t + BALLOON_DRIVER_LOAD_SECONDS * NS_PER_S;
        d.truth.seen = true;
        this.sampleMemory(d, t, 0);
        const initialKiB = d.spec.cachesMiB * KIB_PER_MIB;
        d.cache = new PageCache(d.spec.reads, initialKiB, cacheRoomOf(d, d.actualKiB), d.usedKiB, this.scenario.host.diskReadMiBps);
        this.touchResident(d);
        if (d.spec.freePageReporting) d.reporting = startReporting(t);
        // A guest booting with a stats period reports at once (at t = 0: it was running before).
        this.refreshStats(d, t);
        this.tally.lifecycle.push({ domain: d.spec.name, kind: 'start', timeNs: t });
      } else if (shouldRun && d.away) {
        // Back from another host: a new QEMU process (new id, vCPU counters from zero, the defined
        // pins), the memory state it left with.
        d.running = true;
        d.away = false;
        d.id = this.nextId++;
        d.vcpus.forEach((v, i) => {
          const pin = d.spec.pin[i] ?? null;
          v.affinity = pin ? [...pin] : [...this.allPcpus];
          v.timeNs = 0;
          v.delayNs = 0;
          v.backlogNs = 0;
        });
        this.layout++;
        d.truth.seen = true;
        this.tally.lifecycle.push({ domain: d.spec.name, kind: 'migrate-in', timeNs: t });
      } else if (!shouldRun && d.running) {
        d.running = false;
        this.layout++;
        if (inLife) {
          d.away = true;
          this.tally.lifecycle.push({ domain: d.spec.name, kind: 'migrate-out', timeNs: t });
        } else this.tally.lifecycle.push({ domain: d.spec.name, kind: 'stop', timeNs: t });
      }
      d.job = d.running ? phase.job : undefined;
      if (d.running && d.device) this.applyScriptedRequests(d, d.device, t);
    }
  }

  /** Requests made by someone else at the scenario's times (`memoryDevice.requests`); those before the guest booted are skipped. */
  private applyScriptedRequests(d: DomainState, dev: DeviceState, t: number): void {
    const requests = d.spec.memoryDevice?.requests ?? [];
    while (dev.nextScripted < requests.length && Math.round(requests[dev.nextScripted]![0] * NS_PER_S) <= t) {
      const [atSeconds, mib] = requests[dev.nextScripted++]!;
      if (atSeconds >= d.spec.startSeconds) this.setDeviceRequest(d, mib * KIB_PER_MIB);
    }
  }

  /** The next domain id (libvirt's ids count up from 1 as domains start). */
  private nextId = 1;

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
    if (this.clockBound) this.stepCpuTicks(running, startNs, dtNs);
    else this.stepCpu(running, (startNs + dtNs / 2) / NS_PER_S, dtNs);
    for (const d of running) {
      d.truth.runningNs += dtNs;
      if (d.device) this.stepDevice(d, d.device, dtNs);
      this.stepBalloon(d, dtNs);
      this.sampleMemory(d, endNs, dtNs);
      if (d.cache.reading) {
        d.cache.read(startNs / NS_PER_S, dtNs / NS_PER_S);
        this.touchResident(d);
      }
      d.cache.accountCold(endNs / NS_PER_S, dtNs / NS_PER_S);
      if (d.reporting) d.rssKiB = reportFreePages(d.reporting, d.rssKiB, d.usedKiB + d.cache.cachedKiB, endNs);
      this.refreshStats(d, endNs);
    }
    this.tally.minFreeKiB = Math.min(this.tally.minFreeKiB, this.hostFreeKiB());
  }

  /** Each running vCPU's demand at `tMid` (0..1; a clock-bound one without the run's extra noise), weight, affinity and state, in one order. */
  private vcpuDemands(running: DomainState[], tMid: number): { demands: number[]; weights: number[]; affinity: number[][]; states: VcpuState[] } {
    const demands: number[] = [];
    const weights: number[] = [];
    const affinity: number[][] = [];
    const states: VcpuState[] = [];
    const extra = this.options.noise?.cpuSd ?? 0;
    for (const d of running) {
      d.vcpus.forEach((v, i) => {
        const raw = workloadValue(d.spec.cpu[i]!, tMid, this.seed, v.stream, v.burst ? 0 : extra);
        demands.push(Math.min(1, Math.max(0, raw)));
        weights.push(d.spec.weight);
        affinity.push(v.affinity);
        states.push(v);
      });
    }
    return { demands, weights, affinity, states };
  }

  private stepCpu(running: DomainState[], tMid: number, dtNs: number): void {
    const { demands, weights, affinity, states } = this.vcpuDemands(running, tMid);
    const others = this.addOtherLoad(tMid, demands, weights, affinity);
    if (states.length === 0 && others === 0) return;
    // Piecewise-constant workloads repeat the same problem step after step.
    const cached = this.shareCache;
    let share = cached && cached.layout === this.layout && cached.demands.every((x, k) => x === demands[k]) ? cached.result : undefined;
    if (!share) {
      share = fairShare({ demands, weights, affinity, pcpus: this.scenario.host.pcpus });
      this.shareCache = { layout: this.layout, demands, result: share };
    }
    const busy = this.tally.pcpuBusyNs;
    const busyTotal = this.pcpuBusyTotalNs;
    states.forEach((v, k) => {
      const got = share.received[k]!;
      const wanted = Math.max(demands[k]!, got);
      v.timeNs += got * dtNs;
      v.delayNs += (wanted - got) * dtNs;
      v.truth.demandNs += wanted * dtNs;
      v.truth.receivedNs += got * dtNs;
      creditPcpus(v, share.placement[k]!, dtNs, busy, busyTotal);
    });
    if (others > 0) this.tallyOtherLoad(share, demands, states.length, dtNs);
  }

  /**
   * CPU over one sub-step when some vCPU is clock-bound: in ticks of TICK_NS, the threads runnable
   * in each tick share the pCPUs by the same weighted max-min rule with affinity. A clock-bound
   * vCPU is runnable in its window (clock-bound.ts); any other thread receives its demand d as work
   * d·dt and is runnable while it has work left, so it catches up on what it could not run before.
   * Time and delay (runnable, not running) accumulate per tick as libvirt counts them.
   */
  private stepCpuTicks(running: DomainState[], startNs: number, dtNs: number): void {
    const tMid = (startNs + dtNs / 2) / NS_PER_S;
    const { demands: asked, weights, affinity, states } = this.vcpuDemands(running, tMid);
    const guests = states.length;
    const others = this.addOtherLoad(tMid, asked, weights, affinity);
    if (guests === 0 && others === 0) return;
    if (this.tickSharesLayout !== this.layout) {
      this.tickShares.clear();
      this.tickSharesLayout = this.layout;
    }
    const backlog = (k: number): number => (k < guests ? states[k]!.backlogNs : this.otherBacklogNs[k - guests]!);
    const setBacklog = (k: number, ns: number): void => {
      const capped = Math.min(Math.max(0, ns), MAX_BACKLOG_NS);
      if (k < guests) states[k]!.backlogNs = capped;
      else this.otherBacklogNs[k - guests] = capped;
    };
    const specs = this.scenario.host.otherLoad ?? [];
    const busy = this.tally.pcpuBusyNs;
    const busyTotal = this.pcpuBusyTotalNs;
    const runnable = new Array<number>(asked.length).fill(0);
    const endNs = startNs + dtNs;
    for (let t0 = startNs; t0 < endNs; ) {
      // Ticks also end where a window starts or ends, so a clock-bound vCPU is runnable all of a tick or none of it.
      let t1 = Math.min(t0 + TICK_NS, endNs);
      for (let k = 0; k < guests; k++) {
        const burst = states[k]!.burst;
        if (burst) t1 = Math.min(t1, nextWindowEdge(burst, t0));
      }
      const len = t1 - t0;
      for (let k = 0; k < asked.length; k++) {
        const burst = k < guests ? states[k]!.burst : undefined;
        if (burst) runnable[k] = runnableFraction(burst, t0, t1);
        else {
          const work = backlog(k) + asked[k]! * len;
          setBacklog(k, work);
          runnable[k] = Math.min(1, backlog(k) / len);
        }
      }
      const key = runnable.join(',');
      let share = this.tickShares.get(key);
      if (!share) {
        share = fairShare({ demands: runnable, weights, affinity, pcpus: this.scenario.host.pcpus });
        if (this.tickShares.size >= MAX_TICK_SHARES) this.tickShares.clear();
        this.tickShares.set(key, share);
      }
      for (let k = 0; k < asked.length; k++) {
        const got = share.received[k]!;
        const gotNs = got * len;
        const burst = k < guests ? states[k]!.burst : undefined;
        if (burst) settleWindowStart(burst, t0, t1, (runnable[k]! - got) * len);
        else setBacklog(k, backlog(k) - gotNs);
        if (k >= guests) {
          const p = specs[k - guests]!.pcpu;
          this.otherTally.receivedNs[p] = this.otherTally.receivedNs[p]! + gotNs;
          busy[p] = busy[p]! + gotNs;
          busyTotal[p] = busyTotal[p]! + gotNs;
          continue;
        }
        const v = states[k]!;
        v.timeNs += gotNs;
        v.delayNs += (runnable[k]! - got) * len;
        v.truth.receivedNs += gotNs;
        creditPcpus(v, share.placement[k]!, len, busy, busyTotal);
      }
      t0 = t1;
    }
    // What each thread asked over the sub-step: a clock-bound vCPU its duty, any other its demand.
    states.forEach((v, k) => (v.truth.demandNs += asked[k]! * dtNs));
    specs.forEach((s, j) => (this.otherTally.demandNs[s.pcpu] = this.otherTally.demandNs[s.pcpu]! + asked[guests + j]! * dtNs));
  }

  /** Appends each other-load thread to the sharing problem (pinned to its pCPU); returns how many. */
  private addOtherLoad(tMid: number, demands: number[], weights: number[], affinity: number[][]): number {
    const specs = this.scenario.host.otherLoad ?? [];
    const wanted = otherLoadDemands(specs, tMid, this.seed);
    specs.forEach((s, j) => {
      demands.push(wanted[j]!);
      weights.push(s.weight);
      affinity.push([s.pcpu]);
    });
    return specs.length;
  }

  /** Other-load threads sit after the guests' vCPUs (from `first`) in the solved problem. */
  private tallyOtherLoad(share: ShareResult, demands: readonly number[], first: number, dtNs: number): void {
    const specs = this.scenario.host.otherLoad ?? [];
    specs.forEach((s, j) => {
      const got = share.received[first + j]! * dtNs;
      this.otherTally.demandNs[s.pcpu] = this.otherTally.demandNs[s.pcpu]! + Math.max(demands[first + j]!, share.received[first + j]!) * dtNs;
      this.otherTally.receivedNs[s.pcpu] = this.otherTally.receivedNs[s.pcpu]! + got;
      this.tally.pcpuBusyNs[s.pcpu] = this.tally.pcpuBusyNs[s.pcpu]! + got;
      this.pcpuBusyTotalNs[s.pcpu] = this.pcpuBusyTotalNs[s.pcpu]! + got;
    });
  }

  /**
   * The virtio-mem driver over one sub-step: whole blocks plugged or unplugged at the host's rate
   * toward the request. Plugged memory is the guest's at once (its MemTotal, the balloon's actual);
   * the balloon holds what it held (QEMU measures it over the boot memory), so actual and target
   * move together. An unplug takes only memory the guest can free: free memory and page cache (which
   * yields as to a balloon; anonymous pages in the blocks migrate elsewhere, the blocks being online
   * movable), never its anonymous use nor the last UNPLUG_GUEST_FREE_KIB, in whole Linux memory
   * blocks (LINUX_MEMORY_BLOCK_KIB) while more than one is to go; when that stops it short the driver
   * waits out its back-off before trying again.
   */
  private stepDevice(d: DomainState, dev: DeviceState, dtNs: number): void {
    const rates = this.scenario.host.memoryDevice ?? DEFAULT_MEMORY_DEVICE_RATES;
    const gap = dev.requestedKiB - dev.pluggedKiB;
    if (gap === 0 || (gap < 0 && this.nowNs < dev.retryAtNs)) {
      dev.creditKiB = 0;
      return;
    }
    const rate = gap > 0 ? rates.plugMiBps : rates.unplugMiBps;
    dev.creditKiB += rate * KIB_PER_MIB * (dtNs / NS_PER_S);
    let moved: number;
    if (gap > 0) {
      moved = Math.floor(Math.min(dev.creditKiB, gap) / dev.blockKiB) * dev.blockKiB;
      dev.creditKiB -= moved;
    } else {
      // Whole Linux memory blocks while more than one is to go, then the device's own blocks.
      const unitFor = (left: number) => (left >= LINUX_MEMORY_BLOCK_KIB && LINUX_MEMORY_BLOCK_KIB > dev.blockKiB ? LINUX_MEMORY_BLOCK_KIB : dev.blockKiB);
      let freeable = d.actualKiB - d.usedKiB - UNPLUG_GUEST_FREE_KIB;
      let taken = 0;
      for (let unit = unitFor(-gap); dev.creditKiB >= unit && -gap - taken >= unit; unit = unitFor(-gap - taken)) {
        if (freeable < unit) {
          dev.blockedUnplugs++;
          dev.retryAtNs = this.nowNs + dtNs + dev.backoffNs;
          dev.backoffNs = Math.min(dev.backoffNs * 2, UNPLUG_RETRY_MAX_SECONDS * NS_PER_S);
          dev.creditKiB = 0;
          break;
        }
        taken += unit;
        freeable -= unit;
        dev.creditKiB -= unit;
        dev.backoffNs = UNPLUG_RETRY_MIN_SECONDS * NS_PER_S;
      }
      moved = -taken;
    }
    if (moved === 0) return;
    dev.pluggedKiB += moved;
    d.actualKiB += moved;
    d.targetKiB += moved;
  }

  private stepBalloon(d: DomainState, dtNs: number): void {
    const maxMove = this.scenario.host.balloonRateMiBps * KIB_PER_MIB * (dtNs / NS_PER_S);
    const gap = d.targetKiB - d.actualKiB;
    const before = d.actualKiB;
    d.actualKiB = Math.abs(gap) <= maxMove ? d.targetKiB : d.actualKiB + Math.sign(gap) * maxMove;
    // An inflating balloon takes the free pages the guest touched first (its allocator hands out the
    // recently freed ones): on a lab guest that had touched and freed 1 GiB, a 648 MiB inflation
    // took its QEMU's resident set from 1259 to 611 MiB (docs/memory-coordinator.md).
    const taken = before - d.actualKiB;
    if (taken > 0) d.rssKiB = Math.max(Math.min(d.rssKiB, d.usedKiB + d.cache.cachedKiB), d.rssKiB - taken);
  }

  /** Pages the guest touched stay resident on the host until the balloon takes them back. */
  private touchResident(d: DomainState): void {
    d.rssKiB = Math.min(d.actualKiB, Math.max(d.rssKiB, d.usedKiB + d.cache.cachedKiB));
  }

  /**
   * What the guest uses at time t given its workload and balloon; records running out of memory.
   * Clean page cache yields first: anonymous use and the balloon take from it before anything else.
   */
  private sampleMemory(d: DomainState, tNs: number, dtNs: number): void {
    const t = tNs / NS_PER_S;
    const demandMiB = Math.max(0, workloadValue(d.spec.usedMiB, t, this.seed, d.usedStream, this.options.noise?.usedSdMiB ?? 0));
    d.usedDemandKiB = demandMiB * KIB_PER_MIB;
    const usedBefore = d.usedKiB;
    d.usedKiB = Math.min(d.usedDemandKiB, d.actualKiB);
    if (d.usedKiB > usedBefore) d.minorFaults += (d.usedKiB - usedBefore) / 4;
    d.cache.fit(cacheRoomOf(d, d.actualKiB), d.usedKiB);
    this.touchResident(d);
    d.truth.peakDemandKiB = Math.max(d.truth.peakDemandKiB, d.usedDemandKiB);
    d.truth.minActualKiB = Math.min(d.truth.minActualKiB, d.actualKiB);
    const short = d.usedDemandKiB > d.actualKiB + 0.5;
    if (short) {
      d.truth.oomNs += dtNs;
      if (!d.inOom) {
        this.tally.oomEvents.push({ domain: d.spec.name, timeNs: tNs, demandMiB: demandMiB, actualMiB: d.actualKiB / KIB_PER_MIB });
      }
    }
    d.inOom = short;
  }

  private refreshStats(d: DomainState, tNs: number): void {
    if (!d.spec.balloon) return;
    if (d.spec.statsStopSeconds !== null && tNs >= d.spec.statsStopSeconds * NS_PER_S) return;
    if (d.statsPeriod > 0) {
      if (tNs < d.nextRefreshNs) return;
      d.snapshot = statsAt(tNs, d, d.actualKiB, d.usedKiB, d.cache.cachedKiB);
      const periodNs = d.statsPeriod * NS_PER_S;
      while (d.nextRefreshNs <= tNs) d.nextRefreshNs += periodNs;
      return;
    }
    // Without a period QEMU still keeps the one report the balloon driver sends when it loads,
    // before the balloon inflates: the guest then still sees its whole maximum.
    if (d.snapshot || tNs < d.driverLoadNs) return;
    const maxKiB = this.balloonCeilingKiB(d);
    const used = Math.min(d.usedDemandKiB, maxKiB);
    d.snapshot = statsAt(tNs, d, maxKiB, used, Math.min(d.cache.cachedKiB, maxKiB - used));
  }

  /**
   * total − overhead − what the running guests take, KiB: a guest's balloon actual (what it has
   * not touched yet it will: its page cache fills it, and it never gives it back), except for a
   * guest that reports free pages, which takes only what is resident: what it reports (and what it
   * never touched) the host has back, as a real host's free memory shows (issue #18).
   */
  hostFreeKiB(): number {
    const { memoryMiB, overheadMiB } = this.scenario.host;
    let free = (memoryMiB - overheadMiB) * KIB_PER_MIB;
    for (const d of this.domains) if (d.running) free -= d.reporting ? Math.min(d.actualKiB, d.rssKiB) : d.actualKiB;
    return free;
  }
}

/** The guest's report as the balloon driver makes it: MemFree, MemAvailable (free + clean cache), MemTotal. */
/** Adds what a vCPU ran on each pCPU (`row`: fraction per pCPU, over `lengthNs`) to its own and the pCPUs' tallies. */
function creditPcpus(v: VcpuState, row: readonly number[], lengthNs: number, busy: number[], busyTotal: number[]): void {
  for (let p = 0; p < row.length; p++) {
    const ns = row[p]! * lengthNs;
    if (ns === 0) continue;
    v.seenNs[p] = v.seenNs[p]! + ns;
    v.truth.pcpuNs[p] = v.truth.pcpuNs[p]! + ns;
    busy[p] = busy[p]! + ns;
    busyTotal[p] = busyTotal[p]! + ns;
  }
}

/** The balloon less the free memory the guest kernel keeps (its watermarks): what page cache may fill. */
function cacheRoomOf(d: DomainState, actualKiB: number): number {
  return actualKiB - (d.spec.guestKernel?.minFreeMiB ?? 0) * KIB_PER_MIB;
}

function statsAt(tNs: number, d: DomainState, actualKiB: number, usedKiB: number, cachesKiB: number): StatsSnapshot {
  const actual = Math.round(actualKiB);
  const used = Math.round(usedKiB);
  const caches = Math.round(cachesKiB);
  const allOnes = d.spec.allOnesStats !== undefined && tNs >= (d.spec.allOnesStatsSeconds ?? 0) * NS_PER_S;
  const free = actual - used - caches;
  const k = d.spec.guestKernel;
  return {
    ...(allOnes ? { allOnes } : {}),
    // A real kernel's MemTotal leaves out what it took at boot; its MemAvailable keeps back its
    // reserve and a low watermark of the cache (si_mem_available), clamped at 0.
    availableKiB: k ? actual - k.reservedMiB * KIB_PER_MIB : actual,
    usableKiB: k ? Math.max(0, Math.round(free - k.reserveMiB * KIB_PER_MIB + caches - Math.min(caches / 2, k.lowWatermarkMiB * KIB_PER_MIB))) : actual - used,
    unusedKiB: free,
    diskCachesKiB: caches,
    majorFaults: Math.round(d.cache.majorFaults),
    minorFaults: Math.round(d.minorFaults),
    lastUpdate: SIM_EPOCH_SECONDS + Math.floor(tNs / NS_PER_S),
  };
}

/** Where a domain's moves put it at time `t` (ns): away, or here with the job under way, if any. */
export function movePhase(spec: DomainSpec, tNs: number): { away: boolean; job?: string } {
  let last: NonNullable<DomainSpec['moves']>[number] | undefined;
  for (const m of spec.moves ?? []) if (Math.round(m.atSeconds * NS_PER_S) <= tNs) last = m;
  if (!last) return { away: false };
  const jobEnd = Math.round((last.atSeconds + last.jobSeconds) * NS_PER_S);
  if (last.kind === 'migrateOut') return tNs < jobEnd ? { away: false, job: 'outgoing migration' } : { away: true };
  return tNs < jobEnd ? { away: false, job: 'incoming migration' } : { away: false };
}
