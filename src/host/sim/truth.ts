// Ground truth of a simulated run, for scoring: what the guests wanted and what they got.
// Each report covers the time since the previous one.

export interface VcpuTruth {
  domain: string;
  vcpu: number;
  /** Mean demand over the interval, 0..1 of a pCPU. */
  demand: number;
  /** Mean pCPU time received over the interval, 0..1 of a pCPU. */
  received: number;
  demandNs: number;
  receivedNs: number;
  /** Runnable but waiting for a pCPU (what libvirt reports as delay), ns. */
  waitNs: number;
  /** Per pCPU, ns this vCPU ran there. */
  pcpuNs: number[];
}

export interface DomainTruth {
  name: string;
  uuid: string;
  /** Whether it runs at the end of the interval. */
  running: boolean;
  /** How long it ran during the interval, ns. */
  runningNs: number;
  /** What the guest wants to use at the end of the interval, MiB (its workload). */
  usedDemandMiB: number;
  peakUsedDemandMiB: number;
  /** What it really uses at the end (demand capped by its balloon), MiB. */
  usedMiB: number;
  /** Balloon actual at the end, MiB. */
  actualMiB: number;
  minActualMiB: number;
  /** Balloon target at the end, MiB. */
  targetMiB: number;
  maximumMiB: number;
  /** Time the guest spent with demand above its balloon (out of memory), ns. */
  oomNs: number;
  statsPeriod: number;
  /** Its page cache (usedMiB above is the anonymous use, which cannot be dropped). */
  cache: CacheTruth;
  /** Its virtio-mem device at the end of the interval; absent without one. */
  memoryDevice?: DeviceTruth;
}

/** A guest's virtio-mem device (the balloon's actual above includes what is plugged). */
export interface DeviceTruth {
  bootMiB: number;
  sizeMiB: number;
  requestedMiB: number;
  pluggedMiB: number;
  /** Unplug attempts during the interval that stopped short (the guest could not free the memory). */
  blockedUnplugs: number;
}

/** A guest's page cache: at the end of the interval, and what happened during it. */
export interface CacheTruth {
  /** Cache of hot sets the guest is still re-reading, MiB. */
  hotMiB: number;
  /** All other cache (data read once, boot-time cache, finished hot sets), MiB. */
  coldMiB: number;
  /** ∫ cold cache dt over the interval, MiB·s. */
  coldMiBSeconds: number;
  /** Data read again from disk after it had been dropped, MiB. */
  refaultMiB: number;
  /**
   * The part of refaultMiB the coordinator caused: refaults of data that a shadow of the guest's
   * cache — the same reads and anonymous use, with the largest balloon the guest has had so far —
   * still held. They would not have happened had the balloon not been inflated below that size.
   */
  coordinatorRefaultMiB: number;
  /** Time readers waited for the disk to read back refaulted data beyond their own pace, s. */
  readStallSeconds: number;
  /** Cache dropped during the interval, MiB. */
  droppedMiB: number;
  /** Read from the disk since boot, MiB (the host's block rd.bytes). */
  diskReadMiB: number;
}

export interface OomEvent {
  domain: string;
  /** Simulated time the guest ran out, ns. */
  timeNs: number;
  demandMiB: number;
  actualMiB: number;
}

export interface LifecycleEvent {
  domain: string;
  /** `migrate-out`: it left the host with its state (after its job); `migrate-in`: it arrived again, with a new id. */
  kind: 'start' | 'stop' | 'migrate-out' | 'migrate-in';
  timeNs: number;
}

export interface ActionCounts {
  pinCalls: number;
  /** Pins that changed where a vCPU may run. */
  pinChanges: number;
  setMemoryCalls: number;
  setStatsPeriodCalls: number;
  /** Calls that threw (bad arguments, vanished domain). */
  rejectedCalls: number;
  /** resizeMemoryDevice calls that were taken; absent when none (runs without virtio-mem read as before). */
  resizeMemoryDeviceCalls?: number;
}

export interface TruthInterval {
  fromNs: number;
  toNs: number;
  vcpus: VcpuTruth[];
  /** Per pCPU, busy fraction over the interval (guests and other load). */
  pcpuBusy: number[];
  /** Per pCPU, what its other load (host.otherLoad) wanted and received over the interval, 0..1; absent without other load. */
  otherLoad?: { demand: number[]; received: number[] };
  domains: DomainTruth[];
  host: {
    /** total − overhead − Σ balloon actual at the end, MiB; negative = the host is overcommitted. */
    memoryFreeMiB: number;
    minMemoryFreeMiB: number;
  };
  oomEvents: OomEvent[];
  lifecycle: LifecycleEvent[];
  actions: ActionCounts;
}
