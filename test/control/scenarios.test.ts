// Every shipped scenario, run with its controllers on the simulated host and scored with asserted bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { balloonOnlyVariant, loadScenario, type Scenario } from '../../src/host/sim/index.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { scoreTrace, type Score } from '../../src/score/index.js';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { noisyVariantBase, noisyVariantOf, shippedScenariosDir } from '../../src/app/target.js';
import { needlessPinChanges } from '../../src/score/cpu.js';
import { tallyTrials } from '../../src/score/trials.js';
import { createSimulatedHost } from '../../src/host/sim/index.js';
import { fairShare } from '../../src/host/sim/fair-share.js';
import { runControlLoop } from '../../src/control/loop.js';
import { traceTruth } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../../src/cpu/options.js';
import { defaultMemoryOptions } from '../../src/memory/options.js';
import type { HostObservation, Hypervisor } from '../../src/ground/hypervisor.js';

const MiB = 1024;

async function scenarioScore(name: string, variant: (s: Scenario) => Scenario = (s) => s): Promise<{ scenario: Scenario; lines: TraceLine[]; score: Score; intervals: TraceInterval[] }> {
  const scenario = variant(loadScenario(join(shippedScenariosDir, `${name}.yaml`)));
  const lines = await simulateScenario(scenario);
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  return { scenario, lines, score: scoreTrace(lines), intervals };
}

function pinChangesIn(intervals: TraceInterval[]): number {
  return intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin' && a.pcpus.join() !== a.previous.join()).length;
}

function assertCpuConverges(score: Score, name: string): void {
  const cpu = score.cpu!;
  assert.ok(cpu.balancedAtInterval !== undefined, `${name}: never balanced`);
  // The first interval has no measurement yet; "within 3 intervals" counts measured intervals.
  assert.ok(cpu.balancedAtInterval <= 3, `${name}: balanced only at interval ${cpu.balancedAtInterval}`);
  assert.equal(cpu.pinChanges.afterBalance, 0, `${name}: pins changed after balance`);
  const fairness = cpu.fairness!;
  for (const group of fairness.groups) assert.ok(group.jain >= 0.98, `${name}: equal-demand group ${group.domains.join(',')} Jain ${group.jain}`);
}

test('cpu-1-balanced: an already balanced host gets zero pin changes', async () => {
  const { score, intervals } = await scenarioScore('cpu-1-balanced');
  assert.equal(pinChangesIn(intervals), 0);
  assert.equal(score.cpu!.pinChanges.total, 0);
  assert.ok(score.cpu!.spread!.max <= 10, `spread ${score.cpu!.spread!.max}`);
});

test('cpu-2-all-on-pcpu0: spread within 5 points in 3 intervals, then no change, fair', async () => {
  const { score } = await scenarioScore('cpu-2-all-on-pcpu0');
  assertCpuConverges(score, 'cpu-2');
  assert.ok(score.cpu!.spread!.final <= 5);
  // Everyone gets its fair share once settled: no VM is left a third of it.
  assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= 0.95);
});

test('cpu-3-heavy-light-random: balanced by demand, equal demands get equal shares', async () => {
  const { score } = await scenarioScore('cpu-3-heavy-light-random');
  assertCpuConverges(score, 'cpu-3');
  // Total demand (4.6) exceeds the 4 pCPUs and one heavy must share with the 0.3 light: pinned to
  // single pCPUs, the best placement leaves that heavy 0.7 of a pCPU where an ideal global share is 0.81.
  assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= 0.85);
  // Pinning the unfairly treated vCPUs to shared pCPU sets lets the host share them max-min fairly.
  assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= 0.95, `worst ${score.cpu!.fairness!.worstFractionOfFairShare!.fraction}`);
});

for (const [name, worstFloor] of [['cpu-1-balanced-noisy', 0.97], ['cpu-2-all-on-pcpu0-noisy', 0.95], ['cpu-3-heavy-light-random-noisy', 0.95]] as const) {
  test(`${name}: the grader's case with real guests' noise: settled within 3 intervals, no needless pin change, fair`, async () => {
    const { scenario, score, intervals } = await scenarioScore(name);
    const base = loadScenario(join(shippedScenariosDir, `${noisyVariantBase(name)}.yaml`));
    assert.deepEqual(scenario.domains.map((d) => [d.name, d.pin]), base.domains.map((d) => [d.name, d.pin]), 'the same guests and pins as the grader\'s case');
    assert.ok(score.cpu!.spread!.max > 3, `the noise shows in the measured usage: spread max ${score.cpu!.spread!.max}`);
    const needless = needlessPinChanges(intervals, scenario.host.pcpus);
    assert.ok(needless.settledAtInterval !== undefined && needless.settledAtInterval <= 3, `settled at ${needless.settledAtInterval}`);
    assert.deepEqual(needless.changes, [], 'no pin change after settling');
    assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= worstFloor, `worst ${score.cpu!.fairness!.worstFractionOfFairShare!.fraction}`);
  });
}

test('every CPU grader case has a noisy variant, and only they do', () => {
  assert.deepEqual(['cpu-1-balanced', 'cpu-2-all-on-pcpu0', 'cpu-3-heavy-light-random'].map(noisyVariantOf), ['cpu-1-balanced-noisy', 'cpu-2-all-on-pcpu0-noisy', 'cpu-3-heavy-light-random-noisy']);
  assert.equal(noisyVariantOf('cpu-7-noisy-margin'), undefined);
  assert.equal(noisyVariantOf('cpu-1-balanced-noisy'), undefined);
  assert.equal(noisyVariantBase('cpu-7-noisy-margin'), undefined);
});

test('cpu-5-overcommit and cpu-6-phases: no VM far below its fair share, few pin changes per phase change', async () => {
  for (const [name, maxChanges] of [['cpu-5-overcommit', 30], ['cpu-6-phases', 30]] as const) {
    const { score } = await scenarioScore(name);
    const worst = score.cpu!.fairness!.worstFractionOfFairShare!.fraction;
    assert.ok(worst >= 0.95, `${name}: worst fraction of fair share ${worst}`);
    assert.ok(score.cpu!.pinChanges.total <= maxChanges, `${name}: ${score.cpu!.pinChanges.total} pin changes`);
  }
});

test('measured pCPU usage never reads above 100 % in any CPU scenario', async () => {
  for (const name of ['cpu-4-multi-vcpu', 'cpu-5-overcommit', 'mixed-1-lifecycle']) {
    const { intervals } = await scenarioScore(name);
    for (const entry of intervals) for (const u of entry.cpu?.pcpuUsage ?? []) assert.ok(u <= 1 + 1e-6, `${name} interval ${entry.interval}: ${u}`);
  }
});

