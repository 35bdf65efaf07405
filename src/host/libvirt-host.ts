import { LibvirtError } from '../libvirt/errors.js';
import { DomainGoneError } from '../ground/errors.js';
import { guestStatNumber, isNotReported, LibvirtClient, paramNumber, readVirtioMemDevices, stateName, type DomainStatsRecord, type VcpuInfo, type VirtioMemDevice } from '../libvirt/client.js';
import { unitBytes } from '../libvirt/memory-devices.js';
import { DomainAffect, DomainStatsGroup, DOMAIN_PAUSED_REASONS, ErrorCode, GetAllDomainStatsFlags } from '../libvirt/protocol.js';
import type { BalloonObservation, DomainObservation, DomainRef, HostObservation, Hypervisor, MemoryDeviceObservation, VcpuObservation } from '../ground/hypervisor.js';

// The Hypervisor on a real libvirt daemon. One observation is one all-domain-stats round trip
// (vCPU times and delays, the domain's CPU time, balloon, block reads, state) plus, in flight at the same time, each running domain's
// vCPU placement (affinity is not in the stats) and the host's memory. Its time is when the vCPU
// counters were read (countersTimeNs), not when all of that had come back.

// Changes are live only (DomainAffect.Live): "current" on a domain that stopped between observe and act
// (saved, migrated away, shut down) would rewrite its persistent definition instead. A driver that
// refuses the live flag for a call (the test driver's pinning) gets "current" for that call from then on.
// A change that finds its domain gone (no such domain, or not running) throws DomainGoneError: a move.
// Groups a driver does not support are left out of its answer, not an error (no ENFORCE flag).
/** libvirt's cpu_shares of a QEMU guest nobody weighted (cgroup v1's default; seen on the lab host). */
export const DEFAULT_CPU_SHARES = 1024;

const STATS_GROUPS = DomainStatsGroup.State | DomainStatsGroup.CpuTotal | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon | DomainStatsGroup.Block;

// A hung QEMU (stopped, wedged, starved) must not stall the host's observation. The call that takes
// its job waits on its monitor for as long as it hangs, and every later all-domain stats call waits up
// to 30 s for that job (libvirt's state change lock) before skipping the domain, every interval. So an
// observation waits for the stats at most `statsDeadlineMs`, then fails; and while such a call is out,
// the stats are asked with NOWAIT: a busy domain's monitor figures (the balloon's guest stats and rss)
// are skipped at once and the rest (state, vCPU times, balloon size) still comes. Not always: NOWAIT
// also skips a domain whose job another client holds for a moment (a monitoring agent's query of a
// guest busy with I/O), and the memory coordinator would see fewer fresh readings for nothing.
/** How long an observation waits for the all-domain stats by default, ms. */
export const STATS_DEADLINE_MS = 5_000;
/** Stats calls that outlived their deadline and are still unanswered, at most: then no more are sent until one returns. */
const MAX_UNANSWERED_STATS_CALLS = 2;
/** How long an observation waits for a domain's job statistics (they wait for its state change lock), ms. */
const JOB_QUERY_DEADLINE_MS = 1_000;
/** Monitor figures of the balloon group: absent when NOWAIT skipped a busy domain's monitor. */
const MONITOR_BALLOON_PARAMS = /^balloon\.(?!current$|maximum$)/;

export interface LibvirtHostOptions {
  /** How long an observation waits for the all-domain stats before it fails, ms (default STATS_DEADLINE_MS). */
  statsDeadlineMs?: number;
}

/**
 * A guest with virtio-mem whose devices look settled (requested = current) has its live XML read
 * again only every this many observations, staggered across guests: what catches a request made by
 * someone else (virsh) that the guest has already met. Unsettled devices are read every observation.
 */
export const MEMORY_DEVICE_REFRESH_OBSERVATIONS = 60;

/** What a domain's definition says that the stats do not, read once per UUID and id. */
interface Definition extends DefinitionFacts {
  /** undefined: no virtio-mem device (never read again). */
  memory?: DeviceMemory;
}

/** A domain's virtio-mem devices as last read from its live XML. */
interface DeviceMemory {
  /** `<memory>` less the devices' sizes, KiB. */
  bootKiB: number;
  devices: VirtioMemDevice[];
  /** The observation count at which they were read. */
  readAt: number;
  /** A resize was asked since: read again at the next observation. */
  stale: boolean;
}

