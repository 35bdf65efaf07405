// The typed libvirt client virtbalance uses: a connection (connection.ts) plus the calls whose wrapper adds
// meaning: typed results (state names, cpumaps as pCPU lists, stats by name), two-step size queries, defaults.
// Every other procedure is called through the generic `call(name, args)`, typed from protocol.ts.
import {
  DeviceModify, DomainAffect, DomainEventId, DomainJobType, DOMAIN_JOB_OPERATIONS, TypedParamType, DomainStatsGroup, MEMORY_STAT_TAGS, NODE_CPU_STATS_ALL_CPUS, NODE_MEMORY_STATS_ALL_CELLS,
  type Domain, type DomainHandle, type TypedParamValue,
} from './protocol.js';
import { LibvirtConnection, type ConnectOptions } from './connection.js';
import { readVirtioMemDevices, virtioMemRequestXml, type VirtioMemDevice } from './memory-devices.js';
import { cpumapFromCpus, cpumapLength, cpusFromCpumap, stateName, type DomainStateName } from './values.js';

export { cpumapFromCpus, cpumapLength, cpusFromCpumap, guestStatNumber, isNotReported, paramNumber, stateName, type DomainStateName } from './values.js';
export { MemoryDeviceXmlError, readVirtioMemDevices, virtioMemRequestXml, type VirtioMemDevice } from './memory-devices.js';
export type { ClientEvents, ConnectOptions, LifecycleEvent } from './connection.js';

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainInfo {
  state: DomainStateName;
  maxMemKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: number;
}

export interface VcpuInfo {
  number: number;
  /** virVcpuState: 0 offline, 1 running, 2 blocked. */
  state: number;
  cpuTimeNs: number;
  /** pCPU it last ran on (-1 when offline). */
  cpu: number;
  /** pCPUs it may run on. */
  affinity: number[];
}

/** A domain's job as domainGetJobStats reports it. */
export interface DomainJob {
  /** A job is under way (virDomainJobType bounded or unbounded). */
  active: boolean;
  /** What it does (`save`, `outgoing migration`, ...), when the daemon says; `unknown` when it does not. */
  operation: string;
  /** How long it has run, ms, when reported. */
  elapsedMs?: number;
}

export interface DomainStatsRecord {
  domain: Domain;
  /** Typed parameters by name, e.g. `vcpu.0.time`, `balloon.current`. */
  params: Map<string, TypedParamValue>;
}

export class LibvirtClient extends LibvirtConnection {
  private nodeInfoCache: Promise<NodeInfo> | undefined;
  private cpuStatsParams: Promise<number> | undefined;

  static override async connect(uri: string, options: ConnectOptions = {}): Promise<LibvirtClient> {
    return LibvirtConnection.establish(uri, options, (u, t, r) => new LibvirtClient(u, t, r));
  }

  // ---- host ----

  async nodeInfo(): Promise<NodeInfo> {
    const r = await this.call('nodeGetInfo');
    const model = String.fromCharCode(...r.model.map((c) => c & 0xff)).replace(/\0.*$/s, '');
    return { model, memoryKiB: r.memory, cpus: r.cpus, mhz: r.mhz, nodes: r.nodes, sockets: r.sockets, cores: r.cores, threads: r.threads };
  }

  /** Node info, asked once per connection (pCPU count for cpumaps). */
  cachedNodeInfo(): Promise<NodeInfo> {
    this.nodeInfoCache ??= this.nodeInfo().catch((e: unknown) => {
      this.nodeInfoCache = undefined;
      throw e;
    });
    return this.nodeInfoCache;
  }

  /** Cumulative CPU times (ns) by name (`kernel`, `user`, `idle`, `iowait`), for one pCPU or all (-1). */
  async nodeCpuStats(cpu = NODE_CPU_STATS_ALL_CPUS): Promise<Record<string, number>> {
    const { nparams } = await this.call('nodeGetCpuStats', { cpuNum: cpu, nparams: 0, flags: 0 });
    const r = await this.call('nodeGetCpuStats', { cpuNum: cpu, nparams, flags: 0 });
    return Object.fromEntries(r.params.map((p) => [p.field, p.value]));
  }