for (const name of ['cpu-4-multi-vcpu', 'cpu-5-overcommit', 'cpu-6-phases']) {
  test(`${name}: every VM gets close to its fair share, pins settle`, async () => {
    const { score, intervals } = await scenarioScore(name);
    const fairness = score.cpu!.fairnessWholeRun!;
    assert.ok(fairness.meanFractionOfFairShare! >= 0.9, `${name}: mean fraction of fair share ${fairness.meanFractionOfFairShare}`);
    // Pins change when loads change phase, never every interval.
    const changing = intervals.filter((i) => i.actions.some((a) => a.kind === 'pin')).length;
    assert.ok(changing <= Math.max(3, intervals.length / 5), `${name}: pins changed in ${changing} of ${intervals.length} intervals`);
  });
}

test('cpu-7-noisy-margin: noise near the margin does not make the scheduler thrash', async () => {
  const { intervals } = await scenarioScore('cpu-7-noisy-margin');
  const changing = intervals.filter((i) => i.actions.some((a) => a.kind === 'pin')).length;
  assert.ok(changing <= 3, `pins changed in ${changing} of ${intervals.length} intervals`);
});

function assertMemorySafe(score: Score, intervals: TraceInterval[], name: string): void {
  const memory = score.memory!;
  assert.equal(memory.oom.total, 0, `${name}: OOM events`);
  assert.equal(memory.host!.belowReserve, false, `${name}: host went below its reserve`);
  // Never ballooned below what the guest uses plus its floor (as measured when deciding).
  for (const entry of intervals) {
    for (const action of entry.actions) {
      if (action.kind !== 'set-memory') continue;
      const guest = entry.memory!.guests.find((g) => g.domain === action.domain.name)!;
      assert.ok(action.targetKiB <= guest.maximumKiB, `${name}: ${action.domain.name} above maximum`);
      // What the guest cannot drop: its anonymous use when it reports MemAvailable (page cache can be dropped).
      const used = guest.anonKiB ?? guest.usedKiB;
      if (used !== undefined && action.targetKiB < action.fromKiB) {
        assert.ok(action.targetKiB >= used + guest.floorKiB - 1, `${name}: ${action.domain.name} shrunk below used + floor at ${entry.interval}`);
      }
      assert.ok(action.targetKiB >= 200 * MiB, `${name}: ${action.domain.name} below 200 MiB`);
    }
  }
}

test('memory-1-one-consumer: demand met fast, reaches its maximum, idle VMs shrink, reclaimed after', async () => {
  const { score, intervals } = await scenarioScore('memory-1-one-consumer');
  assertMemorySafe(score, intervals, 'memory-1');
  const memory = score.memory!;
  assert.ok((memory.growth.maxIntervals ?? 0) <= 2, `demand met only after ${memory.growth.maxIntervals} intervals`);
  const consumer = memory.guests.find((g) => g.domain === 'vm1')!;
  assert.ok(consumer.maxActualKiB >= consumer.maximumKiB * 0.99, `consumer reached ${consumer.maxActualKiB / MiB} MiB`);
  for (const idle of memory.guests.filter((g) => g.domain !== 'vm1')) {
    assert.ok(idle.minActualKiB <= 400 * MiB, `${idle.domain} stayed at ${idle.minActualKiB / MiB} MiB`);
  }
  assert.ok(memory.reclaim.count >= 1, 'no reclaim after the load stopped');
  assert.ok((memory.reclaim.maxIntervals ?? Infinity) <= 10, `reclaim took ${memory.reclaim.maxIntervals} intervals`);
});

test('memory-2-all-consume: no OOM, no reserve breach, demands met within 2 intervals', async () => {
  const { score, intervals } = await scenarioScore('memory-2-all-consume');
  assertMemorySafe(score, intervals, 'memory-2');
  assert.ok((score.memory!.growth.maxIntervals ?? 0) <= 2, `demand met only after ${score.memory!.growth.maxIntervals} intervals`);
});

test('memory-3-two-consume-one-stops: the stopped one is reclaimed, the other keeps growing', async () => {
  const { score, intervals } = await scenarioScore('memory-3-two-consume-one-stops');
  assertMemorySafe(score, intervals, 'memory-3');
  const memory = score.memory!;
  assert.ok((memory.growth.maxIntervals ?? 0) <= 2);
  assert.ok(memory.reclaim.count >= 1);
  assert.ok((memory.reclaim.maxIntervals ?? Infinity) <= 10);
});

test('memory-4-host-too-small: the host reserve holds and nobody is OOM-killed by the coordinator', async () => {
  const { score, intervals } = await scenarioScore('memory-4-host-too-small');
  assert.equal(score.memory!.host!.belowReserve, false);
  for (const entry of intervals) {
    for (const action of entry.actions) {
      if (action.kind === 'set-memory' && action.targetKiB < action.fromKiB) {
        const guest = entry.memory!.guests.find((g) => g.domain === action.domain.name)!;
        const used = guest.anonKiB ?? guest.usedKiB;
        assert.ok(used === undefined || action.targetKiB >= used + guest.floorKiB - 1);
      }
    }
  }
});

test('memory-5-stale-stats: a guest whose stats stopped is never shrunk', async () => {
  const { intervals } = await scenarioScore('memory-5-stale-stats');
  for (const entry of intervals) {
    for (const action of entry.actions) {
      if (action.kind !== 'set-memory' || action.targetKiB >= action.fromKiB) continue;
      const guest = entry.memory!.guests.find((g) => g.domain === action.domain.name)!;
      assert.equal(guest.fresh, true, `shrunk ${action.domain.name} on a stale reading at interval ${entry.interval}`);
    }
  }
});

test('mixed-1-lifecycle: guests come and go without failures, memory of destroyed guests returns', async () => {
  const { score, intervals } = await scenarioScore('mixed-1-lifecycle');
  assert.equal(score.memory!.oom.total, 0);
  assert.equal(score.memory!.host!.belowReserve, false);
  const failures = intervals.flatMap((i) => i.failures);
  assert.ok(failures.length <= 2, `failures: ${failures.map((f) => f.error).join('; ')}`);
});

test('demo-grader (the quick start): CPU case 2 and memory case 1 on one host, both controllers', async () => {
  const { score, intervals } = await scenarioScore('demo-grader');
  assertCpuConverges(score, 'demo-grader');
  assertMemorySafe(score, intervals, 'demo-grader');
  const consumer = score.memory!.guests.find((g) => g.domain === 'vm1')!;
  assert.ok(consumer.maxActualKiB >= consumer.maximumKiB * 0.99);
  assert.ok((score.memory!.reclaim.maxIntervals ?? Infinity) <= 10);
});

test('lab-cpu-4-on-pcpu0: four busy guests on pCPU0 of two end 2 and 2, equal shares, no change after', async () => {
  const { score, intervals } = await scenarioScore('lab-cpu-4-on-pcpu0');
  assertCpuConverges(score, 'lab-cpu-4');
  assert.ok(score.cpu!.spread!.final <= 5, `final spread ${score.cpu!.spread!.final}`);
  const last = intervals[intervals.length - 1]!.cpu!;
  const perPcpu = [0, 1].map((p) => last.vcpus.filter((v) => v.affinity.length === 1 && v.affinity[0] === p).length);
  assert.deepEqual(perPcpu, [2, 2], `placement at the end: ${JSON.stringify(last.vcpus.map((v) => [v.domain, v.affinity]))}`);
  assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= 0.95);
});