export class LibvirtHost implements Hypervisor {
  private hostname: string | undefined;
  /** The driver did not answer per-pCPU CPU stats: other load is not observed on this connection. */
  private noCpuStats = false;
  /** cpu_shares per domain UUID and id, read when a domain is first seen, when it started again (a new id) and after we set it (null: the driver has none). */
  private readonly shares = new Map<string, Promise<number | null>>();
  /** Each domain's definition (free page reporting, vCPU pins, hugepages, virtio-mem devices), read once
   *  per UUID and id; the virtio-mem devices again only while a request is under way (see needsReread). */
  private readonly definitions = new Map<string, Promise<Definition>>();
  /** Each domain's key (UUID and id) as last observed: what a call naming only its UUID refers to. */
  private readonly keyOfUuid = new Map<string, string>();
  /** Observations made, for the staggered refresh of settled virtio-mem devices. */
  private observations = 0;
  /** The driver does not answer job statistics: jobs are seen only in a paused domain's state reason on this connection. */
  private noJobStats = false;
  /** Calls whose live flag the driver refuses (they take "current" instead). */
  private readonly liveRefused = new Set<string>();
  /** The driver refused NOWAIT: never asked again on this connection. */
  private noWaitRefused = false;
  /** Stats calls past their deadline that have not come back yet. */
  private unansweredStatsCalls = 0;
  /** Each domain's job query still in flight (key: UUID and id): none is sent again before it returns. */
  private readonly jobQueries = new Map<string, Promise<JobAnswer>>();
  /** Each domain's stats as last read with its balloon monitor figures (key: UUID and id), for an observation that skipped its monitor. */
  private readonly lastMonitorBalloon = new Map<string, DomainStatsRecord['params']>();
  /** Each domain's balloon query (after NOWAIT skipped its monitor) still in flight: none is sent again before it returns. */
  private readonly balloonQueries = new Map<string, Promise<DomainStatsRecord['params'] | undefined>>();
  private readonly statsDeadlineMs: number;

  private constructor(readonly client: LibvirtClient, readonly uri: string, options: LibvirtHostOptions = {}) {
    this.statsDeadlineMs = options.statsDeadlineMs ?? STATS_DEADLINE_MS;
  }

  static async connect(uri: string, options: LibvirtHostOptions = {}): Promise<LibvirtHost> {
    return new LibvirtHost(await LibvirtClient.connect(uri), uri, options);
  }

  static fromClient(client: LibvirtClient, options: LibvirtHostOptions = {}): LibvirtHost {
    return new LibvirtHost(client, client.uri, options);
  }

  async observe(): Promise<HostObservation> {
    const node = await this.client.cachedNodeInfo();
    const [statsCall, freeKiB, totalKiB, pcpuBusyNs] = await Promise.all([
      this.allDomainStats(),
      this.hostFreeKiB(),
      this.hostMemoryTotalKiB(),
      this.pcpuBusyNs(node.cpus),
    ]);
    const stats = statsCall.value;
    const skippedMonitors = statsCall.noWait;
    this.observations++;
    this.hostname ??= (await this.client.call('connectGetHostname')).hostname;
    const [details] = await Promise.all([
      Promise.all(stats.map((record) => this.domainDetails(record, node.cpus))),
      Promise.all(stats.map((record) => this.monitorBalloon(record, skippedMonitors))),
    ]);
    // Forget the weights of domains that are gone (a long run sees many come and go).
    const present = new Set(stats.map((record) => sharesKey(record.domain)));
    for (const uuid of this.shares.keys()) if (!present.has(uuid)) this.shares.delete(uuid);
    for (const key of this.definitions.keys()) if (!present.has(key)) this.definitions.delete(key);
    for (const key of this.lastMonitorBalloon.keys()) if (!present.has(key)) this.lastMonitorBalloon.delete(key);
    this.keyOfUuid.clear();
    for (const record of stats) this.keyOfUuid.set(record.domain.uuid, sharesKey(record.domain));
    const domains: DomainObservation[] = [];
    // Where the vCPU times came from (how many from each), and the vcpuinfo calls that carried some.
    const sources = { stats: 0, vcpuInfo: 0, vcpuInfoCalls: [] as Timed<unknown>[] };
    stats.forEach((record, i) => {
      const detail = details[i];
      // A domain that vanished between the calls is left out of this observation.
      if (detail === undefined) return;
      const fromVcpuInfo = vcpuTimesFromVcpuInfo(record, detail.vcpus.value);
      sources.stats += detail.vcpus.value.length - fromVcpuInfo;
      sources.vcpuInfo += fromVcpuInfo;
      if (fromVcpuInfo > 0) sources.vcpuInfoCalls.push(detail.vcpus);
      const observed = domainObservation(record, detail.vcpus.value, node.cpus, detail.balloon);
      if (detail.definition.freePageReporting && observed.balloon) observed.balloon.freePageReporting = true;
      if (detail.definition.memory) withMemoryDevice(observed, detail.definition.memory, detail.balloon !== undefined);
      if (detail.definition.vcpuPins) observed.definitionPins = true;
      if (detail.definition.hugepages) observed.hugepages = true;
      const job = pausedForJob(record) ?? (detail.job === UNANSWERED ? undefined : detail.job);
      if (job !== undefined) observed.job = job;
      if (detail.job === UNANSWERED) observed.unanswered = true;
      // Only a weighted guest says so (1 is every guest's default).
      if (detail.cpuWeight !== undefined && detail.cpuWeight !== 1) observed.cpuWeight = detail.cpuWeight;
      domains.push(observed);
    });
    return {
      timeNs: countersTimeNs(statsCall, sources),
      host: { hostname: this.hostname, pcpus: node.cpus, memoryTotalKiB: totalKiB ?? node.memoryKiB, memoryFreeKiB: freeKiB, ...(pcpuBusyNs ? { pcpuBusyNs } : {}) },
      domains,
    };
  }

