// A filtered view of a real libvirt daemon: the named domains are forwarded, every other domain is
// invisible (left out of lists and stats) and untouchable (any call naming it answers "Domain not
// found", as for a domain that does not exist). Node figures are forwarded as they are. Only what a
// controller needs is served: no defining, starting, destroying or undefining; of the update-device
// call only a virtio-mem device's update (its requested size, #19), no other device.
import type { Action } from '../ground/actions.js';
import { cpusFromCpumap, readVirtioMemDevices, type LibvirtClient } from '../libvirt/client.js';
import type { Codec } from '../libvirt/codec.js';
import { LibvirtError } from '../libvirt/errors.js';
import {
  allDomainStatsTypedRet, ErrorCode, ErrorDomain, GetAllDomainStatsFlags, ListDomainsFlags, procedures,
  type Domain, type DomainHandle, type ProcedureName,
} from '../libvirt/protocol.js';
import { RawReply, serverError, type Handlers } from '../libvirt/server.js';
import { connectionHandlers } from './connection-procedures.js';

/** Reads and changes a controller makes on one domain: forwarded when the domain is one of the named. */
const DOMAIN_CALLS = [
  'domainGetInfo', 'domainGetState', 'domainGetOsType', 'domainGetAutostart', 'domainIsActive', 'domainIsPersistent',
  'domainHasManagedSaveImage', 'domainGetMaxMemory', 'domainGetMaxVcpus', 'domainGetVcpusFlags', 'domainGetVcpus',
  'domainGetVcpuPinInfo', 'domainPinVcpu', 'domainPinVcpuFlags', 'domainMemoryStats', 'domainSetMemory',
  'domainSetMemoryFlags', 'domainSetMemoryStatsPeriod', 'domainGetXmlDesc',
] as const satisfies readonly ProcedureName[];

/** Host-wide reads, forwarded unchanged. */
const HOST_CALLS = [
  'connectGetType', 'connectGetVersion', 'connectGetLibVersion', 'connectGetHostname', 'nodeGetInfo', 'nodeGetCpuMap',
  'nodeGetCpuStats', 'nodeGetMemoryStats', 'nodeGetFreeMemory', 'nodeGetCellsFreeMemory', 'nodeGetSecurityModel',
] as const satisfies readonly ProcedureName[];

/** Listing filters that only make sense on the daemon's whole list, passed on when stats name their domains. */
const STATS_FLAGS_WITH_DOMAINS = GetAllDomainStatsFlags.NoWait | GetAllDomainStatsFlags.Backing | GetAllDomainStatsFlags.EnforceStats;

export interface UpstreamProceduresOptions {
  /** The URI clients are told they opened (connectGetUri). */
  uri?: string;
  /** Called with every change a client made to one of the domains, after the daemon accepted it. */
  onAction?: (action: Action) => void;
}

export function upstreamProcedures(upstream: LibvirtClient, only: readonly string[], options: UpstreamProceduresOptions = {}): Handlers {
  const allowed = new Set(only);
  const hidden = (what: string) => serverError(ErrorCode.NoDomain, `Domain not found: ${what}`, ErrorDomain.Qemu);
  const forward = (name: ProcedureName, args: unknown) => {
    const p = procedures[name] as unknown as { number: number; args: Codec<unknown>; ret: Codec<unknown> };
    return upstream.rpc.callRaw(name, p.number, p.args, args, p.ret);
  };
  /** The daemon's own idea of the domain behind a handle: its UUID must name one of ours. */
  async function check(dom: DomainHandle): Promise<void> {
    if (!allowed.has(dom.name)) throw hidden(`no domain with matching name '${dom.name}'`);
    let real: Domain;
    try {
      real = (await upstream.call('domainLookupByUuid', { uuid: dom.uuid })).dom;
    } catch (err) {
      if (err instanceof LibvirtError && err.code === ErrorCode.NoDomain) throw hidden(`no domain with matching uuid '${dom.uuid}'`);
      throw err;
    }
    if (!allowed.has(real.name)) throw hidden(`no domain with matching uuid '${dom.uuid}'`);
  }
  const visible = (d: Domain): Domain => {
    if (!allowed.has(d.name)) throw hidden(`no domain with matching name '${d.name}'`);
    return d;
  };
  const listVisible = async (flags: number): Promise<Domain[]> =>
    (await upstream.call('connectListAllDomains', { needResults: 1, flags })).domains.filter((d) => allowed.has(d.name));

  const handlers: Handlers = {
    ...connectionHandlers(options.uri, false),
    connectIsSecure: () => ({ secure: 1 }),
    connectListAllDomains: async ({ needResults, flags }) => {
      const domains = await listVisible(flags);
      return { domains: needResults ? domains : [], ret: domains.length };
    },
    connectNumOfDomains: async () => ({ num: (await listVisible(ListDomainsFlags.Active)).length }),
    connectListDomains: async ({ maxids }) => ({ ids: (await listVisible(ListDomainsFlags.Active)).map((d) => d.id).slice(0, Math.max(0, maxids)) }),
    domainLookupByName: async ({ name }) => {
      if (!allowed.has(name)) throw hidden(`no domain with matching name '${name}'`);
      return { dom: visible((await upstream.call('domainLookupByName', { name })).dom) };
    },
    domainLookupByUuid: async ({ uuid }) => ({ dom: visible((await upstream.call('domainLookupByUuid', { uuid })).dom) }),
    domainLookupById: async ({ id }) => ({ dom: visible((await upstream.call('domainLookupById', { id })).dom) }),
    connectGetAllDomainStats: async ({ doms, stats, flags }) => {
      for (const d of doms) await check(d);
      const chosen = doms.length > 0 ? doms : await listVisible(flags & ~STATS_FLAGS_WITH_DOMAINS);
      if (chosen.length === 0) return new RawReply(allDomainStatsTypedRet, { retStats: [] });
      const p = procedures.connectGetAllDomainStats;
      // Decoded with the typed codec so every parameter keeps the daemon's own type on the way back.
      const reply = await upstream.rpc.callRaw('connectGetAllDomainStats', p.number, p.args, { doms: chosen, stats, flags: flags & STATS_FLAGS_WITH_DOMAINS }, allDomainStatsTypedRet);
      return new RawReply(allDomainStatsTypedRet, { retStats: reply.retStats.filter((r) => allowed.has(r.dom.name)) });
    },
  };
  handlers.domainUpdateDeviceFlags = async (args) => {
    await check(args.dom);
    if (!isVirtioMemElement(args.xml)) {
      throw serverError(ErrorCode.NoSupport, 'this function is not supported by the connection driver: only virtio-mem memory devices are updated through this filter', ErrorDomain.Qemu);
    }
    await forward('domainUpdateDeviceFlags', args);
  };
  for (const name of HOST_CALLS) (handlers as Record<string, unknown>)[name] = (args: unknown) => forward(name, args);
  for (const name of DOMAIN_CALLS) {
    (handlers as Record<string, unknown>)[name] = async (args: { dom: DomainHandle }) => {
      await check(args.dom);
      return forward(name, args);
    };
  }
  if (options.onAction) recordChanges(upstream, handlers, options.onAction);
  return handlers;
}