test('lab-memory-3-guests: the consumer is fed as it grows, idle guests shrink, reclaimed after the release', async () => {
  const { score, intervals } = await scenarioScore('lab-memory-3-guests');
  assertMemorySafe(score, intervals, 'lab-memory-3');
  const memory = score.memory!;
  assert.equal(memory.starvedIntervals, 0, `starved in ${memory.starvedIntervals} intervals`);
  const consumer = memory.guests.find((g) => g.domain === 'vm1')!;
  assert.ok(consumer.maxActualKiB >= (1020 + 200) * MiB - 16 * MiB, `consumer peaked at ${consumer.maxActualKiB / MiB} MiB`);
  for (const idle of memory.guests.filter((g) => g.domain !== 'vm1')) {
    assert.ok(idle.minActualKiB <= 1.1 * (115 + 200) * MiB, `${idle.domain} stayed at ${idle.minActualKiB / MiB} MiB`);
  }
  assert.equal(memory.reclaim.open, 0, 'a reclaim still open at the end');
  assert.ok(memory.reclaim.count >= 1, 'no reclaim after the release');
  assert.ok((memory.reclaim.maxIntervals ?? Infinity) <= 10, `reclaim took ${memory.reclaim.maxIntervals} intervals`);
});

// The page-cache cases, held to the targets (#10): cold cache back within 20 intervals of
// a scan's end, a hot set kept (few refaults once settled), cold cache taken before hot when the
// host is short. Truth gives each guest's anonymous use (its demand) and its hot cache.
const anonKiBAt = (entry: TraceInterval, domain: string): number => entry.truth!.memoryDemandKiB[domain]!;
const actualKiBAt = (entry: TraceInterval, domain: string): number => entry.memory!.guests.find((g) => g.domain === domain)!.actualKiB;

/** From 20 intervals after vm1's first scan ends, vm1 is at most 1.1 × (its anonymous use + floor). */
function assertScannerShrunk(scenario: Scenario, intervals: TraceInterval[]): void {
  const vm1 = scenario.domains.find((d) => d.name === 'vm1')!;
  const scan = vm1.reads[0]!;
  const scanEndInterval = Math.ceil((scan.atSeconds + scan.sizeMiB / scan.rateMiBps) / scenario.intervalSeconds);
  const floorKiB = (vm1.floorMiB ?? 200) * MiB;
  const late = intervals.filter((e) => e.interval >= scanEndInterval + 20);
  assert.ok(late.length >= 10, 'the scenario runs long enough after the scan');
  for (const entry of late) {
    const limit = 1.1 * (anonKiBAt(entry, 'vm1') + floorKiB);
    assert.ok(actualKiBAt(entry, 'vm1') <= limit, `interval ${entry.interval}: vm1 at ${actualKiBAt(entry, 'vm1') / MiB} MiB > ${limit / MiB} MiB`);
  }
}

test('cache-1-scan: within 20 intervals of the scan\'s end the scanner is at most anon + floor + 10 %, no OOM, never starved', async () => {
  const { scenario, score, intervals } = await scenarioScore('cache-1-scan');
  assertMemorySafe(score, intervals, 'cache-1');
  assert.equal(score.memory!.starvedIntervals, 0);
  assert.equal(score.memory!.cache!.refaultMiB, 0, 'nothing here is read twice');
  assertScannerShrunk(scenario, intervals);
});

test('cache-7-scan-real-kernel: reporting guests with a real kernel\'s figures: the scanner is shrunk to anon + floor + 10 % within 20 intervals, idle guests are left to reporting', async () => {
  const { scenario, score, intervals } = await scenarioScore('cache-7-scan-real-kernel');
  assertMemorySafe(score, intervals, 'cache-7');
  assert.equal(score.memory!.starvedIntervals, 0);
  assert.equal(score.memory!.cache!.refaultMiB, 0, 'nothing here is read twice');
  assertScannerShrunk(scenario, intervals);
  // The idle guests hold no cold cache beyond their floor: their free memory goes back by reporting, no balloon move.
  assert.deepEqual(intervals.flatMap((e) => e.actions).filter((a) => a.kind === 'set-memory' && a.domain.name !== 'vm1').map((a) => a.domain.name), []);
});

test('cache-2-hot: once settled, coordinator refaults ≤ 5 % of the hot set per minute and the hot guest stays ≥ anon + hot + floor', async () => {
  const { scenario, score, intervals } = await scenarioScore('cache-2-hot');
  assertMemorySafe(score, intervals, 'cache-2');
  assert.equal(score.memory!.starvedIntervals, 0);
  const vm1 = scenario.domains.find((d) => d.name === 'vm1')!;
  const hotMiB = vm1.reads[0]!.sizeMiB;
  const floorKiB = (vm1.floorMiB ?? 200) * MiB;
  // Settled: after the first minute (the coordinator may learn the hot set by one mistake).
  const perMinute = 60 / scenario.intervalSeconds;
  const settled = intervals.filter((e) => e.interval >= perMinute);
  assert.ok(settled.length >= perMinute, 'at least a minute after settling');
  for (let i = 0; i + perMinute <= settled.length; i++) {
    const refaultMiB = settled.slice(i, i + perMinute).reduce((sum, e) => sum + (e.truth!.cache?.vm1?.coordinatorRefaultMiB ?? 0), 0);
    assert.ok(refaultMiB <= 0.05 * hotMiB, `coordinator refaults ${refaultMiB.toFixed(0)} MiB in the minute from interval ${settled[i]!.interval}`);
  }
  for (const entry of settled) {
    const needKiB = anonKiBAt(entry, 'vm1') + hotMiB * MiB + floorKiB;
    assert.ok(actualKiBAt(entry, 'vm1') >= needKiB, `interval ${entry.interval}: vm1 at ${actualKiBAt(entry, 'vm1') / MiB} MiB < anon + hot + floor ${needKiB / MiB} MiB`);
  }
  // The scanner's cold cache is taken back: it ends near anon + floor.
  const last = intervals[intervals.length - 1]!;
  assert.ok(actualKiBAt(last, 'vm2') <= 1.1 * (anonKiBAt(last, 'vm2') + 200 * MiB), `vm2 ends at ${actualKiBAt(last, 'vm2') / MiB} MiB`);
});