  /**
   * The all-domain stats (see STATS_DEADLINE_MS), waited for at most `statsDeadlineMs`. A call
   * past its deadline is left to come back on its own; while MAX_UNANSWERED_STATS_CALLS are out, none
   * is sent (the daemon serves a client only so many calls at once).
   */
  private async allDomainStats(): Promise<StatsCall> {
    if (this.unansweredStatsCalls >= MAX_UNANSWERED_STATS_CALLS) {
      throw new Error(`${this.unansweredStatsCalls} earlier statistics calls to ${this.uri} are still unanswered (a hung guest or daemon): none sent until one returns`);
    }
    const call = this.statsCall();
    const outcome = await within(call, this.statsDeadlineMs, 'late' as const);
    if (outcome !== 'late') return outcome;
    this.unansweredStatsCalls++;
    call.then(() => this.unansweredStatsCalls--, () => this.unansweredStatsCalls--);
    throw new Error(`the all-domain statistics call to ${this.uri} did not return within ${(this.statsDeadlineMs / 1000).toFixed(1)} s (a guest's QEMU not answering?): the next observation asks again`);
  }

  /** The stats call: NOWAIT while an earlier one is still out (see STATS_DEADLINE_MS), unless the driver refused it. */
  private async statsCall(): Promise<StatsCall> {
    const noWait = this.unansweredStatsCalls > 0 && !this.noWaitRefused;
    const flags = GetAllDomainStatsFlags.Active | (noWait ? GetAllDomainStatsFlags.NoWait : 0);
    try {
      return { ...(await timed(() => this.client.getAllDomainStats(STATS_GROUPS, flags))), noWait };
    } catch (err) {
      if (!noWait || !refusesFlags(err)) throw err;
      // A daemon older than NOWAIT (libvirt 4.5): asked without it from now on.
      this.noWaitRefused = true;
      return { ...(await timed(() => this.client.getAllDomainStats(STATS_GROUPS, GetAllDomainStatsFlags.Active))), noWait: false };
    }
  }

  /**
   * After a NOWAIT call, a record whose balloon monitor figures were skipped (its domain's job was held,
   * often only for a moment by another client's query: only the size came) asks for them once more,
   * waiting for the job (see oneQueryPerDomain). Not back by then, the record gets the figures last read
   * for it: their unchanged `last-update` says no new reading came, so the memory coordinator neither
   * acts on them nor takes their absence for stats never enabled. Without NOWAIT nothing is skipped.
   */
  private async monitorBalloon(record: DomainStatsRecord, skippedMonitors: boolean): Promise<void> {
    const key = sharesKey(record.domain);
    const params = record.params;
    if (!params.has('balloon.current')) return;
    if (!skippedMonitors || hasMonitorBalloon(params)) {
      this.lastMonitorBalloon.set(key, params);
      return;
    }
    const again = await this.oneQueryPerDomain(this.balloonQueries, key, async () => {
      const [fresh] = await this.client.getAllDomainStats(DomainStatsGroup.Balloon, 0, [record.domain]).catch(() => []);
      return fresh !== undefined && hasMonitorBalloon(fresh.params) ? fresh.params : undefined;
    }, undefined);
    if (again !== undefined) this.lastMonitorBalloon.set(key, again);
    for (const [name, value] of again ?? this.lastMonitorBalloon.get(key) ?? []) if (MONITOR_BALLOON_PARAMS.test(name)) params.set(name, value);
  }

  /**
   * Starts `query` for the domain keyed `key` unless its earlier one is still out, and waits for it at
   * most JOB_QUERY_DEADLINE_MS (both give `late`): a query that waits for the domain's job lock while a
   * hung QEMU holds it is asked once, not once per observation.
   */
  private async oneQueryPerDomain<T, L>(queries: Map<string, Promise<T>>, key: string, query: () => Promise<T>, late: L): Promise<T | L> {
    if (queries.has(key)) return late;
    const started = query();
    queries.set(key, started);
    started.finally(() => queries.delete(key)).catch(() => undefined);
    return within(started, Math.min(JOB_QUERY_DEADLINE_MS, this.statsDeadlineMs), late);
  }

  /**
   * Each pCPU's cumulative busy time (kernel + user; a guest's vCPU time is counted in user), from
   * the node CPU stats of every pCPU, asked together. undefined when the driver does not report
   * them; then they are not asked again on this connection.
   */
  private async pcpuBusyNs(pcpus: number): Promise<number[] | undefined> {
    if (this.noCpuStats) return undefined;
    try {
      const perCpu = await this.client.nodeCpuStatsEach(pcpus);
      const busy = perCpu.map((s) => (s.kernel !== undefined && s.user !== undefined ? s.kernel + s.user : NaN));
      if (busy.some((b) => !Number.isFinite(b))) throw new Error('no kernel and user times');
      return busy;
    } catch {
      this.noCpuStats = true;
      return undefined;
    }
  }