  /**
   * Cumulative CPU times (ns) by name for each of pCPUs 0..count−1, every call in flight at once.
   * The number of fields is asked once per connection (it does not change).
   */
  async nodeCpuStatsEach(count: number): Promise<Record<string, number>[]> {
    this.cpuStatsParams ??= this.call('nodeGetCpuStats', { cpuNum: 0, nparams: 0, flags: 0 }).then((r) => r.nparams);
    const nparams = await this.cpuStatsParams.catch((e: unknown) => {
      this.cpuStatsParams = undefined;
      throw e;
    });
    return Promise.all(
      Array.from({ length: count }, async (_, cpu) => {
        const r = await this.call('nodeGetCpuStats', { cpuNum: cpu, nparams, flags: 0 });
        return Object.fromEntries(r.params.map((p) => [p.field, p.value]));
      }),
    );
  }

  /** A domain's scheduler parameters by name (`cpu_shares`, `vcpu_quota`, … for QEMU; `weight` for the test driver). */
  async schedulerParameters(dom: DomainHandle, flags: number = DomainAffect.Current): Promise<Record<string, number | bigint | boolean | string>> {
    const r = await this.call('domainGetSchedulerParametersFlags', { dom, nparams: 16, flags });
    return Object.fromEntries(r.params.map((p) => [p.field, p.value.value]));
  }

  /** Sets a domain's `cpu_shares` (its CPU weight: the host maps it to the cgroup's weight), live. */
  async setCpuShares(dom: DomainHandle, shares: number, flags: number = DomainAffect.Current): Promise<void> {
    await this.call('domainSetSchedulerParametersFlags', {
      dom,
      params: [{ field: 'cpu_shares', value: { type: TypedParamType.ULLong, value: BigInt(Math.round(shares)) } }],
      flags,
    });
  }

  /** Host memory in KiB by name (`total`, `free`, `buffers`, `cached`), for one NUMA cell or all (-1). */
  async nodeMemoryStats(cell = NODE_MEMORY_STATS_ALL_CELLS): Promise<Record<string, number>> {
    const { nparams } = await this.call('nodeGetMemoryStats', { nparams: 0, cellNum: cell, flags: 0 });
    const r = await this.call('nodeGetMemoryStats', { nparams, cellNum: cell, flags: 0 });
    return Object.fromEntries(r.params.map((p) => [p.field, p.value]));
  }

  /** Memory the host kernel can still give, KiB: free + buffers + cached from node memory stats. */
  async hostAvailableMemoryKiB(): Promise<number> {
    const s = await this.nodeMemoryStats();
    return (s.free ?? 0) + (s.buffers ?? 0) + (s.cached ?? 0);
  }

  // ---- domains ----

  async listAllDomains(flags = 0): Promise<Domain[]> {
    return (await this.call('connectListAllDomains', { needResults: 1, flags })).domains;
  }

  async domainInfo(dom: DomainHandle): Promise<DomainInfo> {
    const r = await this.call('domainGetInfo', { dom });
    return { state: stateName(r.state), maxMemKiB: r.maxMem, memoryKiB: r.memory, vcpus: r.nrVirtCpu, cpuTimeNs: r.cpuTime };
  }

  async domainState(dom: DomainHandle): Promise<{ state: DomainStateName; reason: number }> {
    const r = await this.call('domainGetState', { dom, flags: 0 });
    return { state: stateName(r.state), reason: r.reason };
  }

  /**
   * Each vCPU's state, time, current pCPU and affinity (running domains only).
   * `vcpus` and `pcpus` save the look-ups when the caller knows them.
   */
  async getVcpus(dom: DomainHandle, known: { vcpus?: number; pcpus?: number } = {}): Promise<VcpuInfo[]> {
    const [vcpus, pcpus] = await Promise.all([
      known.vcpus ?? this.domainInfo(dom).then((i) => i.vcpus),
      known.pcpus ?? this.cachedNodeInfo().then((n) => n.cpus),
    ]);
    const maplen = cpumapLength(pcpus);
    const r = await this.call('domainGetVcpus', { dom, maxinfo: vcpus, maplen });
    return r.info.map((v, i) => ({
      number: v.number,
      state: v.state,
      cpuTimeNs: v.cpuTime,
      cpu: v.cpu,
      affinity: cpusFromCpumap(r.cpumaps, i * maplen, maplen, pcpus),
    }));
  }

  /** Each vCPU's pinning (affinity), live or from the config per `flags`. */
  async getVcpuPinInfo(dom: DomainHandle, known: { vcpus?: number; pcpus?: number; flags?: number } = {}): Promise<number[][]> {
    const [vcpus, pcpus] = await Promise.all([
      known.vcpus ?? this.domainInfo(dom).then((i) => i.vcpus),
      known.pcpus ?? this.cachedNodeInfo().then((n) => n.cpus),
    ]);
    const maplen = cpumapLength(pcpus);
    const r = await this.call('domainGetVcpuPinInfo', { dom, ncpumaps: vcpus, maplen, flags: known.flags ?? DomainAffect.Current });
    const out: number[][] = [];
    for (let i = 0; i < r.num; i++) out.push(cpusFromCpumap(r.cpumaps, i * maplen, maplen, pcpus));
    return out;
  }

