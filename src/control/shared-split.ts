import type { TraceVcpu } from '../ground/trace-record.js';

// Where a vCPU allowed on several pCPUs counts. The measured usage per pCPU (pcpuUsage) pours such
// a vCPU's usage over its allowed pCPUs (libvirt says only where it was at the moment), so a listing
// by its current pCPU does not add up: a pCPU can show usage and no vCPU. This splits each shared
// vCPU's usage over its set so that, with the single-pinned vCPUs, every pCPU's parts add up to its
// usage: what is left on each pCPU after the pinned ones, shared among the sets that include it
// (iterative proportional fitting, which also keeps each vCPU's parts summing to its usage).
// The dashboard page has the same rule in src/web/page/cpu-rules.js (sharedSplit); a test holds them equal.

const ROUNDS = 30;

/** Per vCPU (same order) with an affinity of several pCPUs: its usage counted on each of them, by pCPU. */
export function sharedSplit(vcpus: readonly TraceVcpu[], pcpuUsage: readonly number[]): Array<Map<number, number> | undefined> {
  const left = pcpuUsage.map((u) => u);
  for (const v of vcpus) {
    const p = v.affinity[0]!;
    if (v.affinity.length === 1 && left[p] !== undefined) left[p] = left[p]! - v.usage;
  }
  const groups = new Map<string, { pcpus: number[]; total: number; members: number[] }>();
  vcpus.forEach((v, i) => {
    if (v.affinity.length < 2) return;
    const key = v.affinity.join(',');
    const g = groups.get(key) ?? { pcpus: v.affinity.filter((p) => p >= 0 && p < pcpuUsage.length), total: 0, members: [] };
    g.total += Math.max(0, v.usage);
    g.members.push(i);
    groups.set(key, g);
  });
  const list = [...groups.values()].filter((g) => g.pcpus.length > 0);
  const parts = list.map((g) => g.pcpus.map(() => g.total / g.pcpus.length));
  const scaleColumns = () => {
    const sums = new Map<number, number>();
    list.forEach((g, k) => g.pcpus.forEach((p, j) => sums.set(p, (sums.get(p) ?? 0) + parts[k]![j]!)));
    list.forEach((g, k) => g.pcpus.forEach((p, j) => {
      const sum = sums.get(p)!;
      parts[k]![j] = sum > 0 ? (parts[k]![j]! * Math.max(0, left[p]!)) / sum : 0;
    }));
  };
  for (let round = 0; round < ROUNDS; round++) {
    scaleColumns();
    list.forEach((g, k) => {
      const sum = parts[k]!.reduce((a, b) => a + b, 0);
      if (sum > 0) parts[k] = parts[k]!.map((x) => (x * g.total) / sum);
    });
  }
  scaleColumns();
  const out: Array<Map<number, number> | undefined> = vcpus.map(() => undefined);
  list.forEach((g, k) => {
    for (const i of g.members) {
      const share = g.total > 0 ? Math.max(0, vcpus[i]!.usage) / g.total : 0;
      out[i] = new Map(g.pcpus.map((p, j) => [p, parts[k]![j]! * share]));
    }
  });
  return out;
}