  /**
   * What the stats do not carry: vCPU placement always, and the balloon from the per-domain
   * memory-stats call for drivers without the balloon stats group (the test driver).
   * All of it is in flight at once. undefined when the domain is gone.
   */
  private async domainDetails(
    record: DomainStatsRecord,
    pcpus: number,
  ): Promise<{ vcpus: Timed<VcpuInfo[]>; balloon?: BalloonObservation; cpuWeight?: number; definition: Definition; job: JobAnswer } | undefined> {
    const vcpus = this.placement(record, pcpus);
    const balloon = record.params.has('balloon.current') ? undefined : this.balloonFromMemoryStats(record);
    const cpuWeight = this.cpuWeight(record);
    const definition = this.definition(record);
    const job = this.job(record);
    try {
      return { vcpus: await vcpus, balloon: await balloon, cpuWeight: await cpuWeight, definition: await definition, job: await job };
    } catch {
      return undefined;
    }
  }

  /**
   * Each vCPU's placement (and, for drivers without the vcpu stats group, its time), with when the
   * vcpuinfo call itself went out and came back. Such drivers leave the count to a domain-info call,
   * made first so that it is not inside the timed window.
   */
  private async placement(record: DomainStatsRecord, pcpus: number): Promise<Timed<VcpuInfo[]>> {
    const vcpus = paramNumber(record.params, 'vcpu.current') ?? (await this.client.domainInfo(record.domain)).vcpus;
    return timed(() => this.client.getVcpus(record.domain, { vcpus, pcpus }));
  }

  private async balloonFromMemoryStats(record: DomainStatsRecord): Promise<BalloonObservation | undefined> {
    const [stats, maximumKiB] = await Promise.all([this.client.memoryStats(record.domain), this.client.call('domainGetMaxMemory', { dom: record.domain }).then((r) => r.memory)]);
    if (stats.actual === undefined) return undefined;
    return {
      currentKiB: stats.actual,
      maximumKiB,
      unusedKiB: reported(stats.unused),
      availableKiB: reported(stats.available),
      usableKiB: reported(stats.usable),
      diskCachesKiB: reported(stats.disk_caches),
      majorFaults: reported(stats.major_fault),
      minorFaults: reported(stats.minor_fault),
      rssKiB: stats.rss,
      lastUpdate: stats.last_update,
    };
  }