  /** Pins one vCPU to the given pCPUs (live by default). */
  async pinVcpu(dom: DomainHandle, vcpu: number, cpus: readonly number[], options: { flags?: number; pcpus?: number } = {}): Promise<void> {
    const pcpus = options.pcpus ?? (await this.cachedNodeInfo()).cpus;
    await this.call('domainPinVcpuFlags', { dom, vcpu, cpumap: cpumapFromCpus(cpus, pcpus), flags: options.flags ?? DomainAffect.Live });
  }

  /** Balloon and guest memory statistics by libvirt's names (`actual`, `unused`, `available`, `usable`, `rss`, `last_update`, ...), KiB. */
  async memoryStats(dom: DomainHandle): Promise<Record<string, number>> {
    const r = await this.call('domainMemoryStats', { dom, maxStats: MEMORY_STAT_TAGS.length, flags: 0 });
    const out: Record<string, number> = {};
    for (const s of r.stats) out[MEMORY_STAT_TAGS[s.tag] ?? `tag${s.tag}`] = s.val;
    return out;
  }

  /** The domain's current job (a migration, a save, a dump, ...), or `active: false` when none runs. */
  async domainJob(dom: DomainHandle): Promise<DomainJob> {
    const r = await this.call('domainGetJobStats', { dom, flags: 0 });
    const active = r.type === DomainJobType.Bounded || r.type === DomainJobType.Unbounded;
    const param = (name: string) => r.params.find((p) => p.field === name)?.value.value;
    const op = param('operation');
    const elapsed = param('time_elapsed');
    const job: DomainJob = { active, operation: typeof op === 'number' ? (DOMAIN_JOB_OPERATIONS[op] ?? `operation ${op}`) : 'unknown' };
    if (typeof elapsed === 'number' || typeof elapsed === 'bigint') job.elapsedMs = Number(elapsed);
    return job;
  }

  /** Saves a running domain to `path` on the daemon's host (it stops; domainRestoreFlags starts it again). */
  async save(dom: DomainHandle, path: string, flags = 0): Promise<void> {
    await this.call('domainSaveFlags', { dom, to: path, dxml: null, flags });
  }

  /** Starts a domain again from a file written by save (it gets a new id). */
  async restore(path: string, flags = 0): Promise<void> {
    await this.call('domainRestoreFlags', { from: path, dxml: null, flags });
  }

  /** A domain's virtio-mem devices from its live XML (one XML read; empty when it has none). Sizes in KiB. */
  async virtioMemDevices(dom: DomainHandle): Promise<VirtioMemDevice[]> {
    return readVirtioMemDevices((await this.call('domainGetXmlDesc', { dom, flags: 0 })).xml);
  }

  /**
   * Asks a virtio-mem device (as read by `virtioMemDevices`) to plug `requestedKiB` (a multiple of its
   * block, at most its size): the update-device call, live by default. The guest plugs or unplugs
   * afterwards, at its own pace; the live XML's `current` shows how far it got.
   */
  async setVirtioMemRequested(dom: DomainHandle, device: VirtioMemDevice, requestedKiB: number, flags: number = DeviceModify.Live): Promise<void> {
    await this.call('domainUpdateDeviceFlags', { dom, xml: virtioMemRequestXml(device, requestedKiB), flags });
  }

  /** Stats of every domain (or the given ones) in one call; by default state, vCPU and balloon groups. */
  async getAllDomainStats(
    stats: number = DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon,
    flags = 0,
    doms: readonly DomainHandle[] = [],
  ): Promise<DomainStatsRecord[]> {
    const r = await this.call('connectGetAllDomainStats', { doms: doms as DomainHandle[], stats, flags });
    return r.retStats.map((s) => ({ domain: s.dom, params: s.params }));
  }

  /** Subscribes to lifecycle events (all domains, or one); they arrive as 'lifecycle' events. Returns the callback id. */
  async registerLifecycleEvents(dom: DomainHandle | null = null): Promise<number> {
    return (await this.call('connectDomainEventCallbackRegisterAny', { eventID: DomainEventId.Lifecycle, dom })).callbackID;
  }
}
