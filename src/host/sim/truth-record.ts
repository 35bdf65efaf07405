// The ground-truth record of a simulated run: turns the physics' tallies into one report per
// interval (truth.ts) and starts the next interval's tallies afresh.

import { KIB_PER_MIB, type DomainState, type SimPhysics } from './physics.js';
import type { ActionCounts, CacheTruth, DomainTruth, TruthInterval, VcpuTruth } from './truth.js';
import { emptyOtherTally } from './other-load.js';

/** Ground truth since the previous call (or the start); `actions` are the calls made meanwhile. */
export function takeTruth(world: SimPhysics, actions: ActionCounts): TruthInterval {
  const tally = world.tally;
  const pcpus = world.scenario.host.pcpus;
  const fromNs = tally.fromNs;
  const toNs = world.timeNs;
  const span = Math.max(1, toNs - fromNs);
  const vcpus: VcpuTruth[] = [];
  const domains: DomainTruth[] = [];
  for (const d of world.domains) {
    if (!d.running && !d.truth.seen) continue;
    d.vcpus.forEach((v, vcpu) => {
      vcpus.push({
        domain: d.spec.name,
        vcpu,
        demand: v.truth.demandNs / span,
        received: v.truth.receivedNs / span,
        demandNs: Math.round(v.truth.demandNs),
        receivedNs: Math.round(v.truth.receivedNs),
        waitNs: Math.round(v.truth.demandNs - v.truth.receivedNs),
        pcpuNs: v.truth.pcpuNs.map(Math.round),
      });
      v.truth = { demandNs: 0, receivedNs: 0, pcpuNs: new Array<number>(pcpus).fill(0) };
    });
    domains.push({
      name: d.spec.name,
      uuid: d.spec.uuid,
      running: d.running,
      runningNs: d.truth.runningNs,
      usedDemandMiB: d.usedDemandKiB / KIB_PER_MIB,
      peakUsedDemandMiB: d.truth.peakDemandKiB / KIB_PER_MIB,
      usedMiB: d.usedKiB / KIB_PER_MIB,
      actualMiB: d.actualKiB / KIB_PER_MIB,
      minActualMiB: d.truth.minActualKiB / KIB_PER_MIB,
      targetMiB: d.targetKiB / KIB_PER_MIB,
      maximumMiB: d.spec.maxMemoryMiB,
      oomNs: d.truth.oomNs,
      statsPeriod: d.statsPeriod,
      cache: cacheTruth(d, toNs),
      ...(d.device
        ? {
            memoryDevice: {
              bootMiB: d.spec.maxMemoryMiB,
              sizeMiB: d.device.sizeKiB / KIB_PER_MIB,
              requestedMiB: d.device.requestedKiB / KIB_PER_MIB,
              pluggedMiB: d.device.pluggedKiB / KIB_PER_MIB,
              blockedUnplugs: d.device.blockedUnplugs,
            },
          }
        : {}),
    });
    if (d.device) d.device.blockedUnplugs = 0;
    d.truth = { runningNs: 0, peakDemandKiB: d.usedDemandKiB, minActualKiB: d.actualKiB, oomNs: 0, seen: d.running };
  }
  const free = world.hostFreeKiB();
  const report: TruthInterval = {
    fromNs,
    toNs,
    vcpus,
    pcpuBusy: tally.pcpuBusyNs.map((ns) => ns / span),
    ...((world.scenario.host.otherLoad ?? []).length > 0
      ? { otherLoad: { demand: world.otherTally.demandNs.map((ns) => ns / span), received: world.otherTally.receivedNs.map((ns) => ns / span) } }
      : {}),
    domains,
    host: { memoryFreeMiB: free / KIB_PER_MIB, minMemoryFreeMiB: Math.min(tally.minFreeKiB, free) / KIB_PER_MIB },
    oomEvents: tally.oomEvents,
    lifecycle: tally.lifecycle,
    actions,
  };
  tally.fromNs = toNs;
  tally.pcpuBusyNs = new Array<number>(pcpus).fill(0);
  world.otherTally = emptyOtherTally(pcpus);
  tally.minFreeKiB = free;
  tally.oomEvents = [];
  tally.lifecycle = [];
  return report;
}

function cacheTruth(d: DomainState, toNs: number): CacheTruth {
  const t = d.cache.take();
  const hotKiB = d.cache.hotKiB(toNs / 1e9);
  return {
    hotMiB: hotKiB / KIB_PER_MIB,
    coldMiB: (d.cache.cachedKiB - hotKiB) / KIB_PER_MIB,
    coldMiBSeconds: t.coldKiBSeconds / KIB_PER_MIB,
    refaultMiB: t.refaultKiB / KIB_PER_MIB,
    coordinatorRefaultMiB: t.coordinatorRefaultKiB / KIB_PER_MIB,
    readStallSeconds: t.readStallSeconds,
    droppedMiB: t.droppedKiB / KIB_PER_MIB,
    diskReadMiB: d.cache.diskReadBytes / (KIB_PER_MIB * 1024),
  };
}
