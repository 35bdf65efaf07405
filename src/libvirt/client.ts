// The typed libvirt client virtbalance uses: connection set-up, then one method per remote call.
import { EventEmitter } from 'node:events';
import { LibvirtClosedError, LibvirtConnectError, LibvirtError } from './errors.js';
import {
  AuthType, DOMAIN_STATES, DomainAffect, DomainEventId, DomainStatsGroup, FEATURE_PROGRAM_KEEPALIVE, LIFECYCLE_EVENTS,
  MEMORY_STAT_TAGS, NODE_CPU_STATS_ALL_CPUS, NODE_MEMORY_STATS_ALL_CELLS,
  type Domain, type DomainHandle, type LifecycleMsg, type TypedParamValue,
} from './protocol.js';
import { RpcConnection, type CloseInfo } from './rpc.js';
import { connectError, openTransport } from './transport.js';
import { describeTarget, parseUri, type ConnectTarget } from './uri.js';

export type DomainStateName = (typeof DOMAIN_STATES)[number] | 'unknown';

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

export interface DomainStatsRecord {
  domain: Domain;
  /** Typed parameters by name, e.g. `vcpu.0.time`, `balloon.current`. */
  params: Map<string, TypedParamValue>;
}

export interface LifecycleEvent {
  callbackId: number;
  domain: Domain;
  event: (typeof LIFECYCLE_EVENTS)[number] | 'unknown';
  eventCode: number;
  detail: number;
}

export interface ConnectOptions {
  /** Time allowed to reach the daemon and open the connection, ms (default 10 s). */
  timeoutMs?: number;
  readOnly?: boolean;
  /** Declares the connection dead after this long without a byte from the daemon while it keeps alive (default 30 s). */
  deadAfterMs?: number;
}

export interface ClientEvents {
  lifecycle: [event: LifecycleEvent];
  close: [info: CloseInfo];
}

export function stateName(code: number): DomainStateName {
  return DOMAIN_STATES[code] ?? 'unknown';
}

/** Bytes of a cpumap covering `pcpus` CPUs. */
export function cpumapLength(pcpus: number): number {
  return (pcpus + 7) >> 3;
}

export function cpumapFromCpus(cpus: readonly number[], pcpus: number): Uint8Array {
  const map = new Uint8Array(cpumapLength(pcpus));
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= pcpus) throw new RangeError(`pCPU ${c} does not exist (host has ${pcpus})`);
    map[c >> 3]! |= 1 << (c & 7);
  }
  return map;
}

export function cpusFromCpumap(map: Uint8Array, offset: number, length: number, pcpus: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < pcpus && c < length * 8; c++) if (map[offset + (c >> 3)]! & (1 << (c & 7))) out.push(c);
  return out;
}