  /** Weight w ↦ cpu_shares = w × 1024, libvirt's default for a QEMU guest (the host maps shares to the cgroup's CPU weight). */
  async setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    const key = this.keyOfUuid.get(domain.uuid);
    if (key !== undefined) this.shares.delete(key);
    await this.live('setCpuShares', (flags) => this.client.setCpuShares(domain, weight * DEFAULT_CPU_SHARES, flags));
  }

  /** A domain's CPU weight relative to a default guest, from its cpu_shares; undefined when the driver has none. */
  private async cpuWeight(record: DomainStatsRecord): Promise<number | undefined> {
    const key = sharesKey(record.domain);
    let shares = this.shares.get(key);
    if (!shares) {
      shares = this.client.schedulerParameters(record.domain).then(
        (p) => (typeof p.cpu_shares === 'number' || typeof p.cpu_shares === 'bigint' ? Number(p.cpu_shares) : null),
        () => null,
      );
      this.shares.set(key, shares);
    }
    const value = await shares;
    return value === null || value <= 0 ? undefined : value / DEFAULT_CPU_SHARES;
  }

  /**
   * What the domain's definition says: from its persistent definition, `<cputune><vcpupin>` and
   * `<memoryBacking><hugepages/>` (so that pins set live, ours, are not taken for the definition's
   * own) and whether it has virtio-mem devices; from the live one, `<memballoon ... freePageReporting='on'>`
   * (libvirt ≥ 6.9) and the devices' current sizes (libvirt ≥ 7.9). Read when the domain is first seen
   * (per UUID and id): one call for a domain without virtio-mem, which is never read again. One with a
   * device has its live XML read again only while it is unsettled (some device's requested ≠ current,
   * or we asked a resize since the last read), and otherwise every MEMORY_DEVICE_REFRESH_OBSERVATIONS
   * observations, staggered: the XML of every guest every interval is not an option on a host of 1,000 guests.
   */
  private async definition(record: DomainStatsRecord): Promise<Definition> {
    const key = sharesKey(record.domain);
    const known = this.definitions.get(key);
    if (!known) {
      const read = this.readDefinition(record.domain);
      this.definitions.set(key, read);
      return read;
    }
    const def = await known;
    if (!def.memory || !this.needsReread(def.memory, record.domain.uuid)) return def;
    const again = this.readDefinition(record.domain, def).then((fresh) => (fresh.memory ? fresh : { ...def, memory: { ...def.memory!, readAt: this.observations } }), () => def);
    this.definitions.set(key, again);
    return again;
  }

  private needsReread(memory: DeviceMemory, uuid: string): boolean {
    if (memory.stale || memory.devices.some((d) => d.currentKiB !== d.requestedKiB)) return true;
    const age = this.observations - memory.readAt;
    return age >= MEMORY_DEVICE_REFRESH_OBSERVATIONS || (age > 0 && (this.observations + staggerOf(uuid)) % MEMORY_DEVICE_REFRESH_OBSERVATIONS === 0);
  }

  /**
   * Reads the definition: the persistent one for the facts (nothing known, all false, when it cannot
   * be read), then the live one only for a domain with virtio-mem devices (their current sizes) or
   * when `facts` are already known (a re-read of the devices).
   */
  private async readDefinition(dom: DomainStatsRecord['domain'], facts?: DefinitionFacts): Promise<Definition> {
    let def: Definition;
    if (facts) def = { ...facts };
    else {
      const stored = await this.client.call('domainGetXmlDesc', { dom, flags: DOMAIN_XML_INACTIVE }).then((r) => r.xml, () => undefined);
      if (stored === undefined) return { ...NOTHING_KNOWN };
      def = definitionFacts(stored);
      if (!/<memory\b[^>]*\bmodel\s*=\s*['"]virtio-mem['"]/.test(stored)) return def;
    }
    let xml: string;
    try {
      xml = (await this.client.call('domainGetXmlDesc', { dom, flags: 0 })).xml;
    } catch {
      return def;
    }
    def.freePageReporting = balloonReportsFreePages(xml);
    let devices: VirtioMemDevice[];
    try {
      devices = readVirtioMemDevices(xml);
    } catch {
      devices = [];
    }
    delete def.memory;
    if (devices.length === 0) return def;
    const totalKiB = domainMemoryKiB(xml);
    const sizeKiB = devices.reduce((s, d) => s + d.sizeKiB, 0);
    if (totalKiB === undefined) return def;
    def.memory = { bootKiB: Math.max(0, totalKiB - sizeKiB), devices, readAt: this.observations, stale: false };
    return def;
  }

  /** The virtio-mem devices of a running domain as last read, when it has any. */
  private async knownDeviceMemory(domain: DomainRef): Promise<DeviceMemory | undefined> {
    const key = this.keyOfUuid.get(domain.uuid);
    const def = key === undefined ? undefined : this.definitions.get(key);
    return def === undefined ? undefined : (await def.catch(() => undefined))?.memory;
  }

  /**
   * The job under way on the domain, or UNANSWERED: its query waits for the domain's state change lock,
   * and one not back within JOB_QUERY_DEADLINE_MS (or still out from an earlier observation) means
   * that lock is held, typically by a call waiting on a hung QEMU. One query per domain is out at a time.
   */
  private async job(record: DomainStatsRecord): Promise<JobAnswer> {
    if (this.noJobStats) return undefined;
    return this.oneQueryPerDomain(this.jobQueries, sharesKey(record.domain), () => this.jobQuery(record.domain), UNANSWERED);
  }

  private async jobQuery(domain: DomainStatsRecord['domain']): Promise<JobAnswer> {
    try {
      const job = await this.client.domainJob(domain);
      return job.active ? job.operation : undefined;
    } catch (err) {
      if (err instanceof LibvirtError && err.code === ErrorCode.NoSupport) this.noJobStats = true;
      else if (err instanceof LibvirtError && err.code === ErrorCode.OperationTimeout) return UNANSWERED;
      else if (!(err instanceof LibvirtError)) throw err;
      // A domain that went away meanwhile, or a daemon that refuses: no job known.
      return undefined;
    }
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    await this.live('pin', (flags) => this.client.pinVcpu(domain, vcpu, pcpus, { flags }));
  }

  /**
   * The balloon target, in the observation's frame: what the guest should have in all. For a guest
   * with virtio-mem libvirt takes the target over the boot memory only (it refuses anything above
   * it, "cannot set memory higher than max memory", though `balloon.maximum` says boot + the device's
   * size) and the balloon holds boot − that target whatever is plugged, so the plugged memory (as last
   * read) is taken off before the call.
   */
  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    let memory = Math.round(targetKiB);
    const device = await this.knownDeviceMemory(domain);
    if (device) {
      const plugged = device.devices.reduce((s, d) => s + (d.currentKiB ?? 0), 0);
      memory -= plugged;
      if (memory <= 0) {
        throw new Error(`invalid argument: a balloon target of ${Math.round(targetKiB)} KiB for '${domain.name}' is not above its ${plugged} KiB of plugged virtio-mem memory: the balloon acts on its boot memory; unplug instead`);
      }
    }
    await this.live('setMemory', (flags) => this.client.call('domainSetMemoryFlags', { dom: domain, memory, flags }));
  }

  /**
   * Asks the domain's virtio-mem devices for `requestedKiB` in all: the live XML is read afresh (the
   * update payload is the element as it stands), the request is shared out in document order (each
   * device up to its size, in its blocks) and each device whose request changes gets the update-device
   * call. The devices are read again at the next observation.
   */
  async resizeMemoryDevice(domain: DomainRef, requestedKiB: number): Promise<void> {
    const dom = { ...domain, id: -1 };
    const devices = readVirtioMemDevices((await this.client.call('domainGetXmlDesc', { dom, flags: 0 })).xml);
    if (devices.length === 0) throw new Error(`operation failed: domain '${domain.name}' has no virtio-mem device`);
    const shares = shareRequest(devices, requestedKiB, domain.name);
    for (const [i, device] of devices.entries()) {
      if (shares[i] !== device.requestedKiB) await this.client.setVirtioMemRequested(dom, device, shares[i]!);
    }
    const memory = await this.knownDeviceMemory(domain);
    if (memory) memory.stale = true;
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    await this.live('setMemoryStatsPeriod', (flags) => this.client.call('domainSetMemoryStatsPeriod', { dom: domain, period: seconds, flags }));
  }

  /** A change to the running domain only (see the top of the file); its domain gone becomes DomainGoneError. */
  private async live(what: string, call: (flags: number) => Promise<unknown>): Promise<void> {
    if (!this.liveRefused.has(what)) {
      try {
        await call(DomainAffect.Live);
        return;
      } catch (err) {
        if (!refusesFlags(err)) throw goneOr(err);
        this.liveRefused.add(what);
      }
    }
    try {
      await call(DomainAffect.Current);
    } catch (err) {
      throw goneOr(err);
    }
  }

  async close(): Promise<void> {
    if (!this.client.closed) await this.client.close();
  }

  // Host memory comes from node memory stats (free + buffers + cached: what the kernel can give).
  // Node info and per-cell free memory follow NUMA node 0 on some hosts, so they are only the
  // fallback for drivers without node memory stats (the test driver).
  private memoryStatsSupported = true;
  private memoryTotal: number | undefined;

  private async hostFreeKiB(): Promise<number> {
    if (this.memoryStatsSupported) {
      try {
        return await this.client.hostAvailableMemoryKiB();
      } catch (err) {
        if (!(err instanceof LibvirtError && err.code === ErrorCode.NoSupport)) throw err;
        this.memoryStatsSupported = false;
      }
    }
    return Math.floor((await this.client.call('nodeGetFreeMemory')).freeMem / 1024);
  }

  private async hostMemoryTotalKiB(): Promise<number | undefined> {
    if (this.memoryTotal === undefined && this.memoryStatsSupported) {
      const stats = await this.client.nodeMemoryStats().catch(() => ({}) as Record<string, number>);
      this.memoryTotal = stats.total;
    }
    return this.memoryTotal;
  }
}

