import { PcpuSums } from './pcpu-sums.js';
import { descendingOrder } from './stable-order.js';
import type { DomainObservation, DomainRef, DomainState, HostObservation } from '../ground/hypervisor.js';
import { domainKey } from '../ground/domain-identity.js';

// Turns two cumulative observations into per-vCPU and per-pCPU rates for one interval.
//
// usage  = Δ vcpu.time / elapsed             — what the vCPU got.
// demand = (Δ vcpu.time + Δ vcpu.delay) / elapsed — what it would have used on a pCPU of its own
//          (it was running or runnable-but-waiting that much). Equals usage when delay is not reported.
// elapsed is the difference of the observations' own timestamps, never the nominal interval.

/** One vCPU's rates over the interval, as fractions of one pCPU in [0, 1]. */

/** Other load below this (fraction of a pCPU) is ignored: a pCPU with 1 % of host noise is a free pCPU. */
export const otherLoadFloor = 0.02;

export interface VcpuLoad {
  domain: DomainRef;
  vcpu: number;
  /** pCPUs it may run on, normalised: sorted, inside [0, pcpus), never empty. */
  affinity: number[];
  /** pCPU it was last seen on, when known and valid. */
  pcpu: number | undefined;
  usage: number;
  demand: number;
  /** CPU weight of its domain relative to a default guest (1 when omitted). */
  weight?: number;
}

export interface CpuMeasurement {
  elapsedNs: number;
  pcpus: number;
  vcpus: VcpuLoad[];
  /** Measured usage per pCPU: a vCPU pinned to one pCPU counts there; otherwise on its current `pcpu`
   *  (spread over its affinity when that is unknown). */
  pcpuUsage: number[];
  /** Demand per pCPU: a vCPU's demand spread evenly over its affinity (the host's scheduler may run it anywhere there). */
  pcpuDemand: number[];
  /** Per pCPU, the fraction busy with anything but these vCPUs (otherLoadOf); undefined when the host does not report pCPU busy time. */
  pcpuOther?: number[];
  /** The host's number of each pCPU, where the scheduler sees part of the host (the dedicated pool pass
   *  hands it the shared pCPUs numbered from 0): reasons name pCPUs by these. */
  pcpuIds?: readonly number[];
}

/** Domains whose vCPUs run and can be pinned live. */
const measurableStates: ReadonlySet<DomainState> = new Set<DomainState>(['running', 'blocked']);

export function vcpuKey(domain: DomainRef, vcpu: number): string {
  return `${domainKey(domain)}/${vcpu}`;
}

/** `key === vcpuKey(domain, vcpu)`, read off the key without building the other string (and flattening both to compare). */
export function isVcpuKey(key: string, domain: DomainRef, vcpu: number): boolean {
  const index = String(vcpu);
  const prefix = domain.uuid !== '' ? '' : 'name:';
  const id = domain.uuid !== '' ? domain.uuid : domain.name;
  const at = prefix.length + id.length;
  return (
    key.length === at + 1 + index.length &&
    key.startsWith(prefix) &&
    key.startsWith(id, prefix.length) &&
    key.charCodeAt(at) === 47 && // '/'
    key.endsWith(index)
  );
}

/** Per vCPU (in the given order), the index of its guest (by uuid, else by name), guests numbered as first seen. */
export function guestIndexOf(vcpus: readonly { domain: DomainRef }[]): number[] {
  const at = new Map<string, number>();
  return vcpus.map((v) => {
    const key = v.domain.uuid !== '' ? v.domain.uuid : `name:${v.domain.name}`;
    let g = at.get(key);
    if (g === undefined) at.set(key, (g = at.size));
    return g;
  });
}

/** Keeps valid pCPU indices only, sorted and unique; an empty or wholly invalid affinity means "all pCPUs". */
export function normalizeAffinity(affinity: number[], pcpus: number): number[] {
  // Affinities read back from the host are almost always normalised already: shared, not copied
  // (4,000 released vCPUs on 256 pCPUs would copy a million entries per interval). Nothing mutates them.
  if (isNormalizedAffinity(affinity, pcpus)) return affinity;
  const valid = [...new Set(affinity.filter((p) => Number.isInteger(p) && p >= 0 && p < pcpus))].sort((a, b) => a - b);
  return valid.length > 0 ? valid : allPcpus(pcpus);
}

