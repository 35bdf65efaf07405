import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import type { TraceHeader, TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { cacheHeld, RunMetrics } from '../../src/web/metrics.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { trialTrace } from '../score/fixtures.js';
import { fixture, parsePrometheus, sampleValue, type Sample } from './helpers.js';

async function intervalsOf(name: string, intervals?: number): Promise<TraceInterval[]> {
  const lines: TraceLine[] = await simulateScenario(loadScenario(resolveScenarioPath(name)), { intervals });
  return lines.filter((l): l is TraceInterval => l.type === 'interval');
}

async function scrape(m: RunMetrics): Promise<Sample[]> {
  return parsePrometheus(await m.text()).samples;
}

test('gauges follow the last interval; counters add up the decisions', async () => {
  const intervals = await intervalsOf('mixed-1-lifecycle');
  const m = new RunMetrics({ processMetrics: false });
  let ticks = 0;
  for (const entry of intervals) m.recordInterval(entry, { dryRun: false, tickSeconds: 0.002 * ++ticks });
  const s = await scrape(m);
  const last = intervals.at(-1)!;
  const lastCpu = intervals.filter((i) => i.cpu && i.cpu.elapsedNs > 0).at(-1)!.cpu!;
  lastCpu.pcpuUsage.forEach((u, p) => assert.equal(sampleValue(s, 'virtbalance_pcpu_usage_ratio', { pcpu: String(p) }), u));
  for (const v of lastCpu.vcpus) {
    assert.equal(sampleValue(s, 'virtbalance_vcpu_usage_ratio', { domain: v.domain, vcpu: String(v.vcpu) }), v.usage);
    assert.equal(sampleValue(s, 'virtbalance_vcpu_pcpu', { domain: v.domain, vcpu: String(v.vcpu) }), v.pcpu);
  }
  for (const g of last.memory!.guests) {
    assert.equal(sampleValue(s, 'virtbalance_balloon_actual_bytes', { domain: g.domain }), g.actualKiB * 1024);
    if (g.unusedKiB !== undefined) assert.equal(sampleValue(s, 'virtbalance_balloon_unused_bytes', { domain: g.domain }), g.unusedKiB * 1024);
  }
  assert.equal(sampleValue(s, 'virtbalance_host_free_bytes'), last.memory!.hostFreeKiB * 1024);
  // vm1 and vm3 are destroyed during the run: their series go with them.
  const gone = ['vm1', 'vm3'].filter((d) => !last.domains.includes(d));
  assert.deepEqual(gone, ['vm1', 'vm3']);
  for (const d of gone) {
    assert.equal(s.some((x) => x.labels.domain === d), false, `${d} still has series`);
  }
  const actions = intervals.flatMap((i) => i.actions);
  for (const kind of ['pin', 'set-memory', 'set-stats-period']) {
    assert.equal(sampleValue(s, 'virtbalance_decisions_total', { kind }), actions.filter((a) => a.kind === kind).length, kind);
  }
  assert.equal(sampleValue(s, 'virtbalance_balloon_changes_total'), actions.filter((a) => a.kind === 'set-memory').length);
  assert.equal(sampleValue(s, 'virtbalance_intervals_total'), intervals.length);
  assert.equal(sampleValue(s, 'virtbalance_tick_duration_seconds_count'), intervals.length);
  assert.ok(Math.abs(sampleValue(s, 'virtbalance_tick_duration_seconds_sum')! - (0.002 * ticks * (ticks + 1)) / 2) < 1e-9);
});

test('a short window (nothing decided on it) leaves the CPU gauges as the last full window set them', async () => {
  const [, second] = await intervalsOf('cpu-2-all-on-pcpu0', 2);
  const full = second!.cpu!;
  const short: TraceInterval = {
    ...second!,
    interval: 2,
    actions: [],
    cpu: { ...full, elapsedNs: 0.11e9, shortWindow: true, balanced: false, spreadPoints: 0, pcpuUsage: full.pcpuUsage.map(() => 1), vcpus: full.vcpus.map((v) => ({ ...v, usage: 1 })) },
  };
  const m = new RunMetrics({ processMetrics: false });
  m.recordInterval(second!, { dryRun: false });
  m.recordInterval(short, { dryRun: false });
  const s = await scrape(m);
  full.pcpuUsage.forEach((u, p) => assert.equal(sampleValue(s, 'virtbalance_pcpu_usage_ratio', { pcpu: String(p) }), u));
  for (const v of full.vcpus) assert.equal(sampleValue(s, 'virtbalance_vcpu_usage_ratio', { domain: v.domain, vcpu: String(v.vcpu) }), v.usage);
  assert.equal(sampleValue(s, 'virtbalance_cpu_balanced'), full.balanced ? 1 : 0);
  assert.equal(sampleValue(s, 'virtbalance_intervals_total'), 2, 'the interval itself is counted');
});

test('dry run and failed actions are decisions, not changes; failures count by kind', async () => {
  const [, second] = await intervalsOf('cpu-2-all-on-pcpu0', 2);
  const pins = second!.actions.filter((a) => a.kind === 'pin');
  assert.ok(pins.length >= 2);
  const failing: TraceInterval = { ...second!, failures: [{ action: pins[0]!, error: 'Requested operation is not valid: domain is not running' }] };
  const m = new RunMetrics({ processMetrics: false });
  m.recordInterval(failing, { dryRun: false });
  let s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_pins_changed_total'), pins.length - 1);
  assert.equal(sampleValue(s, 'virtbalance_action_failures_total', { kind: 'pin' }), 1);
  const dry = new RunMetrics({ processMetrics: false });
  dry.recordInterval(second!, { dryRun: true });
  s = await scrape(dry);
  assert.equal(sampleValue(s, 'virtbalance_pins_changed_total'), 0);
  assert.equal(sampleValue(s, 'virtbalance_decisions_total', { kind: 'pin' }), pins.length);
});

test('an action whose domain went away meanwhile (unapplied: a move) is a decision, not a change and not a failure', async () => {
  const [, second] = await intervalsOf('cpu-2-all-on-pcpu0', 2);
  const pins = second!.actions.filter((a) => a.kind === 'pin');
  assert.ok(pins.length >= 2);
  const moved: TraceInterval = { ...second!, unapplied: [{ action: pins[0]!, why: `gone: ${pins[0]!.domain.name} went away` }] };
  const m = new RunMetrics({ processMetrics: false });
  m.recordInterval(moved, { dryRun: false });
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_pins_changed_total'), pins.length - 1);
  assert.equal(sampleValue(s, 'virtbalance_actions_unapplied_total', { kind: 'pin' }), 1);
  assert.equal(sampleValue(s, 'virtbalance_action_failures_total', { kind: 'pin' }), 0);
  assert.equal(sampleValue(s, 'virtbalance_decisions_total', { kind: 'pin' }), pins.length);
});

test('hypervisor calls: durations by call, errors counted, connection gauge follows observe', async () => {
  const m = new RunMetrics({ processMetrics: false });
  m.recordCall('observe', 0.01, false);
  m.recordCall('pin', 0.002, true);
  m.recordCall('observe', 0.5, true);
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_hypervisor_call_errors_total', { call: 'pin' }), 1);
  assert.equal(sampleValue(s, 'virtbalance_hypervisor_call_errors_total', { call: 'observe' }), 1);
  assert.equal(sampleValue(s, 'virtbalance_hypervisor_call_errors_total', { call: 'set-memory' }), 0);
  assert.equal(sampleValue(s, 'virtbalance_hypervisor_call_duration_seconds_count', { call: 'observe' }), 2);
  assert.equal(sampleValue(s, 'virtbalance_host_connected'), 0);
});

test('two runs in one process keep separate registries', async () => {
  const a = new RunMetrics();
  const b = new RunMetrics();
  const [first] = await intervalsOf('cpu-1-balanced', 1);
  a.recordInterval(first!, { dryRun: false });
  assert.equal(sampleValue(await scrape(a), 'virtbalance_intervals_total'), 1);
  assert.equal(sampleValue(await scrape(b), 'virtbalance_intervals_total'), 0);
  assert.ok((await scrape(a)).some((x) => x.name === 'process_cpu_seconds_total'));
});

test('names as Prometheus users expect: standard process_*/nodejs_*, no gauge named _total, build info', async () => {
  const m = new RunMetrics();
  const { samples, types } = parsePrometheus(await m.text());
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(types.has(name), `${name} is exported`);
  }
  assert.deepEqual([...types.keys()].filter((n) => /^virtbalance_(process|nodejs)_/.test(n)), []);
  const gaugesNamedTotal = [...types].filter(([name, type]) => type === 'gauge' && name.endsWith('_total'));
  assert.deepEqual(gaugesNamedTotal, []);
  for (const [name, type] of types) if (type === 'counter') assert.match(name, /_total$/, `counter ${name}`);
  const version = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version as string;
  assert.equal(sampleValue(samples, 'virtbalance_build_info', { version, nodejs_version: process.versions.node }), 1);
  assert.equal([...types.keys()].some((n) => n.includes('libvirt')), false, 'nothing is called libvirt before the target is known');
});

