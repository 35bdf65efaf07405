import type { Action, Notice } from './actions.js';

// One line of a trace file (JSON lines): what one interval observed, decided and did.
// The first line of a trace is a TraceHeader. `score`, `report`, the plots and the dashboard read these.

export interface TraceHeader {
  type: 'header';
  version: 1;
  /** `qemu:///system`, `sim:<scenario>`, ... */
  target: string;
  scenario?: string;
  intervalSeconds: number;
  /** Which controllers ran, by kind (`cpu`, `memory`). */
  controllers: Record<string, boolean>;
  pcpus: number;
  startedAt: string;
  /** Options the controllers ran with, for the record. */
  options: Record<string, unknown>;
}

export interface TraceVcpu {
  /** CPU weight of its domain when not 1 (libvirt cpu_shares / 1024). */
  weight?: number;
  /** Share the scheduler's model predicted for it over this interval (decided last interval); compare with `usage`. */
  predicted?: number;
  /** True when the scheduler has learned it clock-bound (its busy windows end by the clock; src/cpu/learned-sharing.ts): its predictions follow that model. */
  clockBound?: boolean;
  domain: string;
  vcpu: number;
  /** pCPU it is pinned to (single) or running on. */
  pcpu: number | undefined;
  affinity: number[];
  /** Fraction of one pCPU it ran, 0..1. */
  usage: number;
  /** Fraction of one pCPU it wanted (run + wait), 0..1. */
  demand: number;
}

export interface TraceCpu {
  elapsedNs: number;
  /** Per pCPU, fraction 0..1 (sum of the usage of the vCPUs on it). */
  pcpuUsage: number[];
  pcpuDemand: number[];
  /** Per pCPU, fraction 0..1 busy with anything but our guests' vCPUs (host processes, QEMU's own threads, other tenants); absent when not observed. */
  pcpuOther?: number[];
  vcpus: TraceVcpu[];
  /** Mean |usage − predicted| over the vCPUs that had a prediction, fraction of a pCPU. */
  predictionError?: number;
  /** Per domain, the same mean over its own vCPUs that had a prediction (added by the record layer, src/control/cpu-record.ts). */
  domainPredictionError?: Record<string, number>;
  /** pCPUs dedicated to a domain after this interval's decision (`vms.NAME.dedicated`), and since when they are held. */
  dedicated?: TraceDedicatedGrant[];
  /** Dedicated domains busy long enough whose request cannot be met now (it would leave no pCPU for the others). */
  dedicatedRefused?: string[];
  /** Judged by the scheduler: no placement would do much better (false on a short window, nothing judged). */
  balanced: boolean;
  /** Predicted demand spread of the placement in force, points (0 on a short window, nothing judged). */
  spreadPoints: number;
  /** The scheduler's decision in one line: why it acted or not (the same text the daemon logs). */
  decision?: string;
  /** What the trial loop did this interval (src/cpu/trials.ts): a trial started, measured, kept or reverted, or a proposal held. */
  trial?: TraceTrial;
  /** The demand epoch this interval was decided in (trials.ts); absent when trials are off. */
  epoch?: number;
  /**
   * True when the window (elapsedNs) was shorter than half the interval: its rates are noise, the
   * scheduler decided nothing on it, and the monitor, score and metrics leave its usage out. Absent otherwise
   * (and in traces written before it existed).
   */
  shortWindow?: boolean;
}

/** A placement's measured outcome: worst received share / max-min fair share, pCPU usage spread (points), over `samples` intervals. */
export interface TraceMeasuredOutcome {
  worstFraction: number;
  usageSpreadPoints: number;
  samples: number;
  /** σ of the per-interval worst fraction (noise): trials compare outcomes beyond two standard errors of their difference. */
  sd?: number;
}

export interface TraceTrial {
  event: 'started' | 'measuring' | 'kept' | 'reverted' | 'abandoned' | 'held';
  /** The demand epoch (trials.ts): a new one begins when some vCPU's demand leaves its noise band. */
  epoch: number;
  baseline?: TraceMeasuredOutcome;
  measured?: TraceMeasuredOutcome;
  rule?: 'one-trial-per-epoch' | 'placement-left-before' | 'measured-worse-before' | 'backing-off' | 'nothing-to-gain' | 'epoch-settled';
  progress?: [number, number];
  /** The trial loop's own clause of the decision line, for a reader (never parsed). */
  text?: string;
  /** A trial abandoned in this interval (its demand epoch ended before it was measured), whatever else the event says. */
  abandoned?: { because: string; baseline: TraceMeasuredOutcome };
}

export interface TraceDedicatedGrant {
  domain: string;
  /** One pCPU per vCPU, in vCPU order. */
  pcpus: number[];
  /** The interval (and its time, ms since the run started) from which it holds these pCPUs; absent until the record layer adds them. */
  sinceInterval?: number;
  sinceMs?: number;
}

export interface TraceGuestMemory {
  domain: string;
  actualKiB: number;
  maximumKiB: number;
  unusedKiB?: number;
  /** actual − unused at the reading, page cache included. */
  usedKiB?: number;
  /** Guests that report MemAvailable: what they cannot drop (the lowest a shrink may go is this + floor),
   *  the page cache they could drop, its hot part, and their disk read rate (KiB/s). */
  anonKiB?: number;
  cacheKiB?: number;
  hotKiB?: number;
  readKiBps?: number;
  /** The host's resident set of its QEMU process (libvirt `balloon.rss`): what the host really holds for it. Absent in older traces. */
  rssKiB?: number;
  floorKiB: number;
  fresh: boolean;
}

