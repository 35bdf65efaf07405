// The one view of a host that the policies and the control loop see.
// Two implementations: LibvirtHost (src/host/libvirt-host.ts) and SimulatedHost (src/host/sim/).
// Units: memory in KiB (libvirt's unit), time in nanoseconds, pCPUs by index.

/** Identifies a domain the way libvirt's wire protocol does (name + 16-byte UUID as text). */
export interface DomainRef {
  name: string;
  uuid: string;
}

export type DomainState = 'nostate' | 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended' | 'unknown';

export interface VcpuObservation {
  index: number;
  /** Cumulative time this vCPU ran, ns (libvirt `vcpu.N.time`). */
  timeNs: number;
  /** Cumulative time it was runnable but waited for a pCPU, ns (libvirt `vcpu.N.delay`); undefined when not reported. */
  delayNs?: number;
  /** pCPU it was last seen running on, when known. */
  pcpu?: number;
  /** pCPUs it may run on (its pin); all pCPUs when unpinned. */
  affinity: number[];
}

export interface BalloonObservation {
  /** Balloon actual: memory the guest currently has, KiB. For a guest with a virtio-mem device, its usable
   *  memory: boot memory + plugged − what the balloon holds (libvirt's all-domain stats `balloon.current`). */
  currentKiB: number;
  /** The most the balloon can give the guest now, KiB: the domain's maximum memory; for a guest with a
   *  virtio-mem device, its boot memory + what is plugged now (`memoryDevice.bootKiB + currentKiB`), since a
   *  balloon only acts on memory the guest has (libvirt's `balloon.maximum` there is boot + the device's
   *  whole size, which no balloon target can reach: see docs/libvirt-client.md). */
  maximumKiB: number;
  /** Memory the guest leaves completely unused (MemFree), KiB; undefined without guest stats. */
  unusedKiB?: number;
  /** Memory the guest sees in total (MemTotal), KiB. */
  availableKiB?: number;
  /** Memory the guest could use without swapping (MemAvailable), KiB. */
  usableKiB?: number;
  /** Page cache the guest could drop, KiB. */
  diskCachesKiB?: number;
  /** Major page faults since the guest booted (pages read from disk), cumulative. */
  majorFaults?: number;
  /** Minor page faults since the guest booted (pages mapped without I/O), cumulative. */
  minorFaults?: number;
  /** Host resident set of the guest, KiB. */
  rssKiB?: number;
  /** Guest's timestamp of its last stats update, seconds; must advance for a reading to be fresh. */
  lastUpdate?: number;
  /** The balloon reports free pages (domain definition `<memballoon freePageReporting='on'>`): what the
   *  guest frees leaves the host by itself. Absent when off or not known. */
  freePageReporting?: boolean;
}

/**
 * A guest's virtio-mem memory (libvirt ≥ 7.9, `<memory model='virtio-mem'>`): memory the host plugs
 * and unplugs in blocks while it runs, beside the memory it booted with. KiB. With several devices
 * (one per guest NUMA node) the sizes are their sums and `blockKiB` the largest block.
 */
export interface MemoryDeviceObservation {
  /** Memory the guest booted with (libvirt's initial memory: `<memory>` less the devices' sizes), KiB. */
  bootKiB: number;
  /** The most the device(s) can plug, KiB. */
  sizeKiB: number;
  /** The plugging unit: a requested size is a multiple of it, KiB. */
  blockKiB: number;
  /** What the host asked the guest to plug, KiB. */
  requestedKiB: number;
  /** What the guest has plugged, KiB; differs from requestedKiB while it plugs or unplugs, and stays
   *  above it when the guest could not free enough memory to unplug. */
  currentKiB: number;
  /** How many virtio-mem devices these figures cover (1 on most guests). */
  devices: number;
}

export interface DomainObservation extends DomainRef {
  state: DomainState;
  /** The host's id of this run of the domain (libvirt's domain id); a new one after a restart, a restore
   *  or a migration back. Undefined where the host has none. */
  id?: number;
  /** A job under way on the domain (a migration, a save, a dump, a snapshot: `outgoing migration`,
   *  `save`, ...); undefined when none. While it runs the controllers leave the domain alone. */
  job?: string;
  /** Its QEMU did not answer a query in time (a hung or very busy monitor: libvirt's state change lock
   *  stayed held). Every controller leaves it alone until it answers: a change would wait on that lock too. */
  unanswered?: boolean;
  /** Its definition pins its vCPUs (`<cputune><vcpupin>`): someone else owns its placement. */
  definitionPins?: boolean;
  /** Its memory is backed by hugepages (`<memoryBacking><hugepages/>`): a balloon frees nothing. */
  hugepages?: boolean;
  vcpus: VcpuObservation[];
  /** undefined when the domain has no balloon device at all. */
  balloon?: BalloonObservation;
  /** CPU weight relative to a default guest (libvirt cpu_shares / the host's default shares); undefined when not observed. */
  cpuWeight?: number;
  /** Bytes read from all its disks since it started (Σ libvirt `block.N.rd.bytes`), cumulative;
   *  undefined when the driver reports no block statistics. Rises when a guest re-reads dropped cache. */
  blockReadBytes?: number;
  /** Cumulative CPU time of the whole domain, ns (libvirt `cpu.time`, as `virDomainGetInfo`'s cpuTime:
   *  its vCPUs and QEMU's own threads); undefined when the driver does not report it. */
  cpuTimeNs?: number;
  /** undefined when the domain has no virtio-mem device (or the host does not say). */
  memoryDevice?: MemoryDeviceObservation;
}

export interface HostResources {
  hostname: string;
  pcpus: number;
  memoryTotalKiB: number;
  /** Memory the host kernel can still give (free + buffers + cached from node memory stats). */
  memoryFreeKiB: number;
  /** Per pCPU, cumulative time it was busy (user + kernel, guests' vCPUs included), ns, from libvirt's
   *  node CPU stats per CPU; undefined when the host does not report it. */
  pcpuBusyNs?: number[];
}

export interface HostObservation {
  /** Monotonic time the observation's vCPU counters were read, ns (not when the observation was complete); differences give the measured elapsed time. */
  timeNs: number;
  /** Which connection it was read over, when the hypervisor reconnects (ReconnectingHost): counters
   *  from two different connections are never compared. */
  connection?: number;
  host: HostResources;
  domains: DomainObservation[];
}

export interface Hypervisor {
  /** Human-readable target, e.g. `qemu:///system` or `sim:scenarios/x.yaml`. */
  readonly uri: string;
  observe(): Promise<HostObservation>;
  /** Pins one vCPU of a running domain to the given pCPUs (live). */
  pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void>;
  /** Sets the balloon target of a running domain (live), KiB. */
  setMemory(domain: DomainRef, targetKiB: number): Promise<void>;
  /** Sets how often the guest refreshes its balloon statistics, seconds. */
  setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void>;
  /** Asks a running domain's virtio-mem device(s) to plug `requestedKiB` in all (live): a multiple of the
   *  block, at most the size. Returns once the host has the request; the guest plugs or unplugs at its
   *  own pace (`memoryDevice.currentKiB` in later observations). Absent where the host has no virtio-mem. */
  resizeMemoryDevice?(domain: DomainRef, requestedKiB: number): Promise<void>;
  /** Sets a running domain's CPU weight relative to a default guest (libvirt cpu_shares), live; absent where weights cannot be set. */
  setCpuWeight?(domain: DomainRef, weight: number): Promise<void>;
  close(): Promise<void>;
}

/** Time source of the control loop: real for libvirt, virtual for the simulator. */
export interface Clock {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}