/** `promise`'s value if it settles within `ms`, else `late` (the promise goes on; it must handle its own rejection). */
async function within<T, L>(promise: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A domain's job query did not come back in time. */
const UNANSWERED = Symbol('unanswered');
/** What a job query says: the job under way, none (undefined), or no answer in time. */
type JobAnswer = string | undefined | typeof UNANSWERED;

/** The all-domain stats, and whether they were asked with NOWAIT (a busy domain's monitor figures may be missing). */
type StatsCall = Timed<DomainStatsRecord[]> & { noWait: boolean };

function hasMonitorBalloon(params: DomainStatsRecord['params']): boolean {
  for (const name of params.keys()) if (MONITOR_BALLOON_PARAMS.test(name)) return true;
  return false;
}

/** A call's result with the monotonic times (ns) it was sent and its reply came back. */
export interface Timed<T> {
  value: T;
  sentNs: number;
  repliedNs: number;
}

function nowNs(): number {
  return Number(process.hrtime.bigint());
}

async function timed<T>(call: () => Promise<T>): Promise<Timed<T>> {
  const sentNs = nowNs();
  const value = await call();
  return { value, sentNs, repliedNs: nowNs() };
}

/**
 * The observation's time: when the vCPU counters the CPU measurement divides by it were read, not
 * when the observation was complete (a slow call after them, or before the next, must not shorten
 * or stretch the window: 7.5 s of counters over a 112 ms stamp read 100 % everywhere).
 *
 * The daemon reads the counters somewhere between our request and its reply: after any wait in
 * its worker queue or for a domain's job, before the rest of the domains' stats and the reply's
 * transfer and decoding. Where exactly is unknown, and differs between domains of one reply, so
 * the stamp is the round trip's midpoint: wherever the read happened, it is off by at most half
 * the round trip, where the reply's arrival could be off by all of it (and always one way).
 *
 * The counters are vcpu.N.time from the all-domain stats; drivers without the vcpu group (the
 * test driver) give them in each domain's vcpuinfo reply instead, and then those calls' span is
 * the round trip. One driver answers one way, so an observation is one or the other; were it
 * mixed, the source of most vCPU times sets the stamp.
 */
export function countersTimeNs(statsCall: Timed<unknown>, sources: { stats: number; vcpuInfo: number; vcpuInfoCalls: readonly Timed<unknown>[] }): number {
  if (sources.vcpuInfo <= sources.stats || sources.vcpuInfoCalls.length === 0) return midpoint(statsCall.sentNs, statsCall.repliedNs);
  let sent = Infinity;
  let replied = -Infinity;
  for (const call of sources.vcpuInfoCalls) {
    sent = Math.min(sent, call.sentNs);
    replied = Math.max(replied, call.repliedNs);
  }
  return midpoint(sent, replied);
}

function midpoint(fromNs: number, toNs: number): number {
  return Math.round(fromNs + (toNs - fromNs) / 2);
}

/** How many of a domain's vCPU times come from its vcpuinfo reply (none in the stats: `vcpu.N.time` missing). */
function vcpuTimesFromVcpuInfo(record: DomainStatsRecord, placement: readonly VcpuInfo[]): number {
  let count = 0;
  for (const v of placement) if (paramNumber(record.params, `vcpu.${v.number}.time`) === undefined) count++;
  return count;
}

/** A running domain's cgroup, and so its cpu_shares, is new each time it starts: its id tells the runs apart. */
function sharesKey(domain: { uuid: string; id: number }): string {
  return `${domain.uuid}/${domain.id}`;
}

export function domainObservation(record: DomainStatsRecord, placement: VcpuInfo[], pcpus: number, fallbackBalloon?: BalloonObservation): DomainObservation {
  const p = record.params;
  const vcpus: VcpuObservation[] = placement.map((v) => {
    const timeNs = paramNumber(p, `vcpu.${v.number}.time`) ?? v.cpuTimeNs;
    const delayNs = paramNumber(p, `vcpu.${v.number}.delay`);
    return {
      index: v.number,
      timeNs,
      delayNs,
      pcpu: v.cpu >= 0 && v.cpu < pcpus ? v.cpu : undefined,
      affinity: v.affinity,
    };
  });
  const state = stateName(paramNumber(p, 'state.state') ?? -1);
  const observation: DomainObservation = { name: record.domain.name, uuid: record.domain.uuid, state, vcpus, balloon: balloonObservation(p) ?? fallbackBalloon };
  if (record.domain.id >= 0) observation.id = record.domain.id;
  const readBytes = blockReadBytes(p);
  if (readBytes !== undefined) observation.blockReadBytes = readBytes;
  const cpuTimeNs = paramNumber(p, 'cpu.time');
  if (cpuTimeNs !== undefined) observation.cpuTimeNs = cpuTimeNs;
  return observation;
}

/** Σ `block.N.rd.bytes` over the domain's disks; undefined without the block group. */
export function blockReadBytes(p: DomainStatsRecord['params']): number | undefined {
  const count = paramNumber(p, 'block.count');
  if (count === undefined) return undefined;
  let total = 0;
  for (let i = 0; i < count; i++) total += paramNumber(p, `block.${i}.rd.bytes`) ?? 0;
  return total;
}

/**
 * Shares a requested size out over a domain's virtio-mem devices in document order: each takes what
 * it can (up to its size, in its blocks) before the next. Throws `invalid argument: ...` for a size
 * that is negative, not whole KiB, above their total size or not made of their blocks.
 */
export function shareRequest(devices: readonly VirtioMemDevice[], requestedKiB: number, name: string): number[] {
  const total = devices.reduce((s, d) => s + d.sizeKiB, 0);
  if (!Number.isSafeInteger(requestedKiB) || requestedKiB < 0) throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${name}' must be a whole number of KiB ≥ 0`);
  if (requestedKiB > total) throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${name}' is above its virtio-mem size of ${total} KiB`);
  let left = requestedKiB;
  const shares = devices.map((d) => {
    const take = Math.min(d.sizeKiB, d.blockKiB > 0 ? Math.floor(left / d.blockKiB) * d.blockKiB : left);
    left -= take;
    return take;
  });
  if (left !== 0) {
    const blocks = [...new Set(devices.map((d) => d.blockKiB))].join(', ');
    throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${name}' is not a multiple of its virtio-mem block (${blocks} KiB)`);
  }
  return shares;
}

/** The observation's memory device, and its balloon's bound and (from the per-domain memory stats, which leave plugged memory out) its size, adjusted. */
function withMemoryDevice(observed: DomainObservation, memory: DeviceMemory, balloonFromMemoryStats: boolean): void {
  const device = memoryDeviceObservation(memory);
  observed.memoryDevice = device;
  const b = observed.balloon;
  if (!b) return;
  if (balloonFromMemoryStats) b.currentKiB += device.currentKiB;
  b.maximumKiB = device.bootKiB + device.currentKiB;
}

export function memoryDeviceObservation(memory: { bootKiB: number; devices: readonly VirtioMemDevice[] }): MemoryDeviceObservation {
  const sum = (f: (d: VirtioMemDevice) => number) => memory.devices.reduce((s, d) => s + f(d), 0);
  return {
    bootKiB: memory.bootKiB,
    sizeKiB: sum((d) => d.sizeKiB),
    blockKiB: Math.max(...memory.devices.map((d) => d.blockKiB)),
    requestedKiB: sum((d) => d.requestedKiB),
    currentKiB: sum((d) => d.currentKiB ?? 0),
    devices: memory.devices.length,
  };
}

/** The domain's `<memory>` (boot memory + every memory device's size), KiB. */
export function domainMemoryKiB(xml: string): number | undefined {
  const m = /<memory\b([^>]*)>\s*(\d+)\s*<\/memory>/.exec(xml.replace(/<devices\b[\s\S]*<\/devices>/, ''));
  if (!m) return undefined;
  const unit = /\sunit\s*=\s*['"]([^'"]*)['"]/.exec(m[1]!)?.[1] ?? 'KiB';
  const scale = unitBytes(unit);
  return scale === undefined ? undefined : Math.ceil((Number(m[2]) * scale) / 1024);
}

/** A fixed offset per domain in 0..MEMORY_DEVICE_REFRESH_OBSERVATIONS, so settled guests are not all read in one interval. */
function staggerOf(uuid: string): number {
  let h = 0;
  for (const c of uuid) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % MEMORY_DEVICE_REFRESH_OBSERVATIONS;
}

/** VIR_DOMAIN_XML_INACTIVE: the persistent definition rather than the live one. */
const DOMAIN_XML_INACTIVE = 2;

const NOTHING_KNOWN: DefinitionFacts = { freePageReporting: false, vcpuPins: false, hugepages: false };

/** What virtbalance reads from a domain's definition. */
export interface DefinitionFacts {
  /** `<memballoon ... freePageReporting='on'>`. */
  freePageReporting: boolean;
  /** `<cputune>` holds a `<vcpupin>`: the definition places its vCPUs itself. */
  vcpuPins: boolean;
  /** `<memoryBacking>` holds `<hugepages/>`: its memory is hugepages, which a balloon does not free. */
  hugepages: boolean;
}

export function definitionFacts(xml: string): DefinitionFacts {
  const inside = (element: string): string => new RegExp(`<${element}\\b[^>]*>([\\s\\S]*?)</${element}>`).exec(xml)?.[1] ?? '';
  return {
    freePageReporting: balloonReportsFreePages(xml),
    vcpuPins: /<vcpupin\b/.test(inside('cputune')),
    hugepages: /<hugepages\b/.test(inside('memoryBacking')),
  };
}

/** Paused reasons that mean a job holds the domain (libvirt pauses a guest for these). */
const JOB_PAUSE_REASONS = new Set(['migration', 'save', 'dump', 'snapshot', 'postcopy']);

/** The job a paused domain is paused for (`save`, `migration`, ...), from its state reason; undefined otherwise. */
export function pausedForJob(record: DomainStatsRecord): string | undefined {
  if (stateName(paramNumber(record.params, 'state.state') ?? -1) !== 'paused') return undefined;
  const reason = DOMAIN_PAUSED_REASONS[paramNumber(record.params, 'state.reason') ?? -1];
  return reason !== undefined && JOB_PAUSE_REASONS.has(reason) ? reason : undefined;
}

/** The driver refuses a flag of this call ("unsupported flags (0x1)": the test driver's pinning and its live flag, a daemon older than NOWAIT). */
function refusesFlags(err: unknown): boolean {
  return err instanceof LibvirtError && err.code === ErrorCode.InvalidArg && /unsupported flags/.test(err.message);
}

/** A change that found its domain gone (no such domain, or no longer running) as DomainGoneError; other errors as they are. */
function goneOr(err: unknown): unknown {
  if (!(err instanceof LibvirtError)) return err;
  if (err.code === ErrorCode.NoDomain || (err.code === ErrorCode.OperationInvalid && /not running/.test(err.message))) return new DomainGoneError(err.message);
  return err;
}

/** Whether a domain definition's balloon device has free page reporting on. */
export function balloonReportsFreePages(xml: string): boolean {
  const device = /<memballoon\b[^>]*>/.exec(xml)?.[0];
  return device !== undefined && /\sfreePageReporting\s*=\s*(['"])on\1/.test(device);
}

function reported(v: number | undefined): number | undefined {
  return v === undefined || isNotReported(v) ? undefined : v;
}

function balloonObservation(p: DomainStatsRecord['params']): BalloonObservation | undefined {
  const currentKiB = paramNumber(p, 'balloon.current');
  const maximumKiB = paramNumber(p, 'balloon.maximum');
  if (currentKiB === undefined || maximumKiB === undefined) return undefined;
  return {
    currentKiB,
    maximumKiB,
    // The guest's own figures; a driver that reports none sends all ones (values.ts, isNotReported).
    unusedKiB: guestStatNumber(p, 'balloon.unused'),
    availableKiB: guestStatNumber(p, 'balloon.available'),
    usableKiB: guestStatNumber(p, 'balloon.usable'),
    diskCachesKiB: guestStatNumber(p, 'balloon.disk_caches'),
    majorFaults: guestStatNumber(p, 'balloon.major_fault'),
    minorFaults: guestStatNumber(p, 'balloon.minor_fault'),
    rssKiB: paramNumber(p, 'balloon.rss'),
    lastUpdate: paramNumber(p, 'balloon.last-update'),
  };
}