export interface TraceMemory {
  guests: TraceGuestMemory[];
  hostFreeKiB: number;
  reserveKiB: number;
}

/** Ground truth only a simulated host knows; absent on real hosts. */
export interface TraceTruth {
  /** Per vCPU: demanded and received fraction of a pCPU over the interval. */
  vcpus: { domain: string; vcpu: number; demand: number; received: number }[];
  /** Per domain: memory the workload wanted, KiB. */
  memoryDemandKiB: Record<string, number>;
  oomEvents: { domain: string; timeMs: number; demandKiB: number; actualKiB: number }[];
  /** Per pCPU, what the host's other load (not guests) wanted and received, 0..1; absent without other load. */
  otherLoad?: { demand: number[]; received: number[] };
  /** Per domain with page cache or disk reads: what its cache held and cost (absent: none anywhere). */
  cache?: Record<string, TraceCacheTruth>;
  /** Per domain with a virtio-mem device, at the end of the interval, KiB (absent: none anywhere). */
  memoryDevices?: Record<string, TraceMemoryDeviceTruth>;
}

/** A guest's virtio-mem device (definitions in src/host/sim/truth.ts, DeviceTruth), KiB. */
export interface TraceMemoryDeviceTruth {
  bootKiB: number;
  sizeKiB: number;
  requestedKiB: number;
  pluggedKiB: number;
  /** Unplug attempts in the interval that stopped short. */
  blockedUnplugs: number;
}

/** A guest's page cache over one interval (definitions in src/host/sim/truth.ts, CacheTruth). */
export interface TraceCacheTruth {
  hotMiB: number;
  coldMiB: number;
  /** ∫ cold cache dt over the interval, MiB·s. */
  coldMiBSeconds: number;
  refaultMiB: number;
  /** Refaults that would not have happened had the coordinator not shrunk the guest, MiB. */
  coordinatorRefaultMiB: number;
  readStallSeconds: number;
}

export interface TraceInterval {
  type: 'interval';
  interval: number;
  /** Clock time at the observation, ms since the run started. */
  timeMs: number;
  domains: string[];
  cpu?: TraceCpu;
  memory?: TraceMemory;
  actions: Action[];
  /** Actions that failed when applied, with the error. */
  failures: { action: Action; error: string }[];
  /**
   * Actions not applied because their domain went away between observe and act (migrated, saved,
   * stopped): a move, not a failure. Absent when there were none (and in traces written before it existed).
   */
  unapplied?: { action: Action; why: string }[];
  notices: Notice[];
  truth?: TraceTruth;
  /**
   * OOM kills inside guests first seen in this interval, on real hosts: the lab reads them from each
   * guest's console (src/lab/oom-watch.ts). Present on every interval of a run that looked, so an
   * empty list means "looked, none".
   */
  oomKills?: { domain: string; process: string; pid: number }[];
  /** What the host cannot give its guests, for a fleet engine to act on (src/control/shortfall.ts); absent in older traces. */
  shortfall?: TraceShortfall;
  /**
   * Per domain with virtio-mem, as observed at the interval's start (the observation's
   * `memoryDevice`), whichever controllers run; absent when no observed domain has a device.
   */
  memoryDevices?: Record<string, TraceMemoryDevice>;
}

/** A guest's virtio-mem device(s) as observed, KiB: what `/metrics` and the dashboard show. */
export interface TraceMemoryDevice {
  /** Memory it booted with, outside the device. */
  bootKiB: number;
  /** The most the device can plug. */
  sizeKiB: number;
  /** What the host asked it to plug. */
  requestedKiB: number;
  /** What it has plugged. */
  pluggedKiB: number;
}

/** One guest whose move to another host would relieve a shortfall most: `amount` is how much of it (pCPUs or KiB). */
export interface TraceRelief {
  domain: string;
  uuid: string;
  amount: number;
}

/**
 * The host's demand against what it has (src/control/shortfall.ts, docs/fleet.md). CPU in pCPUs:
 * every guest vCPU's run + wait over the interval (what it got and what it waited for). Memory in
 * KiB: each guest's need (what it uses, less cold page cache where known, plus its floor) against
 * what guests can have (what they hold plus the host's free memory above the reserve).
 */
export interface TraceShortfall {
  pcpus: number;
  /** Σ run + wait of the guests' vCPUs, pCPUs; absent without two observations of one connection. */
  cpuDemand?: number;
  /** max(0, cpuDemand − pcpus). */
  cpuShort: number;
  memoryTotalKiB: number;
  memoryCapacityKiB: number;
  memoryNeedKiB: number;
  /** max(0, memoryNeedKiB − memoryCapacityKiB). */
  memoryShortKiB: number;
  cpuRelief?: TraceRelief;
  memoryRelief?: TraceRelief;
  /** Since when (ms since the run started) each shortfall has lasted; absent while there is none. */
  cpuSinceMs?: number;
  memorySinceMs?: number;
}

export type TraceLine = TraceHeader | TraceInterval;
