import type { Notice, PinAction } from '../ground/actions.js';
import { domainKey } from '../ground/domain-identity.js';
import { pinAction, renderPinReason, type OffDedicated, type PinWhy } from '../ground/pin-why.js';
import { formatCpuList, sameCpuSet } from '../ground/cpu-list.js';
import type { CpuSchedulerOptions } from './options.js';
import type { DedicatedGuestState, DedicatedState } from './dedicated-state.js';
import type { CpuDecision, CpuSchedulerState, PlacementSummary, PredictedShares } from './scheduler.js';
import { otherLoadFloor, vcpuKey, type CpuMeasurement, type VcpuLoad } from './usage.js';
import { fixed2 } from '../ground/figures-text.js';

// Dedicated pCPUs on demand. A domain named in `options.dedicated` that has been busy (its vCPUs'
// total demand ≥ dedicatedBusyDemand) for dedicatedBusyIntervals intervals gets one pCPU per vCPU
// that no other vCPU may use; once it has been idle for dedicatedIdleIntervals the pCPUs are given
// back. At most pcpus − 1 pCPUs are ever dedicated, so everyone else keeps at least one.
//
// Everything else is placed by the ordinary scheduler on the remaining (shared) pCPUs: the
// measurement is cut down to the shared pCPUs, renumbered 0..k−1, decided as if that were the whole
// host, and the answer's pCPUs numbered back (its reasons already name the host's pCPUs:
// `CpuMeasurement.pcpuIds`). A vCPU allowed on a dedicated pCPU is moved off it whatever
// the balance verdict says.

export type { DedicatedGuestState, DedicatedState };

type Decide = (m: CpuMeasurement, state: CpuSchedulerState, options: CpuSchedulerOptions) => CpuDecision;

/** True when the dedicated rule has anything to do: a domain is named, or pCPUs are still dedicated. */
export function dedicatedInPlay(state: CpuSchedulerState, options: CpuSchedulerOptions): boolean {
  return (options.dedicated?.length ?? 0) > 0 || Object.keys(state.dedicated ?? {}).length > 0;
}

/** A pCPU whose other load (host processes) is at least this is not given to a dedicated guest while a quieter one is free. */
const hostBusyOther = 0.25;

/** A vCPU alone on its pCPU is predicted to get its demand, up to what the host's other load leaves of that pCPU. */
export function aloneShare(demand: number, other: number | undefined): number {
  const taken = other === undefined || !(other >= otherLoadFloor) ? 0 : Math.min(1, other);
  return Math.min(demand, 1 - taken);
}

/** Busy/idle streaks and which domains hold, want or give back dedicated pCPUs this interval. */
function updateGuests(
  m: CpuMeasurement,
  previous: DedicatedState,
  options: CpuSchedulerOptions,
  notices: Notice[],
): { guests: DedicatedState; vcpusOf: Map<string, VcpuLoad[]> } {
  const named = new Set(options.dedicated ?? []);
  const vcpusOf = new Map<string, VcpuLoad[]>();
  for (const v of m.vcpus) {
    if (!named.has(v.domain.name)) continue;
    const key = domainKey(v.domain);
    const list = vcpusOf.get(key) ?? [];
    list.push(v);
    vcpusOf.set(key, list);
  }
  const guests: DedicatedState = {};
  for (const [key, g] of Object.entries(previous)) {
    if (vcpusOf.has(key)) continue;
    // No longer named, or not measured this interval (stopped, gone): its pCPUs are free again.
    if (g.pcpus) notices.push({ domain: g.name, message: `${g.name}: pCPU${g.pcpus.length > 1 ? 's' : ''} ${formatCpuList(g.pcpus)} no longer dedicated (${named.has(g.name) ? 'not running' : 'not configured as dedicated'})` });
  }
  for (const [key, list] of vcpusOf) {
    list.sort((a, b) => a.vcpu - b.vcpu);
    const before = previous[key];
    const demand = list.reduce((sum, v) => sum + v.demand, 0);
    const busyNow = demand >= options.dedicatedBusyDemand;
    const g: DedicatedGuestState = {
      name: list[0]!.domain.name,
      busy: busyNow ? (before?.busy ?? 0) + 1 : 0,
      idle: busyNow ? 0 : (before?.idle ?? 0) + 1,
      pcpus: before?.pcpus && before.pcpus.length === list.length && before.pcpus.every((p) => p < m.pcpus) ? before.pcpus : null,
      ...(before?.refused ? { refused: true } : {}),
    };
    if (g.pcpus && g.idle >= options.dedicatedIdleIntervals) {
      notices.push({
        domain: g.name,
        message: `${g.name}: idle for ${g.idle} intervals (demand ${fixed2(demand)} < ${fixed2(options.dedicatedBusyDemand)}), pCPU${g.pcpus.length > 1 ? 's' : ''} ${formatCpuList(g.pcpus)} given back`,
      });
      g.pcpus = null;
    }
    if (!busyNow) delete g.refused;
    guests[key] = g;
  }
  return { guests, vcpusOf };
}

