import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TraceHeader, TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { decisionLog, renderReport } from '../../src/web/report.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { trialTrace } from '../score/fixtures.js';
import { fixture, runCli } from './helpers.js';

async function traceOf(name: string): Promise<TraceLine[]> {
  return simulateScenario(loadScenario(resolveScenarioPath(name)));
}

function assertSelfContained(html: string): void {
  assert.doesNotMatch(html, /<script/i, 'no scripts');
  assert.doesNotMatch(html, /<link\b/i, 'no linked stylesheets');
  assert.doesNotMatch(html, /<(img|iframe|object|embed)\b/i, 'no embedded files');
  assert.doesNotMatch(html, /\b(src|href)\s*=\s*["'](?!#)/i, 'no references outside the file');
  assert.doesNotMatch(html, /url\(\s*["']?(?!#|data:)/i, 'no CSS url() outside the file');
}

test('report: plots, score and every decision in one file that needs nothing else', async () => {
  const lines = await traceOf('mixed-1-lifecycle');
  const intervals = lines.slice(1) as TraceInterval[];
  const html = renderReport(lines, { source: 'mixed.jsonl' });
  assertSelfContained(html);
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg\b/g) ?? []).length, 2, 'the CPU and the memory plot');
  assert.match(html, /pCPU usage: sim:mixed-1-lifecycle/);
  assert.match(html, /<h2>CPU<\/h2>/);
  assert.match(html, /<h2>Memory<\/h2>/);
  // The verdicts first, then the score's detail, then the plots, then the log.
  const at = (re: RegExp) => html.search(re);
  assert.ok(at(/<h2>Summary<\/h2>/) > 0 && at(/<h2>Summary<\/h2>/) < at(/<h2>CPU<\/h2>/), 'summary before the score');
  assert.ok(at(/<h2>Memory<\/h2>/) < at(/<svg\b/), 'score before the plots');
  assert.ok(at(/<svg\b/) < at(/<h2>Decision log<\/h2>/), 'plots before the log');
  assert.match(html, /<dt>CPU balance<\/dt><dd class="(good|bad)">/);
  assert.match(html, /<dt>OOM kills<\/dt><dd class="good">0<\/dd>/);
  const actions = intervals.flatMap((i) => i.actions);
  const notices = intervals.flatMap((i) => i.notices);
  const rows = html.match(/<tr class="k-/g) ?? [];
  // One row per action and notice, and one per trial started, kept, reverted or abandoned.
  const trialRows = decisionLog(intervals).filter((r) => r.kind === 'trial').length;
  assert.equal(trialRows, intervals.filter((i) => ['started', 'kept', 'reverted', 'abandoned'].includes(i.cpu?.trial?.event ?? '')).length);
  assert.equal(rows.length, actions.length + notices.length + trialRows);
  assert.equal(decisionLog(intervals).filter((r) => r.kind === 'pin').length, actions.filter((a) => a.kind === 'pin').length);
  // Every reason is in the log, as text.
  for (const a of actions.slice(0, 20)) assert.ok(html.includes(a.reason.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')), a.reason);
});

test('report: a run with the simulator\'s page cache shows what cache was held and refaulted', async () => {
  const html = renderReport(await traceOf('cache-1-scan'));
  assertSelfContained(html);
  assert.match(html, /<dt>cold cache held<\/dt><dd>\d+ MiB·s<\/dd>/);
  assert.match(html, /<h3>Page cache \(simulator truth\)<\/h3>/);
  assert.match(html, /<td>vm1<\/td><td class="num">\d+<\/td><td class="num">\d+ MiB<\/td>/);
  assert.doesNotMatch(renderReport(await traceOf('memory-2-all-consume')), /Page cache/, 'no cache, no cache section');
});

test('report: names and reasons from the host are text, never markup', async () => {
  const lines = await traceOf('cpu-2-all-on-pcpu0');
  const hostile = '<img src=x onerror=alert(1)>';
  const poisoned = lines.map((l) => (l.type === 'header' ? { ...l, target: `qemu+ssh://${hostile}/system` } : { ...l, notices: [{ domain: hostile, message: `</td><script>alert(2)</script>` }] })) as TraceLine[];
  const html = renderReport(poisoned);
  assertSelfContained(html);
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
});

test('report: a CPU-only trace has no memory section; a trace without decisions says so', async () => {
  const lines = await traceOf('cpu-1-balanced');
  const html = renderReport(lines);
  assert.equal((html.match(/<svg\b/g) ?? []).length, 1);
  assert.doesNotMatch(html, /<h2>Memory<\/h2>/);
  const header = lines[0] as TraceHeader;
  const quiet = renderReport([header, { type: 'interval', interval: 0, timeMs: 0, domains: [], actions: [], failures: [], notices: [] }]);
  assert.match(quiet, /No decisions in this trace/);
  assert.match(quiet, /No CPU or memory records/);
});

test('CLI: report TRACE writes TRACE.html by default, -o elsewhere; bad input is one line, exit 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vb-report-'));
  const trace = join(dir, 'run1.jsonl');
  await writeFile(trace, (await traceOf('memory-1-one-consumer')).map((l) => JSON.stringify(l)).join('\n') + '\n');
  const byDefault = await runCli(['report', trace]);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.match(byDefault.stdout, /^report: .*run1\.html \(\d+ KiB\)\n$/);
  const html = await readFile(join(dir, 'run1.html'), 'utf8');
  assertSelfContained(html);
  assert.match(html, /memory-1-one-consumer/);
  const out = join(dir, 'sub', 'r.html');
  assert.equal((await runCli(['report', trace, '-o', out])).code, 0);
  assert.ok(existsSync(out));

  await writeFile(join(dir, 'bad.jsonl'), '{"type":"header"}\n');
  const bad = await runCli(['report', join(dir, 'bad.jsonl')]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /bad\.jsonl:1:/);
  const missing = await runCli(['report']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /expected one trace file/);
});

test('report: the decision log lists each trial started, kept, reverted or abandoned with its figures before its pins; the summary counts trials and reverts', () => {
  const lines = trialTrace();
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  const trials = decisionLog(intervals).filter((r) => r.kind === 'trial');
  assert.deepEqual(trials.map((r) => [r.interval, r.outcome, r.change]), [
    [1, 'started', 'started, epoch 1: before, worst 55 % of fair share'],
    [5, 'reverted', 'reverted: worst 51 % vs 55 % of fair share'],
    [9, 'started', 'started, epoch 2: before, worst 55 % of fair share'],
    [12, 'kept', 'kept: worst 88 % vs 55 % of fair share'],
    [14, 'started', 'started, epoch 3: before, worst 88 % of fair share'],
    [16, 'abandoned', 'abandoned before it was measured'],
    [16, 'started', 'started, epoch 4: before, worst 70 % of fair share'],
  ]);
  // Reasons: the trial loop's own clause (cpu.trial.text).
  assert.equal(trials[1]!.reason, 'trial reverted (measured worse): worst 51 % of fair share, before worst 55 % of fair share');
  assert.equal(trials[5]!.reason, 'demands changed: vm1 vCPU0 demand 1.00 → 0.60 (band ±0.05)');
  // A trial's row comes before the pins it made (or the revert's pins).
  const log = decisionLog(intervals);
  const revertAt = log.findIndex((r) => r.outcome === 'reverted');
  assert.equal(log[revertAt + 1]!.kind, 'pin');
  assert.equal(log[revertAt + 1]!.interval, 5);

  const html = renderReport(lines);
  assertSelfContained(html);
  assert.match(html, /<dt>trials<\/dt><dd class="bad">4 started, 1 kept, 1 reverted, 1 abandoned \(pin changes by reverts: 2\)<\/dd>/);
  assert.match(html, /<dt>proposals held<\/dt><dd>2 \(one trial per demand epoch: 1; the placement in force was left once before in this epoch: 1\)<\/dd>/);
  assert.match(html, /<dt>decisions<\/dt><dd>10 actions, 0 failed/, 'trial rows are not actions');
  assert.match(html, /<tr class="k-trial k-trial-reverted"><td class="num">5<\/td><td class="num">0:05<\/td><td><span class="badge">trial reverted<\/span><\/td><td><\/td><td class="change">reverted: worst 51 % vs 55 % of fair share<\/td>/);
  assert.match(html, /4 trial started/);
  assert.match(html, /1 trial reverted/);
});

test('report: a simulated run whose trial is measured worse shows it started and lost, the host alone tried instead and reverted', async () => {
  const lines = await simulateScenario(loadScenario(fixture('bursty-paired.yaml')), { cpu: { ...defaultCpuSchedulerOptions, objective: 'fairness' }, intervals: 10 });
  const trials = decisionLog(lines.filter((l): l is TraceInterval => l.type === 'interval')).filter((r) => r.kind === 'trial');
  assert.deepEqual(trials.map((r) => r.outcome), ['started', 'reverted', 'started', 'reverted']);
  assert.match(trials[1]!.change, /^reverted: worst 5\d % vs 8\d % of fair share$/);
  assert.equal(trials[1]!.interval, trials[2]!.interval, 'the host alone is tried where the first trial lost, not after going back');
  assert.match(trials[3]!.change, /^reverted: worst 6\d % vs 8\d % of fair share$/);
  assert.match(renderReport(lines), /<dt>trials<\/dt><dd class="bad">2 started, 0 kept, 2 reverted \(pin changes by reverts: \d+\)<\/dd>/);
});

test('a virtio-mem resize is a plug or unplug row of the decision log, with from, to and the change in MiB', () => {
  const resize = (fromMiB: number, toMiB: number) => ({ kind: 'resize-memory-device' as const, domain: { name: 'vm1', uuid: 'u' }, fromKiB: fromMiB * 1024, requestedKiB: toMiB * 1024, reason: 'why' });
  const entry: TraceInterval = { type: 'interval', interval: 3, timeMs: 6000, domains: ['vm1'], actions: [resize(0, 1024), resize(1024, 256)], failures: [], notices: [] };
  const rows = decisionLog([entry]).map((r) => [r.kind, r.domain, r.change, r.reason]);
  assert.deepEqual(rows, [
    ['plug', 'vm1', 'virtio-mem 0 MiB → 1024 MiB (+1024)', 'why'],
    ['unplug', 'vm1', 'virtio-mem 1024 MiB → 256 MiB (−768)', 'why'],
  ]);
});