test('the header says what runs: target and hypervisor kind, controllers, interval, margin as a ratio', async () => {
  const lines: TraceLine[] = await simulateScenario(loadScenario(resolveScenarioPath('cpu-2-all-on-pcpu0')), { intervals: 3 });
  const header = lines[0] as TraceHeader;
  const m = new RunMetrics({ processMetrics: false, now: () => 1_700_000_000_000 });
  m.recordHeader(header);
  for (const l of lines) if (l.type === 'interval') m.recordInterval(l, { dryRun: false });
  let s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_target_info', { target: 'sim:cpu-2-all-on-pcpu0', hypervisor: 'simulated' }), 1);
  assert.equal(sampleValue(s, 'virtbalance_controller_enabled', { controller: 'cpu' }), 1);
  assert.equal(sampleValue(s, 'virtbalance_controller_enabled', { controller: 'memory' }), 0);
  assert.equal(sampleValue(s, 'virtbalance_interval_seconds'), header.intervalSeconds);
  assert.equal(sampleValue(s, 'virtbalance_cpu_margin_ratio'), 0.1);
  assert.equal(sampleValue(s, 'virtbalance_last_interval_timestamp_seconds'), 1_700_000_000);
  const lastCpu = (lines.filter((l) => l.type === 'interval' && l.cpu && l.cpu.elapsedNs > 0).at(-1) as TraceInterval).cpu!;
  assert.ok(lastCpu.spreadPoints > 1);
  assert.equal(sampleValue(s, 'virtbalance_cpu_demand_spread_ratio'), lastCpu.spreadPoints / 100);
  m.recordHeader({ ...header, target: 'qemu:///system' });
  s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_target_info', { target: 'qemu:///system', hypervisor: 'libvirt' }), 1);
  assert.equal(s.filter((x) => x.name === 'virtbalance_target_info').length, 1);
});

