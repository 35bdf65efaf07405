// `virtbalance info`: what libvirt says about the host and every domain, read through our own client.
import { DEFAULT_CPU_SHARES } from '../host/libvirt-host.js';
import { parseArgs } from 'node:util';
import { LibvirtClient, type VcpuInfo } from '../libvirt/client.js';
import { LibvirtConnectError, LibvirtError, LibvirtErrorCode } from '../libvirt/errors.js';
import type { Domain } from '../libvirt/protocol.js';
import { UriError } from '../libvirt/uri.js';
import { FatalError, UsageError } from '../ground/errors.js';
import { formatCpuList } from '../ground/cpu-list.js';
import { formatMiB } from '../ground/units.js';
import { balloonStaleness, statsPeriodOf } from './balloon-staleness.js';

const HELP = `usage: virtbalance info [--connect URI] [--json]

Shows the host (hostname, pCPUs, memory total and free) and every domain: state,
each vCPU's current pCPU, affinity and cumulative time, and the balloon
(actual, unused, available; the guest's figures marked stale when its stats
period is off, its last report is older than two periods, or unused exceeds
actual).

  -c, --connect URI   libvirt URI (default qemu:///system)
      --json          print JSON instead of text`;

export interface HostInfo {
  hostname: string;
  pcpus: number;
  memoryTotalKiB: number;
  memoryFreeKiB: number;
  /** Where the free figure comes from. */
  memoryFreeSource: 'node memory stats (free+buffers+cached)' | 'node free memory';
}

export interface DomainReport {
  name: string;
  uuid: string;
  state: string;
  vcpus: Array<{ index: number; pcpu: number; affinity: number[]; timeNs: number }>;
  /** libvirt cpu_shares and the CPU weight it means (shares / 1024); absent where the driver has none. */
  cpu?: { shares: number; weight: number };
  balloon?: {
    actualKiB?: number; unusedKiB?: number; availableKiB?: number; usableKiB?: number; maximumKiB: number;
    /** QEMU's `last_update` (seconds since the epoch) and the stats period from the XML (0: off). */
    lastUpdate?: number; statsPeriodSeconds?: number;
    /** Why the guest's figures (unused, available, usable) are old; absent when they look current. */
    stale?: string[];
  };
}

export interface InfoReport {
  uri: string;
  host: HostInfo;
  domains: DomainReport[];
}

function isUnsupported(err: unknown): boolean {
  return err instanceof LibvirtError && (err.code === LibvirtErrorCode.NoSupport || err.code === LibvirtErrorCode.OperationInvalid);
}

async function hostInfo(c: LibvirtClient): Promise<HostInfo> {
  const [hostname, node] = await Promise.all([c.call('connectGetHostname').then((r) => r.hostname), c.cachedNodeInfo()]);
  try {
    const m = await c.nodeMemoryStats();
    return {
      hostname,
      pcpus: node.cpus,
      memoryTotalKiB: m.total ?? node.memoryKiB,
      memoryFreeKiB: (m.free ?? 0) + (m.buffers ?? 0) + (m.cached ?? 0),
      memoryFreeSource: 'node memory stats (free+buffers+cached)',
    };
  } catch (err) {
    if (!isUnsupported(err)) throw err;
    // Some drivers (e.g. the test driver) lack node memory stats: fall back to the node's free memory.
    const freeBytes = await c.call('nodeGetFreeMemory').then((r) => r.freeMem);
    return { hostname, pcpus: node.cpus, memoryTotalKiB: node.memoryKiB, memoryFreeKiB: Math.floor(freeBytes / 1024), memoryFreeSource: 'node free memory' };
  }
}