test('cache-3-host-short: the consumer is fed from cold cache first, no OOM, reserve kept, nobody below anon + floor', async () => {
  const { score, intervals } = await scenarioScore('cache-3-host-short');
  assertMemorySafe(score, intervals, 'cache-3');
  assert.equal(score.memory!.starvedIntervals, 0, 'vm4 is never starved');
  // Whenever the host is short and vm3 is shrunk below anon + hot + floor (its hot cache taken), the
  // scanners' cold cache has already been taken: they are within 10 % of anon + floor.
  let hotTaken = 0;
  for (const entry of intervals) {
    for (const action of entry.actions) {
      if (action.kind !== 'set-memory' || action.domain.name !== 'vm3' || action.targetKiB >= action.fromKiB || !action.reason.includes('host short')) continue;
      const hotKiB = (entry.truth!.cache?.vm3?.hotMiB ?? 0) * MiB;
      if (action.targetKiB >= anonKiBAt(entry, 'vm3') + hotKiB + 200 * MiB) continue;
      hotTaken++;
      for (const scanner of ['vm1', 'vm2']) {
        assert.ok(actualKiBAt(entry, scanner) <= 1.1 * (anonKiBAt(entry, scanner) + 200 * MiB), `interval ${entry.interval}: vm3's hot cache taken while ${scanner} holds ${actualKiBAt(entry, scanner) / MiB} MiB`);
      }
    }
  }
  assert.ok(hotTaken >= 1, 'the host was short enough to reach a hot set: the case tests the order');
});

// Refaults on any horizon (#18): a hot set re-read every 60 or 120 s beside a growing neighbour on a
// tight host. Pass 1 fills the cache, pass 2 is the first the coordinator can see come back (it
// learns the set then; the room left for a re-read keeps what pass 2 reads before the refault is
// seen); from pass 3 on the set is kept: ≤ 10 % of it refaulted per minute (the target),
// the neighbour fed.
function coordinatorRefaultsMiB(intervals: TraceInterval[], domain: string, fromSeconds: number, toSeconds: number, intervalSeconds: number): number {
  return intervals
    .filter((e) => e.interval * intervalSeconds >= fromSeconds && e.interval * intervalSeconds < toSeconds)
    .reduce((sum, e) => sum + (e.truth!.cache?.[domain]?.coordinatorRefaultMiB ?? 0), 0);
}

// With free page reporting on for every guest (what the lab boots, the bench's "ours + reporting"):
// the same target. Before the simulator gave the host back what reporting guests report, their
// reported memory was counted twice against the reserve (not in host free, and again as untouched),
// cache-5's refault was answered one interval late and its third pass refaulted 289 MiB (41 %).
const withReporting = (s: Scenario): Scenario => ({ ...s, domains: s.domains.map((d) => ({ ...d, freePageReporting: true })) });
for (const [name, variant, label] of [
  ['cache-4-hot-every-60s', undefined, ''],
  ['cache-5-hot-every-120s', undefined, ''],
  ['cache-4-hot-every-60s', withReporting, ' (free page reporting on)'],
  ['cache-5-hot-every-120s', withReporting, ' (free page reporting on)'],
] as const) {
  test(`${name}${label}: the hot set is learned once and kept: ≤ 10 % of it refaulted per minute after the first two passes, the neighbour never starved`, async () => {
    const { scenario, score, intervals } = await scenarioScore(name, variant);
    assertMemorySafe(score, intervals, name);
    assert.equal(score.memory!.starvedIntervals, 0, 'the neighbour is fed');
    const read = scenario.domains.find((d) => d.name === 'vm1')!.reads[0]!;
    assert.equal(read.kind, 'hot');
    const period = read.kind === 'hot' ? read.everySeconds : 0;
    const passStart = (k: number): number => read.atSeconds + (k - 1) * period;
    const end = scenario.intervals * scenario.intervalSeconds;
    assert.ok(end >= passStart(4), 'at least two passes after the first two');
    for (let from = passStart(3); from + 60 <= end; from += scenario.intervalSeconds) {
      const mib = coordinatorRefaultsMiB(intervals, 'vm1', from, from + 60, scenario.intervalSeconds);
      assert.ok(mib <= 0.1 * read.sizeMiB, `${mib.toFixed(0)} MiB refaulted in the minute from ${from} s`);
    }
    // The neighbour grew all the way (never starved, asserted above, and now holds its 1300 MiB).
    const last = intervals[intervals.length - 1]!;
    assert.ok(actualKiBAt(last, 'vm2') >= anonKiBAt(last, 'vm2') + 0.5 * 200 * MiB, `vm2 ends at ${actualKiBAt(last, 'vm2') / MiB} MiB`);
  });
}

test('cache-6-hot-roomy-host: with room on the host a re-read set, once learned, is never taken again, past hotMemorySeconds', async () => {
  const { scenario, score, intervals } = await scenarioScore('cache-6-hot-roomy-host');
  assertMemorySafe(score, intervals, 'cache-6');
  assert.equal(score.memory!.starvedIntervals, 0);
  const options = defaultMemoryOptions;
  assert.ok(score.memory!.host!.minFreeKiB / MiB >= options.reserveMiB + options.roomMiB, 'the host has room all along');
  const read = scenario.domains.find((d) => d.name === 'vm1')!.reads[0]!;
  const period = read.kind === 'hot' ? read.everySeconds : 0;
  const end = scenario.intervals * scenario.intervalSeconds;
  assert.ok(end > options.hotMemorySeconds + 2 * period, 'runs past the age at which a hot size is normally tested again');
  assert.equal(coordinatorRefaultsMiB(intervals, 'vm1', read.atSeconds + 2 * period, end, scenario.intervalSeconds), 0, 'none after the first two passes');
});