/** Grants pCPUs to the domains busy long enough; existing grants first, then the busiest. Never more than pcpus − 1 in all. */
function allocate(m: CpuMeasurement, guests: DedicatedState, vcpusOf: Map<string, VcpuLoad[]>, options: CpuSchedulerOptions, notices: Notice[]): void {
  const taken = new Set<number>();
  for (const g of Object.values(guests)) for (const p of g.pcpus ?? []) taken.add(p);
  const limit = m.pcpus - 1;
  const wanting = Object.entries(guests)
    .filter(([, g]) => !g.pcpus && g.busy >= options.dedicatedBusyIntervals)
    .map(([key, g]) => ({ key, g, list: vcpusOf.get(key)! }))
    .sort((a, b) => b.list.reduce((s, v) => s + v.demand, 0) - a.list.reduce((s, v) => s + v.demand, 0) || a.g.name.localeCompare(b.g.name));
  for (const { g, list } of wanting) {
    if (taken.size + list.length > limit) {
      if (!g.refused) {
        const holders = Object.values(guests).filter((o) => o.pcpus).map((o) => `${o.name} (${formatCpuList(o.pcpus!)})`);
        notices.push({
          domain: g.name,
          message:
            `${g.name}: busy, but cannot dedicate ${list.length} pCPU${list.length > 1 ? 's' : ''} to it: at most ${limit} of ${m.pcpus} pCPUs may be dedicated ` +
            `(one stays for everyone else)${holders.length > 0 ? `, already dedicated: ${holders.join(', ')}` : ''}; it shares pCPUs like everyone else`,
        });
      }
      g.refused = true;
      continue;
    }
    // Where its vCPUs are now first (fewest moves) unless a host process keeps that pCPU busy, then
    // the pCPUs carrying the least load (our demand and other load).
    const other = (p: number): number => m.pcpuOther?.[p] ?? 0;
    const free = Array.from({ length: m.pcpus }, (_, p) => p).filter((p) => !taken.has(p));
    const order = free.sort((a, b) => (m.pcpuDemand[a] ?? 0) + other(a) - (m.pcpuDemand[b] ?? 0) - other(b) || a - b);
    const pcpus: number[] = [];
    for (const v of list) {
      const here = v.affinity.length === 1 ? v.affinity[0] : v.pcpu;
      if (here !== undefined && !taken.has(here) && !pcpus.includes(here) && other(here) < hostBusyOther) pcpus.push(here);
      else pcpus.push(-1);
    }
    for (let i = 0; i < pcpus.length; i++) {
      if (pcpus[i] !== -1) continue;
      pcpus[i] = order.find((p) => !pcpus.includes(p))!;
    }
    for (const p of pcpus) taken.add(p);
    g.pcpus = pcpus;
    delete g.refused;
    notices.push({
      domain: g.name,
      message: `${g.name}: busy for ${g.busy} intervals, pCPU${pcpus.length > 1 ? 's' : ''} ${formatCpuList([...pcpus].sort((a, b) => a - b))} dedicated to it (no other vCPU runs there until it idles)`,
    });
  }
}

function expandSummary(s: PlacementSummary, shared: readonly number[], pcpus: number, dedicatedLoad: ReadonlyMap<number, number>): PlacementSummary {
  const loads = new Array<number>(pcpus).fill(0);
  shared.forEach((p, i) => (loads[p] = s.demandLoads[i] ?? 0));
  for (const [p, load] of dedicatedLoad) loads[p] = load;
  return { ...s, demandLoads: loads };
}

/**
 * The scheduler's decision with dedicated pCPUs: grants and give-backs, the ordinary decision on the
 * shared pCPUs (through `decide`, called without dedicated domains), and the moves that keep every
 * other vCPU off the dedicated pCPUs.
 */
