// The mixed case's pure parts: roles and starting pins, fair shares from the duties, the trace
// summary (including fields a scheduler adds later), and the /proc window arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { hostCpuWindow, hostCpuSnapshot, type HostCpuSnapshot } from '../../src/lab/host-processes.js';
import { mixedFairShares, mixedGuests, traceSummary } from '../../src/lab/mixed-case.js';

test('busy guests first, each pCPU one busy and one bursty; fair shares by water-filling the duties', () => {
  const g = mixedGuests(['a', 'b', 'c', 'd'], 2);
  assert.deepEqual(g.map((x) => [x.role, x.duty, x.startPcpu]), [['busy', 1, 0], ['busy', 1, 1], ['bursty', 0.4, 0], ['bursty', 0.4, 1]]);
  assert.deepEqual(mixedFairShares(g, 2).map((x) => Math.round(x * 1000) / 1000), [0.6, 0.6, 0.4, 0.4]);
  // Half of each pCPU taken by other work: 1 pCPU left, split evenly (every guest asks ≥ 0.25).
  assert.deepEqual(mixedFairShares(g, 2, [0.5, 0.5]).map((x) => Math.round(x * 1000) / 1000), [0.25, 0.25, 0.25, 0.25]);
  // On 4 pCPUs every guest gets all it asks.
  assert.deepEqual(mixedFairShares(g, 4), [1, 1, 0.4, 0.4]);
});

test('a seeded random start: the same seed gives the same pins, every pin a real pCPU, roles unchanged', () => {
  const names = ['a', 'b', 'c', 'd'];
  const one = mixedGuests(names, 2, 7);
  assert.deepEqual(one, mixedGuests(names, 2, 7));
  assert.ok(one.every((g) => g.startPcpu === 0 || g.startPcpu === 1));
  assert.deepEqual(one.map((g) => g.role), ['busy', 'busy', 'bursty', 'bursty']);
  const seen = new Set(Array.from({ length: 20 }, (_, s) => mixedGuests(names, 2, s).map((g) => g.startPcpu).join('')));
  assert.ok(seen.size > 3, `seeds give different pins: ${[...seen].join(' ')}`);
});

test('trace summary: means over the intervals, predicted only where present, extra numeric and boolean fields kept', () => {
  const vcpu = (domain: string, usage: number, predicted?: number, learned?: number, clockBound?: boolean) => ({ domain, vcpu: 0, pcpu: 0, affinity: [0], usage, demand: 1, ...(predicted === undefined ? {} : { predicted }), ...(learned === undefined ? {} : { learned }), ...(clockBound === undefined ? {} : { clockBound }) });
  const interval = (vcpus: ReturnType<typeof vcpu>[]): TraceInterval => ({ type: 'interval', interval: 1, timeMs: 0, domains: ['x', 'y'], actions: [], failures: [], notices: [], cpu: { elapsedNs: 1, pcpuUsage: [], pcpuDemand: [], vcpus, balanced: true, spreadPoints: 0 } });
  const s = traceSummary([interval([vcpu('x', 0.2, 0.5, 0.3, true), vcpu('y', 0.4)]), interval([vcpu('x', 0.4, undefined, 0.5), vcpu('y', 0.6)])], ['x', 'y', 'z']);
  assert.equal(s[0]!.intervals, 2);
  assert.ok(Math.abs(s[0]!.usage - 0.3) < 1e-12);
  assert.equal(s[0]!.predicted, 0.5);
  assert.deepEqual(s[0]!.extra, { learned: 0.4, clockBound: 0.5 });
  assert.equal(s[1]!.predicted, undefined);
  assert.equal(s[2]!.intervals, 0);
});

test('host window: machine busy minus the guests, per-process use by name or label, guests excluded', () => {
  const snap = (atMs: number, busy: number, procs: [number, string, number][]): HostCpuSnapshot => ({ atMs, busyTicks: busy, totalTicks: busy + 1000, processes: new Map(procs.map(([pid, comm, ticks]) => [pid, { comm, ticks }])) });
  const a = snap(0, 1000, [[1, 'qemu', 100], [2, 'tsc', 50], [3, 'node', 10]]);
  // 10 s later: 15 pCPU-seconds busy (1.5 pCPUs); qemu +8 s, tsc +5 s, node +1 s, a new process 0.5 s.
  const b = snap(10_000, 2500, [[1, 'qemu', 900], [2, 'tsc', 550], [3, 'node', 110], [4, 'gcc', 50]]);
  const w = hostCpuWindow(a, b, new Set([1]), 0.8, new Map([[3, 'this bench']]));
  assert.ok(Math.abs(w.busyPcpus - 1.5) < 1e-9);
  assert.ok(Math.abs(w.nonGuestPcpus - 0.7) < 1e-9);
  assert.deepEqual(w.top.map((p) => [p.comm, Math.round(p.pcpus * 100) / 100]), [['tsc', 0.5], ['this bench', 0.1], ['gcc', 0.05]]);
});

test('a /proc snapshot of this machine sees this process', () => {
  const s = hostCpuSnapshot();
  if (!s) return; // not Linux
  assert.ok(s.totalTicks >= s.busyTicks && s.busyTicks > 0);
  assert.equal(s.processes.get(process.pid)?.comm, 'node');
});