test('cpu-11-dedicated: the busy dedicated guest gets a pCPU nobody shares, the others share the rest evenly, it is given back after idling', async () => {
  const { intervals } = await scenarioScore('cpu-11-dedicated');
  const demandOf = (i: TraceInterval) => i.truth!.vcpus.find((v) => v.domain === 'db')?.demand ?? 0;
  const busyStart = intervals.findIndex((i) => demandOf(i) >= 0.5);
  const busyEnd = intervals.length - 1 - [...intervals].reverse().findIndex((i) => demandOf(i) >= 0.5);
  assert.ok(busyStart > 0 && busyEnd > busyStart + 10, `busy from ${busyStart} to ${busyEnd}`);
  const exclusive = (i: TraceInterval): number | undefined => {
    const db = i.cpu!.vcpus.find((v) => v.domain === 'db')!;
    if (db.affinity.length !== 1) return undefined;
    const p = db.affinity[0]!;
    return i.cpu!.vcpus.some((v) => v.domain !== 'db' && v.affinity.includes(p)) ? undefined : p;
  };
  // Before it is busy, nothing is dedicated.
  for (const i of intervals.slice(1, busyStart)) assert.equal(exclusive(i), undefined, `interval ${i.interval}: dedicated while idle`);
  // Busy for 2 intervals, then the pins: from the third busy interval on it holds one pCPU alone and gets all of it.
  const held = new Set<number>();
  for (const i of intervals.slice(busyStart + 2, busyEnd + 1)) {
    const p = exclusive(i);
    assert.ok(p !== undefined, `interval ${i.interval}: db shares its pCPU: ${JSON.stringify(i.cpu!.vcpus.map((v) => [v.domain, v.affinity]))}`);
    held.add(p);
    const got = i.truth!.vcpus.find((v) => v.domain === 'db')!.received;
    assert.ok(got >= 0.98, `interval ${i.interval}: db received ${got}`);
    // The seven others share the three other pCPUs: 3/7 each, evenly.
    for (const v of i.truth!.vcpus.filter((x) => x.domain !== 'db')) assert.ok(Math.abs(v.received - 3 / 7) <= 0.03, `interval ${i.interval}: ${v.domain} received ${v.received}`);
  }
  assert.equal(held.size, 1, 'the same pCPU all along');
  const notices = intervals.flatMap((i) => i.notices.map((n) => ({ interval: i.interval, message: n.message })));
  assert.equal(notices.filter((n) => /dedicated to it/.test(n.message)).length, 1, JSON.stringify(notices));
  // Given back after 5 idle intervals: from then on another vCPU may run there again.
  const givenBack = notices.find((n) => /given back/.test(n.message));
  assert.ok(givenBack, 'a give-back notice');
  const backAt = intervals.findIndex((i) => i.interval === givenBack.interval);
  assert.ok(backAt > busyEnd && backAt <= busyEnd + defaultCpuSchedulerOptions.dedicatedIdleIntervals + 1, `given back at ${backAt}, idle from ${busyEnd + 1}`);
  const [pcpu] = [...held];
  for (const i of intervals.slice(backAt + 1)) {
    assert.equal(exclusive(i), undefined, `interval ${i.interval}: still dedicated`);
    assert.ok(i.cpu!.vcpus.some((v) => v.domain !== 'db' && v.affinity.includes(pcpu!)), `interval ${i.interval}: pCPU${pcpu} unused by the others`);
  }
});

// virtio-mem (#19). Today's coordinator has only the balloon; these tests hold what must stay true
// whichever lever sizes the guests, and what the physics of each case is. The figures the #19 policy
// is measured against (starved intervals, OOM events, the balloon-only variant) are in docs/scenarios.md.

/** What a run on these cases must never do, whatever the policy: reach above what the balloon can give, or breach the reserve. */
function assertDeviceBounds(intervals: TraceInterval[], score: Score, name: string): void {
  assert.equal(score.memory!.host!.belowReserve, false, `${name}: host went below its reserve`);
  for (const entry of intervals) {
    for (const f of entry.failures) assert.doesNotMatch(f.error, /higher than max memory/, `${name}: interval ${entry.interval}: a balloon target above boot + plugged`);
    for (const action of entry.actions) {
      if (action.kind !== 'set-memory') continue;
      const guest = entry.memory!.guests.find((g) => g.domain === action.domain.name)!;
      assert.ok(action.targetKiB <= guest.maximumKiB, `${name}: ${action.domain.name} above its maximum`);
    }
  }
}