export function decideWithDedicated(m: CpuMeasurement, state: CpuSchedulerState, options: CpuSchedulerOptions, decide: Decide): CpuDecision {
  const notices: Notice[] = [];
  const { guests, vcpusOf } = updateGuests(m, state.dedicated ?? {}, options, notices);
  if (m.pcpus > 0) allocate(m, guests, vcpusOf, options, notices);

  const owner = new Map<number, string>();
  const dedicatedTo = new Map<string, number>();
  for (const [key, g] of Object.entries(guests)) {
    if (!g.pcpus) continue;
    for (const p of g.pcpus) owner.set(p, g.name);
    vcpusOf.get(key)!.forEach((v, i) => dedicatedTo.set(`${key}/${v.vcpu}`, g.pcpus![i]!));
  }
  const shared = Array.from({ length: m.pcpus }, (_, p) => p).filter((p) => !owner.has(p));
  const compact = new Map(shared.map((p, i) => [p, i]));

  // The shared part of the host, renumbered: the others' vCPUs, allowed only on shared pCPUs.
  const rest: VcpuLoad[] = [];
  const forced = new Map<string, { v: VcpuLoad; target: number[] }>();
  for (const v of m.vcpus) {
    const key = `${domainKey(v.domain)}/${v.vcpu}`;
    if (dedicatedTo.has(key)) continue;
    const allowed = v.affinity.filter((p) => compact.has(p));
    const target = allowed.length > 0 ? allowed : shared;
    if (allowed.length !== v.affinity.length) forced.set(key, { v, target });
    const pcpu = v.pcpu !== undefined ? compact.get(v.pcpu) : undefined;
    rest.push({ ...v, affinity: target.map((p) => compact.get(p)!), pcpu });
  }
  // Every per-pCPU array of the measurement (usage, demand, and any other per-pCPU reading) is cut to the shared pCPUs.
  const restMeasurement: CpuMeasurement = { ...m, pcpus: shared.length, vcpus: rest, pcpuIds: shared };
  for (const [key, value] of Object.entries(m)) {
    if (key === 'vcpus' || !Array.isArray(value) || value.length !== m.pcpus) continue;
    (restMeasurement as unknown as Record<string, unknown>)[key] = shared.map((p) => (value as number[])[p] ?? 0);
  }
  const { dedicated: _previous, ...restState } = state;
  const inner = decide(restMeasurement, restState, { ...options, dedicated: [] });

  const actions: PinAction[] = [];
  const decided = new Set<string>();
  const byKey = new Map(m.vcpus.map((v) => [`${domainKey(v.domain)}/${v.vcpu}`, v]));
  for (const a of inner.actions) {
    const key = `${domainKey(a.domain)}/${a.vcpu}`;
    decided.add(key);
    const original = byKey.get(key);
    const moved = forced.get(key);
    // Moved off a dedicated pCPU too: said in its why (already in the host's pCPU numbers, pcpuIds), its reason rendered again from it.
    const why = moved && a.why ? ({ ...a.why, figures: { ...a.why.figures, off: offOf(moved.v.affinity, owner) } } as PinWhy) : a.why;
    const pcpus = a.pcpus.map((p) => shared[p]!);
    const previous = original?.affinity ?? a.previous;
    actions.push(why ? pinAction(a, pcpus, previous, why) : { ...a, pcpus, previous });
  }
  for (const [key, { v, target }] of forced) {
    if (decided.has(key)) continue;
    const why: PinWhy = { rule: 'off-dedicated', from: { pcpus: v.affinity }, to: target, figures: { demand: v.demand, off: offOf(v.affinity, owner) } };
    actions.push(pinAction(v, target, v.affinity, why));
  }
  const dedicatedLoad = new Map<number, number>();
  const predicted: PredictedShares = { keys: [...(inner.state.predicted?.keys ?? [])], shares: [...(inner.state.predicted?.shares ?? [])] };
  const predict = (key: string, share: number): void => {
    const j = predicted.keys.indexOf(key);
    if (j >= 0) predicted.shares[j] = share;
    else {
      predicted.keys.push(key);
      predicted.shares.push(share);
    }
  };
  for (const [key, g] of Object.entries(guests)) {
    if (!g.pcpus) continue;
    vcpusOf.get(key)!.forEach((v, i) => {
      const p = g.pcpus![i]!;
      dedicatedLoad.set(p, v.demand);
      predict(vcpuKey(v.domain, v.vcpu), aloneShare(v.demand, options.countOtherLoad === false ? undefined : m.pcpuOther?.[p]));
      if (sameCpuSet(v.affinity, [p])) return;
      const why: PinWhy = { rule: 'dedicated', from: { pcpus: v.affinity }, to: [p], figures: { demand: v.demand, busyIntervals: g.busy } };
      actions.push({ kind: 'pin', domain: v.domain, vcpu: v.vcpu, pcpus: [p], previous: v.affinity, reason: renderPinReason({ domain: { name: g.name }, vcpu: v.vcpu }, why), why });
    });
  }

  const holders = Object.values(guests).filter((g) => g.pcpus).map((g) => `${g.name} on ${formatCpuList([...g.pcpus!].sort((a, b) => a - b))}`);
  const extra = actions.length - inner.actions.length;
  const dedicatedState = Object.keys(guests).length > 0 ? { dedicated: guests } : {};
  return {
    ...inner,
    actions,
    notices: [...notices, ...(inner.notices ?? [])],
    state: {
      ...inner.state,
      ...dedicatedState,
      predicted,
      pinChanges: inner.state.pinChanges + extra,
      lastActionInterval: extra > 0 ? inner.state.intervals : inner.state.lastActionInterval,
    },
    balanced: inner.balanced && extra === 0,
    before: expandSummary(inner.before, shared, m.pcpus, dedicatedLoad),
    after: expandSummary(inner.after, shared, m.pcpus, dedicatedLoad),
    measuredUsageSpreadPoints: inner.measuredUsageSpreadPoints,
    summary: (holders.length > 0 ? `dedicated: ${holders.join('; ')}; shared pCPUs ${formatCpuList(shared)}: ` : '') + inner.summary,
  };
}

/** The pCPUs of `affinity` dedicated to a guest, with the guest's name. */
function offOf(affinity: readonly number[], owner: ReadonlyMap<number, string>): OffDedicated[] {
  return affinity.filter((p) => owner.has(p)).map((p) => ({ pcpu: p, owner: owner.get(p)! }));
}
