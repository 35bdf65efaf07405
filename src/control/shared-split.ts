import type { TraceVcpu } from '../ground/trace-record.js';
import { pourLevel } from '../cpu/usage.js';

// Where a vCPU allowed on several pCPUs counts. The measured usage per pCPU (pcpuUsage,
// src/cpu/usage.ts) pours such a vCPU's usage over its allowed pCPUs, the least loaded first (libvirt
// says only where it was at the moment), so a listing by its current pCPU does not add up: a pCPU
// can show usage and no vCPU. This replays that pour (single-pinned vCPUs first, then the most
// constrained sets, larger usage first) and gives each vCPU what its pour added to each pCPU, so
// every pCPU's parts add up to its usage and every vCPU's to its own. Should the pour and the
// figures ever differ, the parts on a pCPU are scaled to what its figure leaves after the pinned
// vCPUs: the lines still add up. The dashboard page has the same rule in
// src/web/page/cpu-rules.js (sharedSplit); a test holds them equal.

/** Per vCPU (same order) with an affinity of several pCPUs: its usage counted on each of them, by pCPU. */
export function sharedSplit(vcpus: readonly TraceVcpu[], pcpuUsage: readonly number[]): Array<Map<number, number> | undefined> {
  const pcpus = pcpuUsage.length;
  const levels = new Array<number>(pcpus).fill(0);
  const flexible: Array<{ index: number; affinity: number[]; usage: number }> = [];
  vcpus.forEach((v, index) => {
    const affinity = v.affinity.filter((p) => p >= 0 && p < pcpus);
    if (affinity.length === 1) levels[affinity[0]!] = levels[affinity[0]!]! + v.usage;
    else if (affinity.length > 1) flexible.push({ index, affinity, usage: v.usage });
  });
  const pinned = [...levels];
  flexible.sort((a, b) => a.affinity.length - b.affinity.length || b.usage - a.usage);
  const out: Array<Map<number, number> | undefined> = vcpus.map(() => undefined);
  for (let k = 0; k < flexible.length; ) {
    const affinity = flexible[k]!.affinity;
    let next = k + 1;
    while (next < flexible.length && flexible[next]!.affinity.join(',') === affinity.join(',')) next++;
    const run = flexible.slice(k, next);
    const amount = run.reduce((sum, v) => sum + v.usage, 0);
    const before = affinity.map((p) => levels[p]!);
    pourLevel(levels, affinity, amount);
    for (const v of run) {
      const share = amount > 0 ? Math.max(0, v.usage) / amount : 0;
      out[v.index] = new Map(affinity.map((p, j) => [p, (levels[p]! - before[j]!) * share]));
    }
    k = next;
  }
  // Against the figures themselves: the parts on each pCPU add up to what its pinned vCPUs leave.
  const sums = new Array<number>(pcpus).fill(0);
  for (const parts of out) for (const [p, part] of parts ?? []) sums[p] = sums[p]! + part;
  for (const parts of out) {
    for (const [p, part] of parts ?? []) {
      const left = Math.max(0, pcpuUsage[p]! - pinned[p]!);
      if (sums[p]! > 0 && Math.abs(sums[p]! - left) > 1e-12) parts!.set(p, (part * left) / sums[p]!);
    }
  }
  return out;
}
