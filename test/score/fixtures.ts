import type { PinAction } from '../../src/ground/actions.js';
import type { TraceGuestMemory, TraceHeader, TraceInterval, TraceLine, TraceTruth } from '../../src/ground/trace-record.js';

// Small hand-built traces for the score and plot tests. CPU traces come from a toy host: each
// pCPU serves its vCPUs like a fair scheduler (small demands are met in full, the rest split
// the remainder evenly), so usage, demand and truth are consistent with a placement.

export function header(pcpus: number, cpu = true, memory = true): TraceHeader {
  return {
    type: 'header', version: 1, target: 'sim:test', scenario: 'test', intervalSeconds: 1,
    controllers: { cpu, memory }, pcpus, startedAt: '2024-01-01T00:00:00Z', options: {},
  };
}

export function interval(n: number, extra: Partial<TraceInterval> = {}): TraceInterval {
  return { type: 'interval', interval: n, timeMs: n * 1000, domains: [], actions: [], failures: [], notices: [], ...extra };
}

/** What one pCPU gives each of the vCPUs on it: max-min fair with capacity 1. */
function servePcpu(demands: number[]): number[] {
  const order = demands.map((d, i) => ({ d, i })).sort((a, b) => a.d - b.d);
  const out = new Array<number>(demands.length).fill(0);
  let left = 1;
  order.forEach((e, k) => {
    const give = Math.min(e.d, left / (order.length - k));
    out[e.i] = give;
    left -= give;
  });
  return out;
}

export interface ToyVm {
  name: string;
  demand: number;
}

export function pin(name: string, from: number, to: number): PinAction {
  return { kind: 'pin', domain: { name, uuid: `uuid-${name}` }, vcpu: 0, pcpus: [to], previous: [from], reason: 'test' };
}

/**
 * A CPU trace of one-vCPU VMs. `placement(n)` gives each VM's pCPU in interval n; a VM whose
 * pCPU differs from the interval before gets a pin action recorded in that interval before.
 */
export function cpuTrace(pcpus: number, vms: ToyVm[], intervals: number, placement: (n: number) => number[], withTruth = true): TraceLine[] {
  const lines: TraceLine[] = [header(pcpus, true, false)];
  for (let n = 0; n < intervals; n++) {
    const where = placement(n);
    const received = new Array<number>(vms.length).fill(0);
    for (let p = 0; p < pcpus; p++) {
      const on = vms.map((_, i) => i).filter((i) => where[i] === p);
      const got = servePcpu(on.map((i) => vms[i]!.demand));
      on.forEach((i, k) => (received[i] = got[k]!));
    }
    const pcpuUsage = Array.from({ length: pcpus }, (_, p) => vms.reduce((a, _vm, i) => a + (where[i] === p ? received[i]! : 0), 0));
    const next = n + 1 < intervals ? placement(n + 1) : where;
    const actions = vms.flatMap((vm, i) => (next[i] !== where[i] ? [pin(vm.name, where[i]!, next[i]!)] : []));
    const truth: TraceTruth = {
      vcpus: vms.map((vm, i) => ({ domain: vm.name, vcpu: 0, demand: vm.demand, received: received[i]! })),
      memoryDemandKiB: {},
      oomEvents: [],
    };
    const spreadPoints = (Math.max(...pcpuUsage) - Math.min(...pcpuUsage)) * 100;
    lines.push(interval(n, {
      domains: vms.map((v) => v.name),
      cpu: {
        elapsedNs: 1e9,
        pcpuUsage,
        pcpuDemand: pcpuUsage,
        vcpus: vms.map((vm, i) => ({ domain: vm.name, vcpu: 0, pcpu: where[i], affinity: [where[i]!], usage: received[i]!, demand: vm.demand })),
        balanced: spreadPoints <= 5,
        spreadPoints,
      },
      actions,
      truth: withTruth ? truth : undefined,
    }));
  }
  return lines;
}

export const MiB = 1024;

export function guest(domain: string, actualMiB: number, unusedMiB: number | undefined, more: Partial<TraceGuestMemory> = {}): TraceGuestMemory {
  return {
    domain,
    actualKiB: actualMiB * MiB,
    maximumKiB: 2048 * MiB,
    unusedKiB: unusedMiB === undefined ? undefined : unusedMiB * MiB,
    usedKiB: unusedMiB === undefined ? undefined : (actualMiB - unusedMiB) * MiB,
    floorKiB: 200 * MiB,
    fresh: true,
    ...more,
  };
}

export function memoryInterval(n: number, guests: TraceGuestMemory[], hostFreeMiB = 4096, truth?: TraceTruth): TraceInterval {
  return interval(n, { domains: guests.map((g) => g.domain), memory: { guests, hostFreeKiB: hostFreeMiB * MiB, reserveKiB: 512 * MiB }, truth });
}