async function domainReport(c: LibvirtClient, d: Domain, pcpus: number): Promise<DomainReport> {
  const info = await c.domainInfo(d);
  const report: DomainReport = { name: d.name, uuid: d.uuid, state: info.state, vcpus: [] };
  if (info.state !== 'running' && info.state !== 'paused' && info.state !== 'blocked') return report;
  const [vcpus, mem, sched, statsPeriodSeconds] = await Promise.all([
    c.getVcpus(d, { vcpus: info.vcpus, pcpus }).catch((err: unknown): VcpuInfo[] => {
      if (isUnsupported(err)) return [];
      throw err;
    }),
    c.memoryStats(d).catch((err: unknown): Record<string, number> => {
      if (isUnsupported(err)) return {};
      throw err;
    }),
    c.schedulerParameters(d).catch((): Record<string, unknown> => ({})),
    c.call('domainGetXmlDesc', { dom: d, flags: 0 }).then((r) => statsPeriodOf(r.xml), (): undefined => undefined),
  ]);
  const shares = sched.cpu_shares;
  if (typeof shares === 'number' || typeof shares === 'bigint') report.cpu = { shares: Number(shares), weight: Number(shares) / DEFAULT_CPU_SHARES };
  report.vcpus = vcpus.map((v) => ({ index: v.number, pcpu: v.cpu, affinity: v.affinity, timeNs: v.cpuTimeNs }));
  report.balloon = {
    ...(mem.actual !== undefined ? { actualKiB: mem.actual } : {}),
    ...(mem.unused !== undefined ? { unusedKiB: mem.unused } : {}),
    ...(mem.available !== undefined ? { availableKiB: mem.available } : {}),
    ...(mem.usable !== undefined ? { usableKiB: mem.usable } : {}),
    maximumKiB: info.maxMemKiB,
    ...(mem.last_update !== undefined ? { lastUpdate: mem.last_update } : {}),
    ...(statsPeriodSeconds !== undefined ? { statsPeriodSeconds } : {}),
  };
  const stale = balloonStaleness(report.balloon, Date.now() / 1000);
  if (stale.length > 0) report.balloon.stale = stale;
  return report;
}

export async function collectInfo(c: LibvirtClient): Promise<InfoReport> {
  const host = await hostInfo(c);
  const domains = await c.listAllDomains();
  const reports = await Promise.all(
    domains.map((d) =>
      domainReport(c, d, host.pcpus).catch((err: unknown): DomainReport => {
        // A domain that vanished between the list and the look-up is simply gone.
        if (err instanceof LibvirtError && err.code === LibvirtErrorCode.NoDomain) return { name: d.name, uuid: d.uuid, state: 'gone', vcpus: [] };
        throw err;
      }),
    ),
  );
  reports.sort((a, b) => a.name.localeCompare(b.name));
  return { uri: c.uri, host, domains: reports };
}

const mib = (kib: number | undefined): string => formatMiB(kib, '?');

export function formatInfo(r: InfoReport): string {
  const h = r.host;
  const lines = [
    `host ${h.hostname} (${r.uri}): ${h.pcpus} pCPUs, memory ${mib(h.memoryTotalKiB)} total, ${mib(h.memoryFreeKiB)} free (${h.memoryFreeSource})`,
  ];
  if (r.domains.length === 0) lines.push('no domains');
  for (const d of r.domains) {
    const b = d.balloon;
    const stale = b?.stale ? ` (stale: ${b.stale.join(', ')})` : '';
    const balloon = b ? `; balloon actual ${mib(b.actualKiB)}, unused ${mib(b.unusedKiB)}, available ${mib(b.availableKiB)}${stale}, max ${mib(b.maximumKiB)}` : '';
    const cpu = d.cpu ? `, CPU weight ${Math.round(d.cpu.weight * 100) / 100} (cpu_shares ${d.cpu.shares})` : '';
    lines.push(`domain ${d.name}: ${d.state}${d.vcpus.length ? `, ${d.vcpus.length} vCPUs` : ''}${cpu}${balloon}`);
    for (const v of d.vcpus) {
      lines.push(`  vCPU ${v.index}: on pCPU ${v.pcpu}, affinity ${formatCpuList(v.affinity) || '-'}, time ${(v.timeNs / 1e9).toFixed(1)} s`);
    }
  }
  return lines.join('\n');
}

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      connect: { type: 'string', short: 'c', default: 'qemu:///system' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let client: LibvirtClient;
  try {
    client = await LibvirtClient.connect(values.connect);
  } catch (err) {
    if (err instanceof UriError) throw new UsageError(err.message);
    if (err instanceof LibvirtConnectError) throw new FatalError(err.message);
    throw err;
  }
  try {
    const report = await collectInfo(client);
    console.log(values.json ? JSON.stringify(report, null, 2) : formatInfo(report));
    return 0;
  } catch (err) {
    if (err instanceof LibvirtError) throw new FatalError(`${values.connect}: ${err.message}`);
    throw err;
  } finally {
    await client.close();
  }
}