test('OOM kills count per guest, from a real guest console or the simulator', async () => {
  const intervals = await intervalsOf('memory-4-host-too-small');
  const m = new RunMetrics({ processMetrics: false });
  for (const entry of intervals) m.recordInterval(entry, { dryRun: false });
  const s = await scrape(m);
  const expected = new Map<string, number>();
  for (const e of intervals.flatMap((i) => i.truth?.oomEvents ?? [])) expected.set(e.domain, (expected.get(e.domain) ?? 0) + 1);
  assert.ok(expected.size > 0, 'the scenario has OOM kills');
  for (const g of intervals[0]!.memory?.guests ?? []) assert.equal(sampleValue(s, 'virtbalance_guest_oom_kills_total', { domain: g.domain }), expected.get(g.domain) ?? 0, g.domain);
  const lab = new RunMetrics({ processMetrics: false });
  lab.recordInterval({ ...intervals[0]!, truth: undefined, oomKills: [{ domain: 'vm2', process: 'vb-workload', pid: 77 }] }, { dryRun: false });
  assert.equal(sampleValue(await scrape(lab), 'virtbalance_guest_oom_kills_total', { domain: 'vm2' }), 1);
});

test('page cache per guest: anonymous use, hot and cold cache, disk read rate follow each interval', async () => {
  const intervals = await intervalsOf('cache-2-hot');
  const m = new RunMetrics({ processMetrics: false });
  let hotSeen = 0;
  let coldSeen = 0;
  let readsSeen = 0;
  for (const entry of intervals) {
    m.recordInterval(entry, { dryRun: false });
    const s = await scrape(m);
    for (const g of entry.memory?.guests ?? []) {
      const labels = { domain: g.domain };
      const anon = sampleValue(s, 'virtbalance_guest_anon_bytes', labels);
      const hot = sampleValue(s, 'virtbalance_guest_page_cache_bytes', { ...labels, kind: 'hot' });
      const cold = sampleValue(s, 'virtbalance_guest_page_cache_bytes', { ...labels, kind: 'cold' });
      assert.equal(anon, g.anonKiB === undefined ? undefined : g.anonKiB * 1024, `${g.domain} anon at #${entry.interval}`);
      if (g.cacheKiB === undefined) {
        assert.deepEqual([hot, cold], [undefined, undefined]);
        continue;
      }
      assert.equal(hot! + cold!, g.cacheKiB * 1024, `${g.domain} hot + cold = cache at #${entry.interval}`);
      assert.equal(hot, Math.min(g.hotKiB ?? 0, g.cacheKiB) * 1024);
      assert.equal(sampleValue(s, 'virtbalance_guest_disk_read_bytes_per_second', labels), g.readKiBps === undefined ? undefined : g.readKiBps * 1024);
      if (hot! > 0) hotSeen++;
      if (cold! > 100 * 1024 * 1024) coldSeen++;
      if ((g.readKiBps ?? 0) > 0) readsSeen++;
    }
  }
  // The scenario has a re-read set (hot), a scan left as cold cache and disk reads: all of it shows.
  assert.ok(hotSeen > 0 && coldSeen > 0 && readsSeen > 0, `hot ${hotSeen}, cold ${coldSeen}, reads ${readsSeen} intervals`);
  // A guest that reports no MemAvailable (an older balloon driver) has none of these series.
  const last = intervals.at(-1)!;
  const withoutUsable: TraceInterval = {
    ...last,
    memory: { ...last.memory!, guests: last.memory!.guests.map(({ anonKiB: _a, cacheKiB: _c, hotKiB: _h, readKiBps: _r, ...g }) => g) },
  };
  m.recordInterval(withoutUsable, { dryRun: false });
  const names = new Set((await scrape(m)).map((x) => x.name));
  assert.ok(names.has('virtbalance_balloon_actual_bytes'));
  assert.deepEqual(['virtbalance_guest_anon_bytes', 'virtbalance_guest_page_cache_bytes', 'virtbalance_guest_disk_read_bytes_per_second'].filter((n) => names.has(n)), []);
});

