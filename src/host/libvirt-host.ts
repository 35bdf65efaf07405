import { LibvirtClient, paramNumber, stateName, type DomainStatsRecord, type VcpuInfo } from '../libvirt/client.js';
import type { BalloonObservation, DomainObservation, DomainRef, HostObservation, Hypervisor, VcpuObservation } from './hypervisor.js';

// The Hypervisor on a real libvirt daemon. One observation is one all-domain-stats round trip
// (vCPU times and delays, balloon, state) plus, in flight at the same time, each running domain's
// vCPU placement (affinity is not in the stats) and the host's memory.

const ACTIVE_DOMAINS = 1; // VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE

export class LibvirtHost implements Hypervisor {
  private hostname: string | undefined;

  private constructor(readonly client: LibvirtClient, readonly uri: string) {}

  static async connect(uri: string): Promise<LibvirtHost> {
    return new LibvirtHost(await LibvirtClient.connect(uri), uri);
  }

  async observe(): Promise<HostObservation> {
    const [node, stats, freeKiB, totalKiB] = await Promise.all([
      this.client.cachedNodeInfo(),
      this.client.getAllDomainStats(undefined, ACTIVE_DOMAINS),
      this.client.hostAvailableMemoryKiB(),
      this.hostMemoryTotalKiB(),
    ]);
    const timeNs = Number(process.hrtime.bigint());
    this.hostname ??= await this.client.hostname();
    const placements = await Promise.all(
      stats.map((record) => {
        const vcpus = paramNumber(record.params, 'vcpu.current') ?? 0;
        return this.client.getVcpus(record.domain, { vcpus, pcpus: node.cpus }).catch(() => undefined);
      }),
    );
    const domains: DomainObservation[] = [];
    stats.forEach((record, i) => {
      const placement = placements[i];
      // A domain that vanished between the two calls is left out of this observation.
      if (placement === undefined) return;
      domains.push(domainObservation(record, placement, node.cpus));
    });
    return {
      timeNs,
      host: { hostname: this.hostname, pcpus: node.cpus, memoryTotalKiB: totalKiB ?? node.memoryKiB, memoryFreeKiB: freeKiB },
      domains,
    };
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    await this.client.pinVcpu(domain, vcpu, pcpus);
  }

  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    await this.client.setMemory(domain, Math.round(targetKiB));
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    await this.client.setMemoryStatsPeriod(domain, seconds);
  }

  async close(): Promise<void> {
    if (!this.client.closed) await this.client.close();
  }

  // Node info follows NUMA node 0 on some hosts; the node memory stats' total is what the kernel has.
  private memoryTotal: number | undefined;
  private async hostMemoryTotalKiB(): Promise<number | undefined> {
    if (this.memoryTotal === undefined) {
      const stats = await this.client.nodeMemoryStats().catch(() => ({}) as Record<string, number>);
      this.memoryTotal = stats.total;
    }
    return this.memoryTotal;
  }
}

export function domainObservation(record: DomainStatsRecord, placement: VcpuInfo[], pcpus: number): DomainObservation {
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
  return { name: record.domain.name, uuid: record.domain.uuid, state, vcpus, balloon: balloonObservation(p) };
}

function balloonObservation(p: DomainStatsRecord['params']): BalloonObservation | undefined {
  const currentKiB = paramNumber(p, 'balloon.current');
  const maximumKiB = paramNumber(p, 'balloon.maximum');
  if (currentKiB === undefined || maximumKiB === undefined) return undefined;
  return {
    currentKiB,
    maximumKiB,
    unusedKiB: paramNumber(p, 'balloon.unused'),
    availableKiB: paramNumber(p, 'balloon.available'),
    usableKiB: paramNumber(p, 'balloon.usable'),
    diskCachesKiB: paramNumber(p, 'balloon.disk_caches'),
    rssKiB: paramNumber(p, 'balloon.rss'),
    lastUpdate: paramNumber(p, 'balloon.last-update'),
  };
}