/** A device XML that is one `<memory model='virtio-mem'>` element (whatever its attribute order and quoting). */
function isVirtioMemElement(xml: string): boolean {
  const m = /^\s*<memory\b([^>]*)>[\s\S]*<\/memory>\s*$/.exec(xml);
  return m !== null && /\smodel\s*=\s*(['"])virtio-mem\1/.test(` ${m[1]}`) && (xml.match(/<memory\b/g) ?? []).length === 1;
}

/** Wraps the changing calls so that each accepted change is also reported as an Action (for a trace). */
function recordChanges(upstream: LibvirtClient, handlers: Handlers, onAction: (action: Action) => void): void {
  const reason = 'by the judged program';
  const ref = (d: DomainHandle) => ({ name: d.name, uuid: d.uuid });
  const pin = handlers.domainPinVcpuFlags!;
  const pinOld = handlers.domainPinVcpu!;
  async function pinned(dom: DomainHandle, vcpu: number, cpumap: Uint8Array, apply: () => Promise<unknown>): Promise<void> {
    const pcpus = (await upstream.cachedNodeInfo()).cpus;
    const previous = (await upstream.getVcpuPinInfo(dom, { pcpus }).catch(() => []))[vcpu] ?? [];
    await apply();
    onAction({ kind: 'pin', domain: ref(dom), vcpu, pcpus: cpusFromCpumap(cpumap, 0, cpumap.length, pcpus), previous, reason });
  }
  handlers.domainPinVcpuFlags = (args, session) => pinned(args.dom, args.vcpu, args.cpumap, async () => pin(args, session));
  handlers.domainPinVcpu = (args, session) => pinned(args.dom, args.vcpu, args.cpumap, async () => pinOld(args, session));
  const setFlags = handlers.domainSetMemoryFlags!;
  const setOld = handlers.domainSetMemory!;
  async function ballooned(dom: DomainHandle, targetKiB: number, apply: () => Promise<unknown>): Promise<void> {
    const fromKiB = (await upstream.domainInfo(dom).catch(() => undefined))?.memoryKiB ?? 0;
    await apply();
    onAction({ kind: 'set-memory', domain: ref(dom), fromKiB, targetKiB, reason });
  }
  handlers.domainSetMemoryFlags = (args, session) => ballooned(args.dom, args.memory, async () => setFlags(args, session));
  handlers.domainSetMemory = (args, session) => ballooned(args.dom, args.memory, async () => setOld(args, session));
  const update = handlers.domainUpdateDeviceFlags!;
  handlers.domainUpdateDeviceFlags = async (args, session) => {
    let asked;
    try {
      asked = readVirtioMemDevices(`<domain><devices>${args.xml}</devices></domain>`)[0];
    } catch {
      asked = undefined; // the daemon says what is wrong with it
    }
    const before = await upstream.virtioMemDevices(args.dom).catch(() => []);
    const was = before.find((d) => d.alias !== undefined && d.alias === asked?.alias) ?? (before.length === 1 ? before[0] : undefined);
    await update(args, session);
    if (!asked) return;
    // The Action is the domain's total request (what resizeMemoryDevice takes), not this device's alone.
    const total = before.reduce((s, d) => s + d.requestedKiB, 0);
    const fromKiB = total;
    const requestedKiB = total - (was?.requestedKiB ?? 0) + asked.requestedKiB;
    onAction({ kind: 'resize-memory-device', domain: ref(args.dom), fromKiB, requestedKiB, reason });
  };
  const period = handlers.domainSetMemoryStatsPeriod!;
  handlers.domainSetMemoryStatsPeriod = async (args, session) => {
    await period(args, session);
    onAction({ kind: 'set-stats-period', domain: ref(args.dom), seconds: args.period, reason });
  };
}