test('vmem-1-grow-then-idle: plugging the device ahead of the growth feeds vm1 without an OOM; the balloon alone cannot', async () => {
  const { scenario, score, intervals } = await scenarioScore('vmem-1-grow-then-idle');
  assertDeviceBounds(intervals, score, 'vmem-1');
  // Feasible: the whole device plugged at the start (no coordinator) meets vm1's 3000 MiB with no OOM.
  const run = createSimulatedHost(scenario);
  await run.hypervisor.resizeMemoryDevice({ name: 'vm1', uuid: '' }, 3072 * MiB);
  let oom = 0;
  for (let i = 0; i < scenario.intervals; i++) {
    await run.clock.sleep(scenario.intervalSeconds * 1000);
    oom += run.truth().oomEvents.length;
  }
  assert.equal(oom, 0, 'plugged ahead, vm1 never runs out');
  // vm1 boots with nothing plugged: its balloon's maximum is its boot memory, 512 MiB.
  const first = intervals.find((i) => i.memory?.guests.some((g) => g.domain === 'vm1'))!;
  assert.equal(first.memory!.guests.find((g) => g.domain === 'vm1')!.maximumKiB, 512 * MiB);
  // #19's lever plugs ahead of the growth: no OOM, never starved (the host holds every peak).
  assert.equal(score.memory!.oom.total, 0, 'plugged ahead, no OOM');
  assert.equal(score.memory!.starvedIntervals, 0, `starved ${score.memory!.starvedIntervals} intervals`);
  assert.ok(intervals.some((i) => i.actions.some((a) => a.kind === 'resize-memory-device' && a.requestedKiB > a.fromKiB)), 'plugged');
  // Unplugged once vm1 has freed, each resize with its reason and figures.
  const last = intervals.at(-1)!.truth!.memoryDevices!['vm1']!;
  assert.ok(last.pluggedKiB < 1024 * MiB, `unplugged after the idle: ${last.pluggedKiB / MiB} MiB`);
  for (const i of intervals) for (const a of i.actions) if (a.kind === 'resize-memory-device') assert.match(a.reason, /MiB requested \(\d+ MiB plugged, boot \d+ MiB/);
});

test('vmem-2-partial-unplug: the operator\'s unplug stops above the request while vm1 holds 1500 MiB, without an OOM, and goes on after the free', async () => {
  const { score, intervals } = await scenarioScore('vmem-2-partial-unplug');
  assertDeviceBounds(intervals, score, 'vmem-2');
  assert.equal(score.memory!.oom.total, 0, 'an unplug never causes an OOM');
  const device = (i: TraceInterval) => i.truth!.memoryDevices!['vm1']!;
  const at = (s: number) => intervals.find((i) => i.timeMs >= s * 1000)!;
  assert.equal(device(at(28)).pluggedKiB, 2048 * MiB, 'plugged at boot');
  // #19's lever (src/memory/lever.ts): the operator's request for 0 would unplug memory vm1 uses;
  // it is held at once at anon 1500 + floor 200 (the Neon veto), so vm1 stops there, above the
  // request, before its driver reaches its own stop (36 MiB spare, a starved interval): never plugged
  // back up, never squeezed by the balloon. (The stop itself: test/host/sim/virtio-mem.test.ts.)
  const stuck = device(at(40));
  assert.equal(stuck.requestedKiB, 1188 * MiB, `held at anon + floor − boot: ${stuck.requestedKiB / MiB} MiB`);
  assert.equal(stuck.pluggedKiB, 1188 * MiB, 'stopped there, above the operator\'s request');
  assert.equal(score.memory!.guests.find((g) => g.domain === 'vm1')!.starvedIntervals, 0, 'vm1 never starved');
  assert.equal(score.memory!.starvedIntervals, 0, 'nor vm2');
  const resizes = intervals.flatMap((i) => i.actions.filter((a) => a.kind === 'resize-memory-device' && a.domain.name === 'vm1').map((a) => ({ t: i.timeMs / 1000, a })));
  const unplugs = resizes.filter((r) => r.a.kind === 'resize-memory-device' && r.a.requestedKiB < r.a.fromKiB);
  const ups = resizes.filter((r) => r.a.kind === 'resize-memory-device' && r.a.requestedKiB > r.a.fromKiB);
  assert.equal(ups.length, 1, `one raise of the request, the hold: ${ups.map((r) => r.a.reason).join('; ')}`);
  assert.match(ups[0]!.a.reason, /held there/);
  assert.ok(ups[0]!.t <= 32, `held when first seen: at ${ups[0]!.t} s`);
  for (let k = 1; k < unplugs.length; k++) assert.ok(unplugs[k]!.t - unplugs[k - 1]!.t >= 60, `unplugs at most once a minute: ${unplugs.map((r) => r.t).join(', ')} s`);
  for (const entry of intervals) {
    assert.deepEqual(entry.failures, [], `interval ${entry.interval}: no refused action`);
    for (const a of entry.actions) {
      if (a.kind === 'set-memory' && a.domain.name === 'vm1') assert.ok(a.targetKiB > entry.truth!.memoryDevices!['vm1']!.pluggedKiB, 'no balloon target at or below plugged');
    }
  }
  // After the free at 120 s, what stays unneeded for a minute is unplugged.
  const end = device(intervals.at(-1)!).pluggedKiB;
  assert.ok(end < stuck.pluggedKiB / 2, `unplugged after the free: ${end / MiB} MiB still plugged`);
});

test('vmem-3-host-short-mixed: virtio-mem and balloon-only guests share a short host; the reserve holds', async () => {
  const { scenario, score, intervals } = await scenarioScore('vmem-3-host-short-mixed');
  assertDeviceBounds(intervals, score, 'vmem-3');
  assert.deepEqual(scenario.domains.map((d) => d.memoryDevice !== undefined), [true, true, false, false]);
  // Its yardstick: the same guests balloon-only, booted at boot + the device's size.
  const baseline = balloonOnlyVariant(scenario);
  assert.ok(baseline.domains.every((d) => d.memoryDevice === undefined));
  assert.deepEqual(baseline.domains.map((d) => d.maxMemoryMiB), [2560, 2560, 2048, 2048]);
  const base = scoreTrace(await simulateScenario(baseline));
  assert.equal(base.memory!.host!.belowReserve, false);
  // Where the host cannot hold every peak: no more starved intervals than balloon-only (#19).
  assert.ok(score.memory!.starvedIntervals <= base.memory!.starvedIntervals, `starved ${score.memory!.starvedIntervals} vs balloon-only ${base.memory!.starvedIntervals}`);
});

test('every shipped scenario is covered by a test above', () => {
  const shipped = readdirSync(shippedScenariosDir).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
  const covered = new Set(['demo-grader', 'cpu-1-balanced', 'cpu-2-all-on-pcpu0', 'cpu-3-heavy-light-random', 'cpu-4-multi-vcpu', 'cpu-5-overcommit', 'cpu-6-phases', 'cpu-7-noisy-margin', 'cpu-8-host-process', 'cpu-9-moving-host-load', 'cpu-10-weights', 'cpu-11-dedicated', 'memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops', 'memory-4-host-too-small', 'memory-5-stale-stats', 'mixed-1-lifecycle', 'lab-cpu-4-on-pcpu0', 'lab-memory-3-guests', 'cache-1-scan', 'cache-2-hot', 'cache-3-host-short', 'cache-4-hot-every-60s', 'cache-5-hot-every-120s', 'cache-6-hot-roomy-host', 'cache-7-scan-real-kernel', 'cpu-12-bursty-mix', 'cpu-13-bursty-grader', 'cpu-1-balanced-noisy', 'cpu-2-all-on-pcpu0-noisy', 'cpu-3-heavy-light-random-noisy', 'vmem-1-grow-then-idle', 'vmem-2-partial-unplug', 'vmem-3-host-short-mixed', 'mixed-2-moves' /* test/control/moves.test.ts */]);
  for (const name of shipped) assert.ok(covered.has(name), `scenario ${name} has no scored test`);
});

/**
 * Per interval and guest vCPU: received / max-min fair share, the fair share being what the
 * simulator's own weighted sharing would give every guest vCPU allowed on every pCPU beside the
 * host's other load (pinned where it runs, with its weight).
 */
function fractionsOfFairShare(scenario: Scenario, intervals: TraceInterval[]): number[][] {
  const all = Array.from({ length: scenario.host.pcpus }, (_, p) => p);
  const other = scenario.host.otherLoad ?? [];
  return intervals.flatMap((i) => {
    const truth = i.truth;
    if (!truth || i.interval === 0) return [];
    const demands = truth.vcpus.map((v) => v.demand);
    const guestWeights = truth.vcpus.map((v) => scenario.domains.find((d) => d.name === v.domain)!.weight);
    const otherDemands = other.map((o) => truth.otherLoad!.demand[o.pcpu]!);
    const fair = fairShare({
      demands: [...demands, ...otherDemands],
      weights: [...guestWeights, ...other.map((o) => o.weight)],
      affinity: [...demands.map(() => all), ...other.map((o) => [o.pcpu])],
      pcpus: scenario.host.pcpus,
    }).received;
    return [truth.vcpus.map((v, k) => (fair[k]! > 1e-6 ? v.received / fair[k]! : 1))];
  });
}

/** The same host without its busy counters: the scheduler cannot see other load. */
function blind(host: Hypervisor): Hypervisor {
  return hiding(host, (o) => {
    const { pcpuBusyNs: _hidden, ...rest } = o.host;
    return { ...o, host: rest };
  });
}

/** The same host without the guests' CPU weights: the scheduler cannot see priorities. */
function weightBlind(host: Hypervisor): Hypervisor {
  return hiding(host, (o) => ({ ...o, domains: o.domains.map(({ cpuWeight: _hidden, ...d }) => d) }));
}

function hiding(host: Hypervisor, hide: (o: HostObservation) => HostObservation): Hypervisor {
  return {
    uri: host.uri,
    observe: async () => hide(await host.observe()),
    pinVcpu: (d, v, p) => host.pinVcpu(d, v, p),
    setMemory: (d, k) => host.setMemory(d, k),
    setMemoryStatsPeriod: (d, s) => host.setMemoryStatsPeriod(d, s),
    close: () => host.close(),
  };
}

async function traceOn(scenario: Scenario, wrap: (h: Hypervisor) => Hypervisor, cpu: CpuSchedulerOptions = { ...defaultCpuSchedulerOptions }): Promise<TraceInterval[]> {
  const run = createSimulatedHost(scenario);
  const intervals: TraceInterval[] = [];
  await runControlLoop(
    wrap(run.hypervisor),
    run.clock,
    { intervalSeconds: scenario.intervalSeconds, cpu, intervals: scenario.intervals, truth: () => traceTruth(run.truth()) },
    { record: (entry) => void intervals.push(entry) },
  );
  return intervals;
}

test('cpu-8-host-process: beside a host process every guest gets its fair share (25 %) from the first decision on; blind, two get ~20 %', async () => {
  const scenario = loadScenario(join(shippedScenariosDir, 'cpu-8-host-process.yaml'));
  const { intervals } = await scenarioScore('cpu-8-host-process');
  const fractions = fractionsOfFairShare(scenario, intervals);
  // The first measured interval is the starting pile-up; from the second on, all within 2 %.
  fractions.slice(1).forEach((f, k) => assert.ok(Math.min(...f) >= 0.98, `interval ${k + 2}: worst ${Math.min(...f).toFixed(3)} of fair share`));
  // No guest is ever pinned alone beside the process.
  assert.ok(intervals.flatMap((i) => i.actions).every((a) => a.kind !== 'pin' || a.pcpus.join() !== '1'));
  // Blind to other load and acting on predictions alone, it falls short; with trials (the default) what the
  // guests then received is measured, the blind placement loses and is left (reverted, or the host alone tried instead).
  const blindIntervals = await traceOn(scenario, blind, { ...defaultCpuSchedulerOptions, trials: false });
  const blindFractions = fractionsOfFairShare(scenario, blindIntervals);
  const worstBlind = Math.min(...blindFractions.slice(-5).flat());
  assert.ok(worstBlind < 0.9, `a scheduler blind to other load should fall short here, worst ${worstBlind}`);
  const blindTried = await traceOn(scenario, blind);
  const worstBlindTried = Math.min(...fractionsOfFairShare(scenario, blindTried).slice(-5).flat());
  assert.ok(worstBlindTried >= 0.98, `blind but judged by measurement, worst ${worstBlindTried}`);
  assert.ok(tallyTrials(blindTried).reverted >= 1, 'the blind placement was measured worse and left');
  // Predictions checked: the trace puts each vCPU's predicted share beside what it received. Counting
  // the host process the model is right; blind to it, it predicts half a pCPU where a guest gets a fifth.
  const meanError = (list: TraceInterval[]): number => {
    const errors = list.slice(-10).map((i) => i.cpu?.predictionError).filter((e): e is number => e !== undefined);
    assert.ok(errors.length >= 5, 'the trace records the prediction error');
    return errors.reduce((a, b) => a + b, 0) / errors.length;
  };
  assert.ok(meanError(intervals) <= 0.01, `prediction error ${meanError(intervals)}`);
  assert.ok(meanError(blindIntervals) >= 0.1, `blind prediction error ${meanError(blindIntervals)}`);
});

test('cpu-9-moving-host-load: other load that comes, goes and ramps; every guest within 2 % of its fair share after each change settles', async () => {
  const scenario = loadScenario(join(shippedScenariosDir, 'cpu-9-moving-host-load.yaml'));
  const { intervals, score } = await scenarioScore('cpu-9-moving-host-load');
  const fractions = fractionsOfFairShare(scenario, intervals);
  const short = fractions.map((f, k) => ({ k: k + 1, worst: Math.min(...f) })).filter((x) => x.worst < 0.98);
  // The host process switching on cannot be foreseen: at most the interval it happens in and the one that settles it.
  assert.ok(short.length <= 3, `intervals short of 98 %: ${JSON.stringify(short)}`);
  // Over the run every guest gets at least 98 % of its fair share on average.
  for (const vm of score.cpu!.fairness!.vms) assert.ok(vm.fractionOfFairShare! >= 0.98, `${vm.domain}: ${vm.fractionOfFairShare}`);
});

test('cpu-10-weights: a guest of weight 3 gets its weighted fair share (a whole pCPU), the others a third; blind to weights it gets 75 %', async () => {
  const scenario = loadScenario(join(shippedScenariosDir, 'cpu-10-weights.yaml'));
  const { intervals, score } = await scenarioScore('cpu-10-weights');
  // The score knows the weights from the trace: weighted fair shares, Jain within equal demand and weight.
  assert.ok(score.cpu!.fairness!.worstFractionOfFairShare!.fraction >= 0.98, `score: worst ${score.cpu!.fairness!.worstFractionOfFairShare!.fraction}`);
  assert.ok(score.cpu!.fairness!.groups.every((g) => g.jain >= 0.98 && !g.domains.includes('db')));
  const fractions = fractionsOfFairShare(scenario, intervals);
  fractions.slice(1).forEach((f, k) => assert.ok(Math.min(...f) >= 0.98, `interval ${k + 2}: worst ${Math.min(...f).toFixed(3)} of weighted fair share`));
  const blindFractions = fractionsOfFairShare(scenario, await traceOn(scenario, weightBlind));
  const worstBlind = Math.min(...blindFractions.slice(-5).flat());
  assert.ok(worstBlind < 0.9, `a scheduler blind to weights should fall short here, worst ${worstBlind}`);
});

/** The scenario's guests held where `pinOf` says (null: unpinned), no controller: fractions of fair share per interval. */
async function heldAt(scenario: Scenario, pinOf: (name: string) => number[] | null): Promise<number[][]> {
  const held: Scenario = { ...scenario, domains: scenario.domains.map((d) => ({ ...d, pin: d.pin.map(() => pinOf(d.name)) })) };
  const run = createSimulatedHost(held);
  const intervals: TraceInterval[] = [];
  for (let k = 0; k < scenario.intervals; k++) {
    await run.clock.sleep(scenario.intervalSeconds * 1000);
    intervals.push({ interval: k + 1, truth: traceTruth(run.truth()) } as TraceInterval);
  }
  return fractionsOfFairShare(scenario, intervals);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

for (const [name, pcpus] of [['cpu-12-bursty-mix', 2], ['cpu-13-bursty-grader', 4]] as const) {
  test(`${name}: bursty guests beside busy ones get half their fair share; busy with busy and bursty with bursty, the worst gets 83 %`, async () => {
    const scenario = loadScenario(join(shippedScenariosDir, `${name}.yaml`));
    assert.equal(scenario.host.pcpus, pcpus);
    const bursty = scenario.domains.filter((d) => d.cpu[0]!.kind === 'bursty').map((d) => d.name);
    assert.equal(bursty.length, pcpus);
    const burstyAt = (f: number[]): number[] => scenario.domains.flatMap((d, k) => (bursty.includes(d.name) ? [f[k]!] : []));
    const busyAt = (f: number[]): number[] => scenario.domains.flatMap((d, k) => (bursty.includes(d.name) ? [] : [f[k]!]));
    // As shipped (busy + bursty on each pCPU, every pCPU full): each bursty guest gets ~20 % of its 40 %.
    const shipped = (await heldAt(scenario, (n) => scenario.domains.find((d) => d.name === n)!.pin[0]!)).slice(1);
    for (const f of shipped) {
      for (const x of burstyAt(f)) assert.ok(x >= 0.45 && x <= 0.6, `as shipped, a bursty guest gets ${x.toFixed(3)} of its fair share`);
      for (const x of busyAt(f)) assert.ok(x >= 1.25, `as shipped, a busy guest gets ${x.toFixed(3)} of its fair share`);
    }
    // Busy with busy, bursty with bursty: the bursty windows drift apart and get all they ask; busy 0.5 of 0.6.
    const names = scenario.domains.map((d) => d.name);
    const segregated = await heldAt(scenario, (n) => {
      const group = bursty.includes(n) ? bursty : names.filter((x) => !bursty.includes(x));
      return [Math.floor(group.indexOf(n) / 2) + (bursty.includes(n) ? pcpus / 2 : 0)];
    });
    const settled = segregated.slice(5);
    assert.ok(Math.min(...settled.flat()) >= 0.82, `segregated, worst ${Math.min(...settled.flat()).toFixed(3)} of fair share`);
    for (const f of settled) for (const x of burstyAt(f)) assert.ok(x >= 0.97, `segregated, a bursty guest gets ${x.toFixed(3)}`);
    // Nothing pinned (the host's scheduler): the bursty guests stay well below their fair share.
    const unpinned = (await heldAt(scenario, () => null)).slice(5);
    const unpinnedBursty = mean(unpinned.flatMap(burstyAt));
    assert.ok(unpinnedBursty >= 0.5 && unpinnedBursty <= 0.75, `unpinned, bursty guests get ${unpinnedBursty.toFixed(3)} of their fair share`);

    // Controlled: the score reports each guest's fraction of its max-min fair share (a bursty guest's
    // from its duty) and the worst; the physics bounds what any placement can give.
    const { score, intervals } = await scenarioScore(name);
    const fairness = score.cpu!.fairness!;
    assert.equal(fairness.source, 'truth');
    for (const vm of fairness.vms) {
      const isBursty = bursty.includes(vm.domain);
      // Within 3 %: run's objective puts the bursty guests together (the spread never settles, so the
      // score's window starts at interval 0, before anything ran), and while two bursty guests on one
      // pCPU drift apart a window that starts late is cut by the clock.
      assert.ok(Math.abs(vm.demand - (isBursty ? 0.4 : 1)) < 0.03, `${vm.domain} asks ${vm.demand}`);
      assert.ok(Math.abs(vm.fairShare - (isBursty ? 0.4 : 0.6)) < 0.03, `${vm.domain} fair share ${vm.fairShare}`);
    }
    const worst = fairness.worstFractionOfFairShare!;
    assert.equal(worst.fraction, Math.min(...fairness.vms.map((v) => v.fractionOfFairShare)));
    // Whatever the placement, the guests together never get more than the host has.
    for (const i of intervals) if (i.truth) assert.ok(i.truth.vcpus.reduce((a, v) => a + v.received, 0) <= pcpus + 1e-9);
    // The policy's goal here (issue #11 §2b: the worst guest ≥ 80 % of its fair share, which
    // segregating gives) is asserted by the policy's own test, not by the physics.
  });
}

for (const name of ['cpu-12-bursty-mix', 'cpu-13-bursty-grader']) {
  test(`${name}: run's objective (fairness) learns the bursty guests are clock-bound and puts them together, the worst guest ≥ 80 % of its fair share; balance keeps the spread`, async () => {
    const scenario = loadScenario(join(shippedScenariosDir, `${name}.yaml`));
    const bursty = scenario.domains.filter((d) => d.cpu[0]!.kind === 'bursty').map((d) => d.name).sort();
    const { intervals } = await scenarioScore(name);
    // Settled: learned by the third decision, re-pinned at the fourth, bursty windows sharing a pCPU drift apart.
    const settled = fractionsOfFairShare(scenario, intervals).slice(-20);
    for (const f of settled) assert.ok(Math.min(...f) >= 0.8, `worst ${Math.min(...f).toFixed(3)} of fair share`);
    assert.ok(Math.min(...fractionsOfFairShare(scenario, intervals)[1]!) < 0.6, 'as shipped the bursty guests get about half their fair share');
    assert.deepEqual(intervals.at(-1)!.cpu!.vcpus.filter((v) => v.clockBound).map((v) => v.domain).sort(), bursty, 'the trace marks the learned vCPUs');
    const pins = intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin');
    assert.ok(pins.length <= scenario.host.pcpus, `${pins.length} pin changes`);
    assert.ok(pins.every((a) => a.kind === 'pin' && a.why !== undefined && 'objective' in a.why.figures && a.why.figures.objective === 'fairness'));
    assert.equal(intervals.filter((i) => i.actions.length > 0).length, 1, 'one re-pin, then quiet');
    // The prediction error drops once learned.
    const errors = intervals.map((i) => i.cpu?.predictionError).filter((e): e is number => e !== undefined);
    const before = errors[0]!;
    const after = mean(errors.slice(-10));
    assert.ok(before >= 0.1 && after <= before / 3, `prediction error ${before.toFixed(3)} → ${after.toFixed(3)}`);

    // The drop-in's objective: the pCPUs stay evenly used; the pairing the model knows is unfair is measured
    // against the host's scheduler alone (one trial: every vCPU released), which gives the bursty guests
    // more, so it is kept: never below what nothing pinned gives, where that is balanced too.
    const balanced = await traceOn(scenario, (h) => h, { ...defaultCpuSchedulerOptions, objective: 'balance' });
    assert.equal(pinChangesIn(balanced), scenario.domains.length, 'one trial of the host scheduler alone, kept');
    assert.equal(balanced.filter((i) => i.cpu?.trial?.event === 'kept').length, 1);
    const unpinned = await heldAt(scenario, () => null);
    const worstOf = (rows: number[][]): number => mean(rows.map((f) => Math.min(...f)));
    const droppedIn = worstOf(fractionsOfFairShare(scenario, balanced).slice(-20));
    assert.ok(droppedIn >= worstOf(unpinned.slice(-20)) - 0.01, `drop-in worst ${droppedIn.toFixed(3)}, nothing pinned ${worstOf(unpinned.slice(-20)).toFixed(3)}`);
    for (const i of balanced.slice(-20)) {
      const usage = i.cpu!.pcpuUsage;
      assert.ok(Math.max(...usage) - Math.min(...usage) <= 0.05, `interval ${i.interval}: usage spread ${usage.join(', ')}`);
    }
    assert.deepEqual(balanced.at(-1)!.cpu!.vcpus.filter((v) => v.clockBound).map((v) => v.domain).sort(), bursty);
    // Released, the model is off (it predicts the pairing's figure for the bursty guests, they get more):
    // the measurement, not the model, chose this placement.
    assert.ok(mean(balanced.slice(-10).map((i) => i.cpu!.predictionError!)) >= 0.03, 'the release is measured better than predicted');
  });
}
