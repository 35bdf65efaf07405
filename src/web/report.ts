import type { Action } from '../ground/actions.js';
import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { hasCpuData, hasMemoryData, plotCpu, plotMemory } from '../plot/index.js';
import { formatScore, scoreTrace, splitTrace, type Score, type ScoreOptions } from '../score/index.js';
import { growthLine, heldLine, trialsLine } from '../score/format.js';
import { abandonedBecause, fairPercent, TrialCounter, type TrialOutcome } from '../score/trials.js';
import type { EpisodeSummary } from '../score/index.js';

// A run as one self-contained HTML file: the SVG plots inlined, the score as tables, and the
// decision log. No scripts, no external files: it opens offline, prints, and can be mailed.

const MiB = 1024;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = escapeHtml;
const fixed = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const percent = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)} %`);
const mib = (kib: number | undefined) => (kib === undefined ? '–' : `${Math.round(kib / MiB)} MiB`);
const clock = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

function table(head: string[], rows: string[][], numericFrom = 1): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, k) => `<td${k >= numericFrom ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function facts(rows: [string, string, ('good' | 'bad')?][]): string {
  return `<dl class="facts">${rows.map(([k, v, tone]) => `<dt>${esc(k)}</dt><dd${tone ? ` class="${tone}"` : ''}>${esc(v)}</dd>`).join('')}</dl>`;
}

function episodes(e: EpisodeSummary): string {
  if (e.count === 0) return 'none';
  return `${e.count}, mean ${fixed(e.meanIntervals)} / max ${e.maxIntervals ?? '–'} intervals${e.meanSeconds !== undefined ? ` (mean ${fixed(e.meanSeconds)} s)` : ''}${e.open ? `, ${e.open} open at the end` : ''}`;
}

/** The verdicts on one screen, before any detail: is it balanced, fair, fed, safe, and how busy. */
function summarySection(score: Score, intervals: TraceInterval[]): string {
  const rows: [string, string, ('good' | 'bad')?][] = [];
  const cpu = score.cpu;
  if (cpu) {
    rows.push([
      'CPU balance',
      cpu.balancedAtInterval === undefined ? `never balanced (final spread ${fixed(cpu.spread?.final)} points)` : `balanced from interval ${cpu.balancedAtInterval} (${fixed(cpu.secondsUntilBalanced)} s), final spread ${fixed(cpu.spread?.final)} points`,
      cpu.balancedAtInterval === undefined ? 'bad' : 'good',
    ]);
    rows.push(['pin changes', `${cpu.pinChanges.total} (${cpu.pinChanges.afterBalance ?? '–'} after balance)`, cpu.pinChanges.failed ? 'bad' : undefined]);
    if (cpu.trials) rows.push(['trials', trialsLine(cpu.trials), cpu.trials.reverted ? 'bad' : undefined]);
    if (cpu.fairness) rows.push(['fairness (Jain)', `${fixed(cpu.fairness.jainAll, 3)} over all VMs; worst VM got ${percent(cpu.fairness.worstFractionOfFairShare?.fraction)} of its fair share`]);
  }
  const m = score.memory;
  if (m) {
    rows.push(['starved guests', m.starvedIntervals === 0 ? 'never' : `in ${m.starvedIntervals} of ${m.intervals} intervals`, m.starvedIntervals ? 'bad' : 'good']);
    rows.push(['OOM kills', m.oom.known ? String(m.oom.total) : 'unknown', m.oom.known ? (m.oom.total ? 'bad' : 'good') : undefined]);
    if (m.host) rows.push(['host reserve', m.host.belowReserve ? `breached in ${m.host.intervalsBelowReserve} intervals` : `kept (lowest free ${mib(m.host.minFreeKiB)})`, m.host.belowReserve ? 'bad' : 'good']);
    rows.push(['short while demand grew', growthLine(m, score.trace.intervalSeconds)]);
  }
  const decisions = decisionLog(intervals);
  const failed = decisions.filter((d) => d.kind === 'failed').length;
  rows.push(['decisions', `${decisions.filter((d) => ACTION_KINDS.has(d.kind)).length} actions, ${failed} failed (log at the end)`, failed ? 'bad' : undefined]);
  return `<section class="summary"><h2>Summary</h2>${facts(rows)}</section>`;
}

function cpuSection(score: Score): string {
  const cpu = score.cpu;
  if (!cpu) return '';
  const parts = [
    facts([
      ['pCPU spread', cpu.spread ? `mean ${fixed(cpu.spread.mean)}, max ${fixed(cpu.spread.max)}, final ${fixed(cpu.spread.final)} points` : '–'],
      [`balanced (spread ≤ ${cpu.thresholdPoints})`, cpu.balancedAtInterval === undefined ? 'never' : `from interval ${cpu.balancedAtInterval} (${fixed(cpu.secondsUntilBalanced)} s)`, cpu.balancedAtInterval === undefined ? 'bad' : 'good'],
      ['pin changes', `${cpu.pinChanges.total} in all, ${cpu.pinChanges.afterBalance ?? '–'} after balance${cpu.pinChanges.failed ? `, ${cpu.pinChanges.failed} failed` : ''}`, cpu.pinChanges.failed ? 'bad' : undefined],
      ...(cpu.trials
        ? ([
            ['trials (measured, kept or reverted)', trialsLine(cpu.trials), cpu.trials.reverted ? 'bad' : undefined],
            ...(cpu.trials.held ? [['proposals held', heldLine(cpu.trials)]] : []),
          ] as [string, string, ('good' | 'bad')?][])
        : []),
      ...(cpu.fairness
        ? ([
            ['Jain, received/demand', `all VMs ${fixed(cpu.fairness.jainAll, 3)}, equal-demand groups min ${fixed(cpu.fairness.jainWithinGroupsMin, 3)}`],
            ['share of fair share', `mean ${percent(cpu.fairness.meanFractionOfFairShare)}, worst ${percent(cpu.fairness.worstFractionOfFairShare?.fraction)}${cpu.fairness.worstFractionOfFairShare ? ` (${cpu.fairness.worstFractionOfFairShare.domain})` : ''}`],
            ['fairness measured', `from interval ${cpu.fairness.fromInterval}, ${cpu.fairness.intervals} intervals, ${cpu.fairness.source === 'truth' ? 'simulator truth' : cpu.fairness.source}`],
          ] as [string, string][])
        : []),
    ]),
  ];
  if (cpu.fairness) {
    parts.push(table(['VM', 'demand', 'received', 'fair share', 'received / demand', 'of fair share'], cpu.fairness.vms.map((v) => [v.domain, percent(v.demand), percent(v.received), percent(v.fairShare), percent(v.receivedOverDemand), percent(v.fractionOfFairShare)])));
  }
  return `<section><h2>CPU</h2>${parts.join('\n')}</section>`;
}

function memorySection(score: Score): string {
  const m = score.memory;
  if (!m) return '';
  const rows: [string, string, ('good' | 'bad')?][] = [
    [`starved (< ${mib(m.thresholdKiB)} spare)`, `${m.starvedIntervals} of ${m.intervals} intervals`, m.starvedIntervals ? 'bad' : 'good'],
    ['OOM kills', m.oom.known ? String(m.oom.total) : 'unknown (no simulator truth)', m.oom.known ? (m.oom.total ? 'bad' : 'good') : undefined],
  ];
  if (m.host) rows.push(['host free, lowest', `${mib(m.host.minFreeKiB)} at interval ${m.host.atInterval} (reserve ${mib(m.host.reserveKiB)})${m.host.belowReserve ? `: below reserve in ${m.host.intervalsBelowReserve}` : ''}`, m.host.belowReserve ? 'bad' : 'good']);
  rows.push(['short while demand grew', growthLine(m, score.trace.intervalSeconds)], ['reclaiming after a load stops', episodes(m.reclaim)]);
  const guests = table(
    ['VM', 'min actual', 'max actual', 'floor', 'maximum', 'starved', 'OOM', 'growth (intervals)', 'reclaim (intervals)'],
    m.guests.map((g) => [
      g.domain, mib(g.minActualKiB), mib(g.maxActualKiB), mib(g.floorKiB), mib(g.maximumKiB), String(g.starvedIntervals),
      m.oom.known ? String(g.oomEvents) : '–',
      g.growth.map((e) => e.intervals ?? 'open').join(' ') || '–',
      g.reclaim.map((e) => e.intervals ?? 'open').join(' ') || '–',
    ]),
  );
  const c = m.cache;
  if (!c) return `<section><h2>Memory</h2>${facts(rows)}\n${guests}</section>`;
  rows.push(
    ['cold cache held', `${fixed(c.coldMiBSeconds, 0)} MiB·s`],
    ['refaults', `${fixed(c.refaultMiB, 0)} MiB, ${fixed(c.coordinatorRefaultMiB, 0)} MiB caused by the coordinator`, c.coordinatorRefaultMiB > 0 ? 'bad' : 'good'],
    ['read stall', `${fixed(c.readStallSeconds)} s`],
  );
  const cache = table(
    ['VM', 'cold cache (MiB·s)', 'peak cold', 'peak hot', 'refaults', 'by the coordinator', 'read stall'],
    c.guests.map((g) => [g.domain, fixed(g.coldMiBSeconds, 0), `${fixed(g.peakColdMiB, 0)} MiB`, `${fixed(g.peakHotMiB, 0)} MiB`, `${fixed(g.refaultMiB, 0)} MiB`, `${fixed(g.coordinatorRefaultMiB, 0)} MiB`, `${fixed(g.readStallSeconds)} s`]),
  );
  return `<section><h2>Memory</h2>${facts(rows)}\n${guests}\n<h3>Page cache (simulator truth)</h3>\n${cache}</section>`;
}

interface LogRow {
  interval: number;
  timeMs: number;
  kind: string;
  domain: string;
  change: string;
  reason: string;
  /** Rows of kind `trial`: what became of it. */
  outcome?: TrialOutcome;
}

/** Kinds of log rows that are actions on the host. */
const ACTION_KINDS = new Set(['pin', 'grow', 'shrink', 'stats', 'weight', 'plug', 'unplug']);

/** The trial outcomes of one interval as log rows (before its actions: they are the trial's pins). */
function trialRows(entry: TraceInterval, outcomes: TrialOutcome[]): LogRow[] {
  const trial = entry.cpu?.trial;
  const before = fairPercent(trial?.baseline?.worstFraction);
  const tried = fairPercent(trial?.measured?.worstFraction);
  const base = { interval: entry.interval, timeMs: entry.timeMs, kind: 'trial', domain: '' };
  return outcomes.map((outcome): LogRow => {
    switch (outcome) {
      case 'started':
        return { ...base, outcome, change: `started, epoch ${trial?.epoch}: before, worst ${before} of fair share`, reason: trial?.text ?? 'a placement change, to be measured' };
      case 'kept':
        return { ...base, outcome, change: `kept: worst ${tried} vs ${before} of fair share`, reason: trial?.text ?? 'measured as good or better' };
      case 'reverted':
        return { ...base, outcome, change: `reverted: worst ${tried} vs ${before} of fair share`, reason: trial?.text ?? 'measured worse: the moved vCPUs go back' };
      case 'abandoned':
        return { ...base, outcome, change: 'abandoned before it was measured', reason: `demands changed: ${abandonedBecause(trial) ?? 'a new demand epoch began'}` };
    }
  });
}

function actionRow(entry: TraceInterval, action: Action): LogRow {
  const base = { interval: entry.interval, timeMs: entry.timeMs, domain: action.domain.name, reason: action.reason };
  switch (action.kind) {
    case 'pin':
      return { ...base, kind: 'pin', change: `vCPU${action.vcpu} [${action.previous.join(',')}] → [${action.pcpus.join(',')}]` };
    case 'set-memory': {
      const delta = Math.round((action.targetKiB - action.fromKiB) / MiB);
      return { ...base, kind: delta >= 0 ? 'grow' : 'shrink', change: `${mib(action.fromKiB)} → ${mib(action.targetKiB)} (${delta >= 0 ? '+' : '−'}${Math.abs(delta)})` };
    }
    case 'set-stats-period':
      return { ...base, kind: 'stats', change: `stats every ${action.seconds} s` };
    case 'set-cpu-weight':
      return { ...base, kind: 'weight', change: `CPU weight ${action.previous} → ${action.weight}` };
    case 'resize-memory-device': {
      const delta = Math.round((action.requestedKiB - action.fromKiB) / MiB);
      return { ...base, kind: delta >= 0 ? 'plug' : 'unplug', change: `virtio-mem ${mib(action.fromKiB)} → ${mib(action.requestedKiB)} (${delta >= 0 ? '+' : '−'}${Math.abs(delta)})` };
    }
  }
}

export function decisionLog(intervals: TraceInterval[]): LogRow[] {
  const rows: LogRow[] = [];
  const trials = new TrialCounter();
  for (const entry of intervals) {
    rows.push(...trialRows(entry, trials.add(entry).outcomes));
    for (const action of entry.actions) rows.push(actionRow(entry, action));
    for (const f of entry.failures) rows.push({ ...actionRow(entry, f.action), kind: 'failed', reason: f.error });
    for (const n of entry.notices) rows.push({ interval: entry.interval, timeMs: entry.timeMs, kind: 'note', domain: n.domain ?? '', change: '', reason: n.message });
    for (const o of entry.truth?.oomEvents ?? []) rows.push({ interval: entry.interval, timeMs: entry.timeMs, kind: 'oom', domain: o.domain, change: `wanted ${mib(o.demandKiB)}, had ${mib(o.actualKiB)}`, reason: 'the guest OOM killer ran (simulator truth)' });
    // Real guests' OOM kills, where the run watched their consoles (lab runs).
    for (const k of (entry as { oomKills?: { domain: string; process: string; pid: number }[] }).oomKills ?? []) {
      rows.push({ interval: entry.interval, timeMs: entry.timeMs, kind: 'oom', domain: k.domain, change: `killed ${k.process} (pid ${k.pid})`, reason: 'the guest OOM killer ran (seen on its console)' });
    }
  }
  return rows;
}

function logSection(intervals: TraceInterval[]): string {
  const rows = decisionLog(intervals);
  if (rows.length === 0) return '<section><h2>Decision log</h2><p class="muted">No decisions in this trace.</p></section>';
  const counts = new Map<string, number>();
  for (const r of rows) {
    const kind = r.outcome ? `trial ${r.outcome}` : r.kind;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(' · ');
  const body = rows
    .map((r) => `<tr class="k-${r.kind}${r.outcome ? ` k-trial-${r.outcome}` : ''}"><td class="num">${r.interval}</td><td class="num">${clock(r.timeMs)}</td><td><span class="badge">${esc(r.outcome ? `trial ${r.outcome}` : r.kind)}</span></td><td>${esc(r.domain)}</td><td class="change">${esc(r.change)}</td><td class="reason">${esc(r.reason)}</td></tr>`)
    .join('\n');
  return `<section><h2>Decision log</h2><p class="muted">${esc(summary)}</p><table class="log"><thead><tr><th>#</th><th>t</th><th>kind</th><th>VM</th><th>change</th><th>reason</th></tr></thead><tbody>\n${body}\n</tbody></table></section>`;
}

const STYLE = `
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --good: #1a7f37; --bad: #cf222e; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif; color: var(--ink); background: #f6f8fa; }
header { background: #0d1117; color: #e6edf3; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header .meta { color: #9aa7b4; font-size: 13px; display: flex; gap: 4px 16px; flex-wrap: wrap; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 16px 0; overflow-x: auto; }
h2 { font-size: 15px; margin: 0 0 10px; text-transform: uppercase; letter-spacing: .4px; color: #3d444d; }
.muted { color: var(--muted); }
.plot svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0 0 12px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
dd.good { color: var(--good); } dd.bad { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; font-size: 13px; min-width: 60%; }
table.log { width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { color: var(--muted); font-weight: 600; border-bottom-color: var(--line); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.log td.change { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.log td.reason { color: var(--muted); }
.badge { display: inline-block; min-width: 52px; text-align: center; font-size: 11px; font-weight: 700; border-radius: 4px; padding: 0 5px; background: #eaeef2; color: #3d444d; text-transform: uppercase; }
.k-pin .badge { background: #ddf4ff; color: #0550ae; }
.k-grow .badge { background: #dafbe1; color: #116329; }
.k-shrink .badge { background: #fff1e5; color: #953800; }
.k-failed .badge, .k-oom .badge { background: #ffebe9; color: var(--bad); }
.k-failed td.reason { color: var(--bad); }
.k-trial .badge { background: #fbefff; color: #6639ba; }
.k-trial-kept .badge { background: #dafbe1; color: #116329; }
.k-trial-reverted .badge { background: var(--bad); color: #fff; }
.k-trial-reverted td { background: #fff5f5; }
.k-trial-reverted td.change { color: var(--bad); font-weight: 600; }
details pre { background: #f6f8fa; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
@media print { body { background: #fff; } section { break-inside: avoid-page; border: none; } header { color: #000; background: none; } }
`;

export interface ReportOptions extends ScoreOptions {
  /** Where the trace came from, shown in the report. */
  source?: string;
}

/** The whole report as one HTML document. */
export function renderReport(lines: TraceLine[], options: ReportOptions = {}): string {
  const { header, intervals } = splitTrace(lines);
  const score = scoreTrace(lines, options);
  const t = score.trace;
  const title = `virtbalance report: ${t.target}${t.scenario && !t.target.includes(t.scenario) ? ` (${t.scenario})` : ''}`;
  const meta = [
    header ? `started ${header.startedAt}` : '',
    `${t.intervals} intervals${t.intervalSeconds ? ` of ${t.intervalSeconds} s` : ''} (${fixed(t.durationSeconds)} s)`,
    t.pcpus ? `${t.pcpus} pCPUs` : '',
    header ? [header.controllers.cpu ? 'vCPU scheduler' : '', header.controllers.memory ? 'memory coordinator' : ''].filter(Boolean).join(' + ') : '',
    t.truth ? 'simulated (with ground truth)' : 'measured',
    options.source ? `trace: ${options.source}` : '',
  ].filter(Boolean);
  const plots: string[] = [];
  if (hasCpuData(intervals)) plots.push(plotCpu(lines, { thresholdPoints: options.balanceThresholdPoints }));
  if (hasMemoryData(intervals)) plots.push(plotMemory(lines, { starvationThresholdKiB: options.starvationThresholdKiB }));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><div class="meta">${meta.map((m) => `<span>${esc(m)}</span>`).join('')}</div></header>
<main>
${summarySection(score, intervals)}
${cpuSection(score)}
${memorySection(score)}
${!score.cpu && !score.memory ? '<section><p class="muted">No CPU or memory records in this trace.</p></section>' : ''}
${plots.map((svg) => `<section class="plot">${svg.replace(/^<\?xml[^>]*>\s*/, '')}</section>`).join('\n')}
<section><details><summary>Score as text (as <code>virtbalance score</code> prints it)</summary><pre>${esc(formatScore(score))}</pre></details></section>
${logSection(intervals)}
</main>
</body>
</html>
`;
}
