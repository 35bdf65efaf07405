// Other load in the simulated host: CPU that something besides the guests burns on a pCPU (a host
// daemon, QEMU's emulator threads, another tenant). Each entry of the scenario's `host.otherLoad`
// is one such thread pinned to one pCPU, with a demand that follows a workload shape and a weight
// against a guest vCPU (a host process outside libvirt's machine cgroup weighs about 4 guests: the
// lab measured a lone guest getting 19 % of a pCPU beside one busy process).

import { hashString } from './random.js';
import type { OtherLoadSpec } from './scenario.js';
import { workloadValue } from './workload.js';

/** Demand of each other-load thread at time t (seconds), 0..1 of its pCPU. */
export function otherLoadDemands(specs: readonly OtherLoadSpec[], t: number, seed: number): number[] {
  return specs.map((s, i) => Math.min(1, Math.max(0, workloadValue(s.load, t, seed, hashString(`host/other/${i}`)))));
}

/** What the other load wanted and got per pCPU since the last ground-truth report, ns. */
export interface OtherLoadTally {
  demandNs: number[];
  receivedNs: number[];
}

export function emptyOtherTally(pcpus: number): OtherLoadTally {
  return { demandNs: new Array<number>(pcpus).fill(0), receivedNs: new Array<number>(pcpus).fill(0) };
}