/** Non-empty, strictly increasing, every entry a valid pCPU index: what normalizeAffinity would return unchanged. */
function isNormalizedAffinity(affinity: readonly number[], pcpus: number): boolean {
  if (affinity.length === 0) return false;
  let previous = -1;
  for (let k = 0; k < affinity.length; k++) {
    const p = affinity[k]!;
    // NaN fails `p > previous`; only the first entry can be −0 (every later one is above a pCPU index).
    if (!(p > previous && p < pcpus && Number.isInteger(p))) return false;
    previous = p;
  }
  return !Object.is(affinity[0], -0);
}

export function allPcpus(pcpus: number): number[] {
  return Array.from({ length: Math.max(0, pcpus) }, (_, i) => i);
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

export function measureCpu(prev: HostObservation, cur: HostObservation): CpuMeasurement {
  const pcpus = Number.isInteger(cur.host.pcpus) && cur.host.pcpus > 0 ? cur.host.pcpus : 0;
  const elapsedNs = cur.timeNs - prev.timeNs;
  const vcpus: VcpuLoad[] = [];
  if (elapsedNs > 0 && pcpus > 0) {
    const before = new Map<string, DomainObservation>(prev.domains.map((d) => [domainKey(d), d]));
    for (const domain of cur.domains) {
      if (!measurableStates.has(domain.state)) continue;
      // A domain that just appeared has no delta yet: it is measured from the next interval on.
      const earlier = before.get(domainKey(domain));
      if (!earlier) continue;
      const earlierVcpus = new Map(earlier.vcpus.map((v) => [v.index, v]));
      for (const v of domain.vcpus) {
        const e = earlierVcpus.get(v.index);
        if (!e) continue; // hot-plugged vCPU: no delta yet
        const dTime = v.timeNs - e.timeNs;
        const dDelay = v.delayNs !== undefined && e.delayNs !== undefined ? v.delayNs - e.delayNs : undefined;
        // Counters that went backwards mean the domain restarted (same UUID): no valid delta this interval.
        if (dTime < 0 || (dDelay !== undefined && dDelay < 0)) continue;
        const usage = clamp01(dTime / elapsedNs);
        const demand = dDelay === undefined ? usage : Math.max(usage, clamp01((dTime + dDelay) / elapsedNs));
        const pcpu = v.pcpu !== undefined && Number.isInteger(v.pcpu) && v.pcpu >= 0 && v.pcpu < pcpus ? v.pcpu : undefined;
        vcpus.push({
          domain: { name: domain.name, uuid: domain.uuid },
          vcpu: v.index,
          affinity: normalizeAffinity(v.affinity, pcpus),
          pcpu,
          usage,
          demand,
          ...(domain.cpuWeight !== undefined && domain.cpuWeight !== 1 ? { weight: domain.cpuWeight } : {}),
        });
      }
    }
  }
  const measurement: CpuMeasurement = { elapsedNs: Math.max(0, elapsedNs), pcpus, vcpus, pcpuUsage: pcpuUsageOf(vcpus, pcpus, true), pcpuDemand: pcpuDemandOf(vcpus, pcpus, true) };
  const busyBefore = prev.host.pcpuBusyNs;
  const busyNow = cur.host.pcpuBusyNs;
  if (elapsedNs > 0 && busyBefore?.length === pcpus && busyNow?.length === pcpus) {
    const busy = busyNow.map((ns, p) => clamp01((ns - busyBefore[p]!) / elapsedNs));
    measurement.pcpuOther = otherLoadOf(busy, vcpus, pcpus);
  }
  return measurement;
}

/**
 * Per pCPU, the busy fraction our guests' vCPUs do not account for: host daemons, QEMU's emulator
 * and I/O threads, other tenants. A vCPU pinned to one pCPU is subtracted there. One allowed on
 * several is subtracted first where libvirt last saw it running (the host keeps a busy thread
 * where it is), the rest from its other pCPUs in order, never below zero; so other load is never
 * invented out of a guest the host merely moved, and the total always equals Σ busy − Σ usage
 * (up to what clamping at zero hides).
 */
export function otherLoadOf(busy: readonly number[], vcpus: readonly VcpuLoad[], pcpus: number): number[] {
  const residual = busy.slice(0, pcpus);
  const flexible: VcpuLoad[] = [];
  for (const v of vcpus) {
    if (v.affinity.length === 1) residual[v.affinity[0]!] = residual[v.affinity[0]!]! - v.usage;
    else flexible.push(v);
  }
  for (const v of mostConstrainedFirst(flexible)) {
    let left = v.usage;
    if (v.pcpu !== undefined) {
      const taken = Math.min(left, Math.max(0, residual[v.pcpu]!));
      residual[v.pcpu] = residual[v.pcpu]! - taken;
      left -= taken;
    }
    for (let k = 0; k < v.affinity.length && left > 0; k++) {
      const p = v.affinity[k]!;
      const taken = Math.min(left, Math.max(0, residual[p]!));
      residual[p] = residual[p]! - taken;
      left -= taken;
    }
  }
  return residual.map(clamp01);
}

/**
 * Measured usage per pCPU. A vCPU pinned to one pCPU counts there. libvirt does not say how a vCPU
 * allowed on several pCPUs split its time among them (only where it was at the moment of the
 * observation), and the host's load balancer keeps moving it to the least busy of them; so its
 * usage is poured over its allowed pCPUs onto the least loaded first (water-filling), the most
 * constrained vCPUs first. That never reports one pCPU at 140 % while a pCPU it could use idles.
 * `normalized`: every affinity is known normalised (measureCpu's), not checked again.
 */
export function pcpuUsageOf(vcpus: readonly VcpuLoad[], pcpus: number, normalized = false): number[] {
  const usage = new Array<number>(pcpus).fill(0);
  const flexible: { affinity: number[]; usage: number }[] = [];
  for (const v of vcpus) {
    const affinity = normalized || isNormalizedAffinity(v.affinity, pcpus) ? v.affinity : normalizeAffinity(v.affinity, pcpus);
    if (affinity.length === 1) usage[affinity[0]!] = (usage[affinity[0]!] ?? 0) + v.usage;
    else flexible.push({ affinity, usage: v.usage });
  }
  const ordered = mostConstrainedFirst(flexible);
  // Pouring onto the same pCPUs twice in a row is one pour of the sum (released vCPUs: one pour, not 4,000).
  let k = 0;
  while (k < ordered.length) {
    const affinity = ordered[k]!.affinity;
    let amount = ordered[k]!.usage;
    let next = k + 1;
    while (next < ordered.length && samePcpuList(ordered[next]!.affinity, affinity)) amount += ordered[next++]!.usage;
    pourLevel(usage, affinity, amount);
    k = next;
  }
  return usage;
}

/**
 * Fewest allowed pCPUs first, then largest usage, ties in list order: the stable comparator sort,
 * by a stable radix order of usage when every list is as long (a released host: 4,000 comparator calls saved).
 */
function mostConstrainedFirst<T extends { affinity: readonly number[]; usage: number }>(list: T[]): T[] {
  const length = list[0]?.affinity.length;
  if (list.length > 0 && list.every((v) => v.affinity.length === length && !Number.isNaN(v.usage))) {
    return [...descendingOrder(list.map((v) => v.usage))].map((i) => list[i]!);
  }
  return list.sort((a, b) => a.affinity.length - b.affinity.length || b.usage - a.usage);
}

/** Two normalised pCPU lists (sorted, unique) are equal; the same range of pCPUs is known from its ends. */
function samePcpuList(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const n = a.length;
  if (n > 0 && a[0] === b[0] && a[n - 1] === b[n - 1] && a[n - 1]! - a[0]! === n - 1) return true;
  for (let k = a.length - 1; k >= 0; k--) if (a[k] !== b[k]) return false;
  return true;
}

/** Adds `amount` to `levels` over the pCPUs in `where`, raising the lowest of them to a common level. */
export function pourLevel(levels: number[], where: readonly number[], amount: number): void {
  if (amount <= 0) return;
  const order = [...where].sort((a, b) => (levels[a] ?? 0) - (levels[b] ?? 0));
  // Find how many of the lowest pCPUs get filled and the level they reach.
  let sum = 0;
  let count = 0;
  let level = 0;
  for (let k = 0; k < order.length; k++) {
    sum += levels[order[k]!] ?? 0;
    count = k + 1;
    level = (sum + amount) / count;
    const next = order[k + 1];
    if (next === undefined || level <= (levels[next] ?? 0)) break;
  }
  for (let k = 0; k < count; k++) levels[order[k]!] = level;
}

/** Demand per pCPU, each vCPU's spread evenly over its affinity; `normalized` as for pcpuUsageOf. */
export function pcpuDemandOf(vcpus: readonly VcpuLoad[], pcpus: number, normalized = false): number[] {
  const demand = new PcpuSums(Math.max(0, pcpus));
  for (const v of vcpus) {
    const affinity = normalized || isNormalizedAffinity(v.affinity, pcpus) ? v.affinity : normalizeAffinity(v.affinity, pcpus);
    demand.add(affinity, v.demand / affinity.length);
  }
  return demand.values();
}