export function paramNumber(params: Map<string, TypedParamValue>, key: string): number | undefined {
  const v = params.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

export class LibvirtClient extends EventEmitter<ClientEvents> {
  private nodeInfoCache: Promise<NodeInfo> | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(readonly uri: string, readonly target: ConnectTarget, readonly rpc: RpcConnection) {
    super();
    rpc.on('event', (name, body) => {
      if (name === 'lifecycle') {
        const m = body as LifecycleMsg;
        this.emit('lifecycle', {
          callbackId: m.callbackID,
          domain: m.msg.dom,
          event: LIFECYCLE_EVENTS[m.msg.event] ?? 'unknown',
          eventCode: m.msg.event,
          detail: m.msg.detail,
        });
      }
    });
    rpc.on('close', (info) => {
      if (this.watchdog) clearInterval(this.watchdog);
      this.emit('close', info);
    });
  }

  /** Opens a connection: transport, authentication (none or polkit), keepalive, CONNECT_OPEN. */
  static async connect(uri: string, options: ConnectOptions = {}): Promise<LibvirtClient> {
    const target = parseUri(uri);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const transport = await openTransport(target, timeoutMs);
    const rpc = new RpcConnection(transport.stream, {
      label: uri,
      diagnostics: transport.diagnostics,
      ...(transport.setReceiver ? { setReceiver: transport.setReceiver } : {}),
    });
    const client = new LibvirtClient(uri, target, rpc);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LibvirtConnectError(uri, describeTarget(target), `no answer within ${timeoutMs} ms`, 'is libvirtd running and responsive?')), timeoutMs);
    });
    try {
      await Promise.race([client.handshake(options), timeout]);
    } catch (err) {
      rpc.destroy(err as Error);
      if (err instanceof LibvirtConnectError) throw err;
      if (err instanceof LibvirtClosedError) throw connectError(target, err, transport.diagnostics());
      if (err instanceof LibvirtError) throw new LibvirtConnectError(uri, describeTarget(target), err.message, '');
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  private async handshake(options: ConnectOptions): Promise<void> {
    const { types } = await this.rpc.call('authList');
    if (types.length > 0 && !types.includes(AuthType.None)) {
      if (types.includes(AuthType.Polkit)) {
        const { complete } = await this.rpc.call('authPolkit');
        if (!complete) throw new LibvirtError('polkit authentication did not complete', 45, 0, 2, 'authPolkit');
      } else {
        throw new LibvirtError(`the daemon requires authentication this client does not support (auth types ${types.join(', ')}; only none and polkit are)`, 45, 0, 2, 'authList');
      }
    }
    const { supported } = await this.rpc.call('connectSupportsFeature', { feature: FEATURE_PROGRAM_KEEPALIVE });
    await this.rpc.call('connectOpen', { name: this.target.openName, flags: options.readOnly ? 1 : 0 });
    if (supported) this.startWatchdog(options.deadAfterMs ?? 30_000);
  }

  // The daemon pings an idle client every few seconds once keepalive is agreed; long silence means it is gone.
  // Armed only after a first PING, since a daemon configured without keepalive never sends one.
  private startWatchdog(deadAfterMs: number): void {
    this.watchdog = setInterval(() => {
      if (this.rpc.pingsAnswered > 0 && Date.now() - this.rpc.lastInboundMs > deadAfterMs) this.rpc.destroy(new LibvirtClosedError(`connection to ${this.uri}: no data from the daemon for ${Math.round(deadAfterMs / 1000)} s (keepalive)`));
    }, Math.min(5_000, deadAfterMs));
    this.watchdog.unref();
  }

  get closed(): boolean {
    return this.rpc.closed;
  }

  /** Orderly close: tells the daemon, then ends the stream. Pending calls are rejected. */
  async close(): Promise<void> {
    if (this.rpc.closed) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.rpc.call('connectClose'), new Promise((r) => { timer = setTimeout(r, 2_000); })]);
    } catch {
      // closing anyway
    } finally {
      clearTimeout(timer);
    }
    this.rpc.close();
  }

  // ---- host ----

  async hostname(): Promise<string> {
    return (await this.rpc.call('connectGetHostname')).hostname;
  }

  async libVersion(): Promise<number> {
    return (await this.rpc.call('connectGetLibVersion')).libVer;
  }

  async nodeInfo(): Promise<NodeInfo> {
    const r = await this.rpc.call('nodeGetInfo');
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
    const { nparams } = await this.rpc.call('nodeGetCpuStats', { cpuNum: cpu, nparams: 0, flags: 0 });
    const r = await this.rpc.call('nodeGetCpuStats', { cpuNum: cpu, nparams, flags: 0 });
    return Object.fromEntries(r.params.map((p) => [p.field, p.value]));
  }

  /** Host memory in KiB by name (`total`, `free`, `buffers`, `cached`), for one NUMA cell or all (-1). */
  async nodeMemoryStats(cell = NODE_MEMORY_STATS_ALL_CELLS): Promise<Record<string, number>> {
    const { nparams } = await this.rpc.call('nodeGetMemoryStats', { nparams: 0, cellNum: cell, flags: 0 });
    const r = await this.rpc.call('nodeGetMemoryStats', { nparams, cellNum: cell, flags: 0 });
    return Object.fromEntries(r.params.map((p) => [p.field, p.value]));
  }

  /** Memory the host kernel can still give, KiB: free + buffers + cached from node memory stats. */
  async hostAvailableMemoryKiB(): Promise<number> {
    const s = await this.nodeMemoryStats();
    return (s.free ?? 0) + (s.buffers ?? 0) + (s.cached ?? 0);
  }

  /** Free memory in bytes, as the node (NUMA cells) reports it. */
  async nodeFreeMemory(): Promise<number> {
    return (await this.rpc.call('nodeGetFreeMemory')).freeMem;
  }

  // ---- domains ----

  async listAllDomains(flags = 0): Promise<Domain[]> {
    return (await this.rpc.call('connectListAllDomains', { needResults: 1, flags })).domains;
  }

  async lookupDomainByName(name: string): Promise<Domain> {
    return (await this.rpc.call('domainLookupByName', { name })).dom;
  }

  async lookupDomainByUuid(uuid: string): Promise<Domain> {
    return (await this.rpc.call('domainLookupByUuid', { uuid })).dom;
  }

  async domainInfo(dom: DomainHandle): Promise<DomainInfo> {
    const r = await this.rpc.call('domainGetInfo', { dom });
    return { state: stateName(r.state), maxMemKiB: r.maxMem, memoryKiB: r.memory, vcpus: r.nrVirtCpu, cpuTimeNs: r.cpuTime };
  }

  async domainState(dom: DomainHandle): Promise<{ state: DomainStateName; reason: number }> {
    const r = await this.rpc.call('domainGetState', { dom, flags: 0 });
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
    const r = await this.rpc.call('domainGetVcpus', { dom, maxinfo: vcpus, maplen });
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
    const r = await this.rpc.call('domainGetVcpuPinInfo', { dom, ncpumaps: vcpus, maplen, flags: known.flags ?? DomainAffect.Current });
    const out: number[][] = [];
    for (let i = 0; i < r.num; i++) out.push(cpusFromCpumap(r.cpumaps, i * maplen, maplen, pcpus));
    return out;
  }

  /** Pins one vCPU to the given pCPUs (live by default). */
  async pinVcpu(dom: DomainHandle, vcpu: number, cpus: readonly number[], options: { flags?: number; pcpus?: number } = {}): Promise<void> {
    const pcpus = options.pcpus ?? (await this.cachedNodeInfo()).cpus;
    await this.rpc.call('domainPinVcpuFlags', { dom, vcpu, cpumap: cpumapFromCpus(cpus, pcpus), flags: options.flags ?? DomainAffect.Live });
  }

  /** Balloon and guest memory statistics by libvirt's names (`actual`, `unused`, `available`, `usable`, `rss`, `last_update`, ...), KiB. */
  async memoryStats(dom: DomainHandle): Promise<Record<string, number>> {
    const r = await this.rpc.call('domainMemoryStats', { dom, maxStats: MEMORY_STAT_TAGS.length, flags: 0 });
    const out: Record<string, number> = {};
    for (const s of r.stats) out[MEMORY_STAT_TAGS[s.tag] ?? `tag${s.tag}`] = s.val;
    return out;
  }

  async setMemoryStatsPeriod(dom: DomainHandle, seconds: number, flags: number = DomainAffect.Live): Promise<void> {
    await this.rpc.call('domainSetMemoryStatsPeriod', { dom, period: seconds, flags });
  }

  /** Sets the balloon target, KiB (live by default). */
  async setMemory(dom: DomainHandle, kib: number, flags: number = DomainAffect.Live): Promise<void> {
    await this.rpc.call('domainSetMemoryFlags', { dom, memory: kib, flags });
  }

  async maxMemory(dom: DomainHandle): Promise<number> {
    return (await this.rpc.call('domainGetMaxMemory', { dom })).memory;
  }

  /** Stats of every domain (or the given ones) in one call; by default state, vCPU and balloon groups. */
  async getAllDomainStats(
    stats: number = DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon,
    flags = 0,
    doms: readonly DomainHandle[] = [],
  ): Promise<DomainStatsRecord[]> {
    const r = await this.rpc.call('connectGetAllDomainStats', { doms: doms as DomainHandle[], stats, flags });
    return r.retStats.map((s) => ({ domain: s.dom, params: s.params }));
  }

  /** Subscribes to lifecycle events (all domains, or one); they arrive as 'lifecycle' events. Returns the callback id. */
  async registerLifecycleEvents(dom: DomainHandle | null = null): Promise<number> {
    return (await this.rpc.call('connectDomainEventCallbackRegisterAny', { eventID: DomainEventId.Lifecycle, dom })).callbackID;
  }

  async deregisterEvents(callbackId: number): Promise<void> {
    await this.rpc.call('connectDomainEventCallbackDeregisterAny', { callbackID: callbackId });
  }

  // ---- what the lab needs ----

  async defineXml(xml: string, flags = 0): Promise<Domain> {
    return (await this.rpc.call('domainDefineXmlFlags', { xml, flags })).dom;
  }

  async createDomain(dom: DomainHandle, flags = 0): Promise<Domain> {
    return (await this.rpc.call('domainCreateWithFlags', { dom, flags })).dom;
  }

  async destroyDomain(dom: DomainHandle, flags = 0): Promise<void> {
    await this.rpc.call('domainDestroyFlags', { dom, flags });
  }

  async undefineDomain(dom: DomainHandle, flags = 0): Promise<void> {
    await this.rpc.call('domainUndefineFlags', { dom, flags });
  }

  async xmlDesc(dom: DomainHandle, flags = 0): Promise<string> {
    return (await this.rpc.call('domainGetXmlDesc', { dom, flags })).xml;
  }
}