test('cacheHeld: a remembered hot size above the cache held counts only what is held', () => {
  assert.deepEqual(cacheHeld(500, 600), { hotKiB: 500, coldKiB: 0 });
  assert.deepEqual(cacheHeld(800, 600), { hotKiB: 600, coldKiB: 200 });
  assert.deepEqual(cacheHeld(300, 0), { hotKiB: 0, coldKiB: 300 });
});

test('prediction errors, weights and dedicated pCPUs: per guest, following the trace; a guest that shares again holds 0', async () => {
  const lines: TraceLine[] = await simulateScenario(loadScenario(resolveScenarioPath('cpu-11-dedicated')));
  const header = lines[0] as TraceHeader;
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  const nowMs = 1_700_000_000_000;
  const m = new RunMetrics({ processMetrics: false, now: () => nowMs });
  m.recordHeader(header);
  let held: TraceInterval | undefined;
  for (const entry of intervals) {
    m.recordInterval(entry, { dryRun: false });
    const g = entry.cpu?.dedicated?.[0];
    if (!g || held) continue;
    // While db holds its pCPU: its count, since when, and every guest's prediction error.
    if (entry.interval < g.sinceInterval! + 3) continue;
    held = entry;
    const s = await scrape(m);
    assert.equal(sampleValue(s, 'virtbalance_dedicated_pcpus', { domain: 'db' }), 1);
    assert.equal(sampleValue(s, 'virtbalance_dedicated_since_timestamp_seconds', { domain: 'db' }), (nowMs - (entry.timeMs - g.sinceMs!)) / 1000);
    assert.equal(sampleValue(s, 'virtbalance_dedicated_refused', { domain: 'db' }), undefined);
    assert.equal(sampleValue(s, 'virtbalance_dedicated_pcpus', { domain: 'vm1' }), undefined, 'not marked dedicated: no series');
    for (const [domain, error] of Object.entries(entry.cpu!.domainPredictionError!)) assert.equal(sampleValue(s, 'virtbalance_vcpu_prediction_error_ratio', { domain }), error);
    assert.equal(sampleValue(s, 'virtbalance_cpu_prediction_error_ratio'), entry.cpu!.predictionError);
    assert.equal(sampleValue(s, 'virtbalance_cpu_weight', { domain: 'vm1' }), 1);
    assert.ok(sampleValue(s, 'virtbalance_vcpu_prediction_error_ratio', { domain: 'db' }) !== undefined, 'db is predicted while it holds its pCPU');
  }
  assert.ok(held, 'db held its pCPU at some point');
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_dedicated_pcpus', { domain: 'db' }), 0, 'given back by the end');
  assert.equal(sampleValue(s, 'virtbalance_dedicated_since_timestamp_seconds', { domain: 'db' }), undefined);
  const text = await m.text();
  assert.match(text, /# HELP virtbalance_vcpu_prediction_error_ratio Per guest, mean \|predicted − received\|/);
  assert.match(text, /# TYPE virtbalance_dedicated_pcpus gauge/);
});

test('clock-bound marks: 1 for each vCPU the trace marks learned clock-bound, 0 for the others, following every interval', async () => {
  const intervals = await intervalsOf('cpu-12-bursty-mix');
  const m = new RunMetrics({ processMetrics: false });
  const everMarked = new Set<string>();
  let checked = 0;
  for (const entry of intervals) {
    m.recordInterval(entry, { dryRun: false });
    if (!entry.cpu || entry.cpu.elapsedNs === 0) continue;
    const s = await scrape(m);
    for (const v of entry.cpu.vcpus) {
      const value = sampleValue(s, 'virtbalance_vcpu_clock_bound', { domain: v.domain, vcpu: String(v.vcpu) });
      assert.equal(value, v.clockBound ? 1 : 0, `interval ${entry.interval} ${v.domain}/${v.vcpu}`);
      if (value === 1) everMarked.add(v.domain);
    }
    checked++;
  }
  assert.ok(checked > 30, `${checked} intervals`);
  // The bursty guests are learned clock-bound; the busy ones never are.
  assert.deepEqual([...everMarked].sort(), ['burst1', 'burst2']);
  const last = intervals.at(-1)!.cpu!;
  for (const d of ['burst1', 'burst2']) assert.equal(sampleValue(await scrape(m), 'virtbalance_vcpu_clock_bound', { domain: d, vcpu: '0' }), 1, `${d} still marked at the end`);
  assert.ok(last.vcpus.some((v) => !v.clockBound));
  assert.match(await m.text(), /# TYPE virtbalance_vcpu_clock_bound gauge/);
});

test('trials: counters by outcome and by the rule that held a proposal, the demand epoch, the last trial before and tried', async () => {
  const intervals = trialTrace().filter((l): l is TraceInterval => l.type === 'interval');
  const m = new RunMetrics({ processMetrics: false });
  let done = -1;
  const at = async (through: number) => {
    for (const e of intervals.filter((i) => i.interval <= through && i.interval > done)) m.recordInterval(e, { dryRun: false });
    done = through;
    const s = await scrape(m);
    return {
      outcome: (outcome: string) => sampleValue(s, 'virtbalance_cpu_trials_total', { outcome }),
      held: (rule: string) => sampleValue(s, 'virtbalance_cpu_trial_proposals_held_total', { rule }),
      epoch: sampleValue(s, 'virtbalance_cpu_demand_epoch'),
      before: sampleValue(s, 'virtbalance_cpu_trial_worst_fraction', { placement: 'before' }),
      tried: sampleValue(s, 'virtbalance_cpu_trial_worst_fraction', { placement: 'tried' }),
    };
  };

  // Before any trial: every series at 0, so rate() works from the first scrape; epoch 0 (none yet), no fractions.
  let s = await at(0);
  for (const o of ['started', 'kept', 'reverted', 'abandoned']) assert.equal(s.outcome(o), 0, o);
  for (const r of ['one-trial-per-epoch', 'placement-left-before', 'measured-worse-before', 'backing-off', 'nothing-to-gain']) assert.equal(s.held(r), 0, r);
  assert.equal(s.epoch, 0);
  assert.equal(s.before, undefined);

  // A trial started: its baseline; measuring intervals count nothing more.
  s = await at(4);
  assert.equal(s.outcome('started'), 1);
  assert.equal(s.epoch, 1);
  assert.equal(s.before, 0.55);
  assert.equal(s.tried, undefined, 'not measured yet');
  // Reverted: 51 % tried against 55 % before.
  s = await at(5);
  assert.deepEqual([s.outcome('started'), s.outcome('kept'), s.outcome('reverted')], [1, 0, 1]);
  assert.equal(s.tried, 0.51);
  // Held by two rules, once each.
  s = await at(8);
  assert.equal(s.held('one-trial-per-epoch'), 1);
  assert.equal(s.held('placement-left-before'), 1);
  assert.equal(s.held('measured-worse-before'), 0);
  // The next trial (epoch 2) forgets the last one's tried figure until it is measured itself, then keeps 88 %.
  s = await at(9);
  assert.equal(s.epoch, 2);
  assert.equal(s.tried, undefined);
  s = await at(12);
  assert.equal(s.outcome('kept'), 1);
  assert.equal(s.tried, 0.88);
  // Epoch 3's trial is abandoned when epoch 4's starts.
  s = await at(19);
  assert.deepEqual([s.outcome('started'), s.outcome('kept'), s.outcome('reverted'), s.outcome('abandoned')], [4, 1, 1, 1]);
  assert.equal(s.epoch, 4);
  assert.equal(s.before, 0.7);
  const text = await m.text();
  assert.match(text, /# TYPE virtbalance_cpu_trials_total counter/);
  assert.match(text, /# TYPE virtbalance_cpu_trial_proposals_held_total counter/);
  assert.match(text, /# TYPE virtbalance_cpu_demand_epoch gauge/);
  assert.match(text, /# HELP virtbalance_cpu_trial_worst_fraction .*fair share/);
});

test('trials on a simulated run: the paired bursty guests\' trial is measured worse, the host alone tried instead is too and reverted, as /metrics counts', async () => {
  const lines = await simulateScenario(loadScenario(fixture('bursty-paired.yaml')), { cpu: { ...defaultCpuSchedulerOptions, objective: 'fairness' }, intervals: 12 });
  const m = new RunMetrics({ processMetrics: false });
  for (const l of lines) if (l.type === 'interval') m.recordInterval(l, { dryRun: false });
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'virtbalance_cpu_trials_total', { outcome: 'started' }), 2);
  assert.equal(sampleValue(s, 'virtbalance_cpu_trials_total', { outcome: 'reverted' }), 2);
  assert.equal(sampleValue(s, 'virtbalance_cpu_trials_total', { outcome: 'kept' }), 0);
  assert.equal(sampleValue(s, 'virtbalance_cpu_demand_epoch'), 1);
  const before = sampleValue(s, 'virtbalance_cpu_trial_worst_fraction', { placement: 'before' })!;
  const tried = sampleValue(s, 'virtbalance_cpu_trial_worst_fraction', { placement: 'tried' })!;
  assert.ok(tried < before - 0.1, `tried ${tried} against before ${before}`);
});

test('fleet series: UUIDs always; the libvirt exporter\'s and node_exporter\'s names only when asked; shortfall from the record', async () => {
  const GiB = 1024 * 1024;
  const obs = (t: number, busyNs: number[], connection = 1): import('../../src/ground/hypervisor.js').HostObservation => ({
    timeNs: t * 1e9,
    connection,
    host: { hostname: 'h', pcpus: 2, memoryTotalKiB: 8 * GiB, memoryFreeKiB: 3 * GiB, pcpuBusyNs: busyNs },
    domains: [
      { name: 'vm1', uuid: 'u1', state: 'running', cpuTimeNs: 2.5e9 * t, vcpus: [{ index: 0, timeNs: 1e9 * t, affinity: [0] }, { index: 1, timeNs: 1e9 * t, affinity: [1] }], balloon: { currentKiB: GiB, maximumKiB: 2 * GiB } },
      { name: 'vm2', uuid: 'u2', state: 'paused', vcpus: [{ index: 0, timeNs: 0.5e9 * t, affinity: [0] }] },
    ],
  });
  const plain = new RunMetrics({ processMetrics: false });
  plain.recordObservation(obs(10, [5e9, 5e9]));
  const p = await scrape(plain);
  assert.deepEqual(p.filter((x) => x.name === 'virtbalance_domain_info').map((x) => x.labels), [{ domain: 'vm1', uuid: 'u1' }, { domain: 'vm2', uuid: 'u2' }]);
  assert.equal(p.filter((x) => x.name.startsWith('libvirt_') || x.name.startsWith('node_')).length, 0, 'off by default');

  const m = new RunMetrics({ processMetrics: false, libvirtNames: true, nodeNames: true });
  m.recordObservation(obs(10, [5e9, 9e9]));
  // 2 s later pCPU0 was busy 0.5 s, pCPU1 2 s: idle 1.5 s and 0 s.
  m.recordObservation(obs(12, [5.5e9, 11e9]));
  const text = await m.text();
  assert.match(text, /# TYPE libvirt_domain_info_cpu_time_seconds_total counter/);
  const s = parsePrometheus(text).samples;
  assert.equal(sampleValue(s, 'libvirt_domain_info_cpu_time_seconds_total', { domain: 'vm1', uuid: 'u1' }), 30, 'cpu.time, not the vCPUs alone');
  assert.equal(sampleValue(s, 'libvirt_domain_info_cpu_time_seconds_total', { domain: 'vm2', uuid: 'u2' }), 6, 'the vCPUs without cpu.time');
  assert.equal(sampleValue(s, 'libvirt_domain_info_memory_usage_bytes', { domain: 'vm1' }), GiB * 1024);
  assert.equal(sampleValue(s, 'libvirt_domain_info_maximum_memory_bytes', { domain: 'vm1' }), 2 * GiB * 1024);
  assert.equal(sampleValue(s, 'libvirt_domain_info_virtual_cpus', { domain: 'vm1' }), 2);
  assert.equal(sampleValue(s, 'libvirt_domain_state_code', { domain: 'vm2' }), 3);
  assert.equal(sampleValue(s, 'node_cpu_seconds_total', { cpu: '0', mode: 'idle' }), 1.5);
  assert.equal(sampleValue(s, 'node_cpu_seconds_total', { cpu: '1', mode: 'idle' }), 0);
  assert.equal(sampleValue(s, 'node_memory_MemAvailable_bytes'), 3 * GiB * 1024);
  // A new connection counts nothing across it.
  m.recordObservation(obs(20, [0, 0], 2));
  assert.equal(sampleValue(await scrape(m), 'node_cpu_seconds_total', { cpu: '0', mode: 'idle' }), 1.5);

  // Shortfall: from the interval record, the guest to move labelled by UUID.
  const [entry] = await intervalsOf('demo-grader', 3).then((i) => i.slice(-1));
  m.recordInterval(entry!, { dryRun: false });
  const f = await scrape(m);
  const sf = entry!.shortfall!;
  assert.equal(sampleValue(f, 'virtbalance_host_pcpus'), 4);
  assert.equal(sampleValue(f, 'virtbalance_host_cpu_demand_ratio'), sf.cpuDemand);
  assert.equal(sampleValue(f, 'virtbalance_shortfall_cpu_ratio'), sf.cpuShort);
  assert.ok(sf.cpuShort > 3, 'eight busy guests on four pCPUs');
  assert.equal(sampleValue(f, 'virtbalance_shortfall_relief', { resource: 'cpu', domain: sf.cpuRelief!.domain, uuid: sf.cpuRelief!.uuid }), sf.cpuRelief!.amount);
  assert.equal(sampleValue(f, 'virtbalance_shortfall_memory_bytes'), 0);
  assert.equal(sampleValue(f, 'virtbalance_shortfall_seconds', { resource: 'cpu' }), (entry!.timeMs - sf.cpuSinceMs!) / 1000);
  assert.equal(sampleValue(f, 'virtbalance_host_guest_memory_capacity_bytes'), sf.memoryCapacityKiB * 1024);
});

test('virtio-mem per guest: boot, size, requested and plugged follow each interval\'s observed devices; guests without one have none; a gone device\'s series go', async () => {
  // vmem-2: an operator asks vm1's device for memory and later unplugs it (memoryDevice.requests).
  const intervals = await intervalsOf('vmem-2-partial-unplug');
  assert.ok(intervals.every((i) => i.memoryDevices && Object.keys(i.memoryDevices).join() === 'vm1'), 'every interval records vm1\'s device, only it');
  const moved = intervals.filter((i, k) => k > 0 && i.memoryDevices!.vm1!.pluggedKiB !== intervals[k - 1]!.memoryDevices!.vm1!.pluggedKiB);
  assert.ok(moved.length > 0, 'plugged memory moves in this scenario');
  const m = new RunMetrics({ processMetrics: false });
  for (const entry of intervals) {
    m.recordInterval(entry, { dryRun: false });
    const s = await scrape(m);
    const d = entry.memoryDevices!.vm1!;
    for (const [kind, kib] of [['boot', d.bootKiB], ['size', d.sizeKiB], ['requested', d.requestedKiB], ['plugged', d.pluggedKiB]] as const) {
      assert.equal(sampleValue(s, 'virtbalance_guest_memory_device_bytes', { domain: 'vm1', kind }), kib * 1024, `interval ${entry.interval} ${kind}`);
    }
    assert.equal(s.filter((x) => x.name === 'virtbalance_guest_memory_device_bytes' && x.labels.domain !== 'vm1').length, 0, 'balloon-only guests have no series');
  }
  const first = intervals[0]!.memoryDevices!.vm1!;
  assert.deepEqual([first.bootKiB, first.sizeKiB, first.requestedKiB], [512 * 1024, 2048 * 1024, 2048 * 1024]);
  // The operator's request (0 at t=30 s) shows until the coordinator accepts the partial unplug where it stopped.
  assert.ok(intervals.some((i) => i.memoryDevices!.vm1!.requestedKiB === 0), "the operator's request shows");
  // vm1 gone (its device with it): the series go at the next interval.
  const last = intervals.at(-1)!;
  const { memoryDevices: _gone, ...without } = last;
  m.recordInterval({ ...without, interval: last.interval + 1, domains: last.domains.filter((d) => d !== 'vm1') }, { dryRun: false });
  assert.equal((await scrape(m)).filter((x) => x.name === 'virtbalance_guest_memory_device_bytes').length, 0);
  assert.match(await m.text(), /# HELP virtbalance_guest_memory_device_bytes .*boot .*size .*requested .*plugged/);
});

test('a scenario without virtio-mem records no memoryDevices and no device series', async () => {
  const intervals = await intervalsOf('memory-1-one-consumer', 5);
  assert.ok(intervals.every((i) => i.memoryDevices === undefined));
  const m = new RunMetrics({ processMetrics: false });
  for (const entry of intervals) m.recordInterval(entry, { dryRun: false });
  assert.equal((await scrape(m)).filter((x) => x.name === 'virtbalance_guest_memory_device_bytes').length, 0);
});
