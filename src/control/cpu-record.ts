import type { TraceCpu, TraceDedicatedGrant } from '../ground/trace-record.js';

// What the record adds to the vCPU scheduler's part of an interval, from that part alone and from
// the intervals before it: each guest's prediction error (mean |predicted − received| over its vCPUs
// that had a prediction) and since when each dedicated grant is held.

/** The grants seen so far, by domain name: which pCPUs, and from which interval. */
export type GrantHistory = Map<string, { pcpus: string; sinceInterval: number; sinceMs: number }>;

/** Per domain, mean |usage − predicted| over its vCPUs that had a prediction; undefined when none had. */
export function domainPredictionErrors(cpu: TraceCpu): Record<string, number> | undefined {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const v of cpu.vcpus) {
    if (v.predicted === undefined) continue;
    const s = sums.get(v.domain) ?? { sum: 0, count: 0 };
    s.sum += Math.abs(v.usage - v.predicted);
    s.count++;
    sums.set(v.domain, s);
  }
  if (sums.size === 0) return undefined;
  return Object.fromEntries([...sums].map(([domain, s]) => [domain, s.sum / s.count]));
}

/** Each grant with the interval from which its domain has held these very pCPUs; `history` is updated (a grant gone is forgotten). */
export function datedGrants(grants: readonly TraceDedicatedGrant[], history: GrantHistory, interval: number, timeMs: number): TraceDedicatedGrant[] {
  const held = new Set<string>();
  const dated = grants.map((g) => {
    const pcpus = g.pcpus.join(',');
    held.add(g.domain);
    let since = history.get(g.domain);
    if (!since || since.pcpus !== pcpus) {
      since = { pcpus, sinceInterval: interval, sinceMs: timeMs };
      history.set(g.domain, since);
    }
    return { ...g, sinceInterval: since.sinceInterval, sinceMs: since.sinceMs };
  });
  for (const domain of [...history.keys()]) if (!held.has(domain)) history.delete(domain);
  return dated;
}

/** The scheduler's part of an interval with the guests' prediction errors and dated grants. */
export function recordCpu(cpu: TraceCpu, history: GrantHistory, interval: number, timeMs: number): TraceCpu {
  const errors = domainPredictionErrors(cpu);
  const grants = datedGrants(cpu.dedicated ?? [], history, interval, timeMs);
  return {
    ...cpu,
    ...(errors ? { domainPredictionError: errors } : {}),
    ...(cpu.dedicated ? { dedicated: grants } : {}),
  };
}
