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

const outcome = (worstFraction: number, samples = 3) => ({ worstFraction, usageSpreadPoints: 0, samples, sd: 0 });

/**
 * A CPU trace with the scheduler's trials (cpu.trial, cpu.decision), four one-vCPU VMs on 2 pCPUs:
 * interval 1 starts a trial (before: worst 55 % of fair share), measured over 2–4 and reverted at 5
 * (tried: 51 %), with its pins back; 7 and 8 hold a proposal (one trial per epoch, placement left
 * before); 9 starts a trial of epoch 2, kept at 12 (88 % vs 55 %); 14 starts one of epoch 3, which
 * the trial started at 16 (epoch 4) abandons (cpu.trial.abandoned says why). Pins: 2 at each of 1, 5,
 * 9, 14 and 16 (10 in all, 2 of them by the revert).
 */
export function trialTrace(): TraceLine[] {
  const A = [0, 0, 1, 1];
  const B = [0, 1, 0, 1];
  const C = [0, 1, 1, 0];
  const placement = (n: number) => (n <= 1 ? A : n <= 5 ? B : n <= 9 ? A : n <= 14 ? C : n <= 16 ? B : A);
  const vms = ['vm1', 'vm2', 'vm3', 'vm4'].map((name, i) => ({ name, demand: i % 2 === 0 ? 1 : 0.4 }));
  const lines = cpuTrace(2, vms, 20, placement);
  const before = outcome(0.55);
  const trials: Record<number, { trial: NonNullable<TraceInterval['cpu']>['trial']; decision: string }> = {
    1: { trial: { event: 'started', epoch: 1, baseline: before }, decision: 'trial started (epoch 1): the placement in force delivered worst 55 % of fair share' },
    2: { trial: { event: 'measuring', epoch: 1, baseline: before, progress: [0, 3] }, decision: 'trial in progress (0 of 3 intervals measured)' },
    3: { trial: { event: 'measuring', epoch: 1, baseline: before, progress: [1, 3] }, decision: 'trial in progress (1 of 3 intervals measured)' },
    4: { trial: { event: 'measuring', epoch: 1, baseline: before, progress: [2, 3] }, decision: 'trial in progress (2 of 3 intervals measured)' },
    5: { trial: { event: 'reverted', epoch: 1, baseline: before, measured: outcome(0.51), text: 'trial reverted (measured worse): worst 51 % of fair share, before worst 55 % of fair share' }, decision: 'trial reverted (measured worse): worst 51 % of fair share, before worst 55 % of fair share' },
    7: { trial: { event: 'held', epoch: 1, rule: 'one-trial-per-epoch' }, decision: 'held: one trial per demand epoch (epoch 1 began at interval 1)' },
    8: { trial: { event: 'held', epoch: 1, rule: 'placement-left-before' }, decision: 'held: the placement in force was already left once in this demand epoch' },
    9: { trial: { event: 'started', epoch: 2, baseline: before }, decision: 'trial started (epoch 2): the placement in force delivered worst 55 % of fair share' },
    10: { trial: { event: 'measuring', epoch: 2, baseline: before, progress: [1, 2] }, decision: 'trial in progress (1 of 2 intervals measured)' },
    12: { trial: { event: 'kept', epoch: 2, baseline: before, measured: outcome(0.88) }, decision: 'trial kept (better): worst 88 % of fair share, before worst 55 % of fair share' },
    14: { trial: { event: 'started', epoch: 3, baseline: outcome(0.88) }, decision: 'trial started (epoch 3): the placement in force delivered worst 88 % of fair share' },
    16: {
      trial: { event: 'started', epoch: 4, baseline: outcome(0.7, 1), abandoned: { because: 'vm1 vCPU0 demand 1.00 → 0.60 (band ±0.05)', baseline: outcome(0.88) } },
      decision: 'trial abandoned (vm1 vCPU0 demand 1.00 → 0.60 (band ±0.05)); trial started (epoch 4): the placement in force delivered worst 70 % of fair share',
    },
  };
  for (const line of lines) {
    if (line.type !== 'interval' || !line.cpu) continue;
    const t = trials[line.interval];
    line.cpu.decision = t?.decision ?? 'balanced: demand spread 0 pts ≤ margin 10';
    if (t?.trial) line.cpu.trial = t.trial;
  }
  return lines;
}
