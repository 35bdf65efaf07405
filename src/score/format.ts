import type { CpuFairness, CpuScore, CpuTrials } from './cpu.js';
import { HOLD_RULE_TEXT, type TrialHoldRule } from './trials.js';
import type { EpisodeSummary, MemoryScore } from './memory.js';
import type { Score } from './score.js';
import { formatMiB, mibToKiB } from '../ground/units.js';

// The score as a person reads it: a summary block per resource, then a table per VM.


function fixed(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}
function percent(v: number | undefined): string {
  return v === undefined ? '-' : `${(v * 100).toFixed(1)} %`;
}
const mib = (kib: number | undefined): string => formatMiB(kib);

/** Lays out rows as aligned columns; the first row is the heading. Numbers are right-aligned. */
export function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, k) => (widths[k] = Math.max(widths[k] ?? 0, cell.length)));
  const numeric = (cell: string) => /^[-+]?[\d.]+( ?(%|MiB|s))?$|^-$/.test(cell);
  return rows.map((row) =>
    indent + row.map((cell, k) => (k > 0 && numeric(cell) ? cell.padStart(widths[k]!) : cell.padEnd(widths[k]!))).join('  ').trimEnd(),
  );
}

function field(label: string, value: string): string {
  return `  ${label.padEnd(30)} ${value}`;
}

function episodes(e: EpisodeSummary, unit: number | undefined): string {
  if (e.count === 0) return 'none';
  const open = e.open > 0 ? `, ${e.open} still open at the end` : '';
  const seconds = e.meanSeconds !== undefined && unit !== undefined ? ` (mean ${fixed(e.meanSeconds)} s)` : '';
  return `${e.count} episode${e.count === 1 ? '' : 's'}, mean ${fixed(e.meanIntervals)} / max ${e.maxIntervals ?? '-'} intervals${seconds}${open}`;
}

function formatFairness(f: CpuFairness, label: string): string[] {
  const lines = [
    field(`fairness ${label}`, `from interval ${f.fromInterval}, ${f.intervals} intervals, ${f.source === 'truth' ? 'simulator truth' : f.source === 'mixed' ? 'truth and measurement' : 'measured'}`),
    field('  Jain (received/demand)', `all VMs ${fixed(f.jainAll, 3)}, equal-demand groups min ${fixed(f.jainWithinGroupsMin, 3)} (${f.groups.length} group${f.groups.length === 1 ? '' : 's'})`),
    field('  share of fair share', `mean ${percent(f.meanFractionOfFairShare)}, worst ${percent(f.worstFractionOfFairShare?.fraction)}${f.worstFractionOfFairShare ? ` (${f.worstFractionOfFairShare.domain})` : ''}, Jain ${fixed(f.jainFairShare, 3)}`),
  ];
  return lines;
}

/** ` (2 short windows left out)`, or nothing when there were none. */
function shortWindows(cpu: CpuScore): string {
  return cpu.shortWindows > 0 ? ` (${cpu.shortWindows} short window${cpu.shortWindows === 1 ? '' : 's'} left out)` : '';
}

function formatCpu(cpu: CpuScore): string[] {
  const lines = ['CPU'];
  const s = cpu.spread;
  lines.push(field('pCPU spread (points)', s ? `mean ${fixed(s.mean)}, max ${fixed(s.max)}, final ${fixed(s.final)} over ${cpu.intervals} intervals${shortWindows(cpu)}` : '-'));
  lines.push(
    field(
      `balanced (spread <= ${cpu.thresholdPoints})`,
      cpu.balancedAtInterval === undefined
        ? 'never (spread above the threshold at the end)'
        : `from interval ${cpu.balancedAtInterval}: ${cpu.intervalsUntilBalanced} intervals, ${fixed(cpu.secondsUntilBalanced)} s after the start`,
    ),
  );
  const failed = cpu.pinChanges.failed > 0 ? `, ${cpu.pinChanges.failed} failed` : '';
  lines.push(field('pin changes', `${cpu.pinChanges.total} total, ${cpu.pinChanges.afterBalance ?? '-'} after balance${failed}`));
  if (cpu.trials) lines.push(field('trials', trialsLine(cpu.trials)), ...(cpu.trials.held > 0 ? [field('proposals held', heldLine(cpu.trials))] : []));
  if (cpu.fairness) {
    lines.push(...formatFairness(cpu.fairness, '(settled)'));
    if (cpu.fairnessWholeRun && cpu.fairnessWholeRun.intervals !== cpu.fairness.intervals) lines.push(...formatFairness(cpu.fairnessWholeRun, '(whole run)'));
    lines.push('');
    lines.push(
      ...table([
        ['VM', 'demand', 'received', 'fair share', 'recv/demand', 'of fair'],
        ...cpu.fairness.vms.map((v) => [v.domain, percent(v.demand), percent(v.received), percent(v.fairShare), percent(v.receivedOverDemand), percent(v.fractionOfFairShare)]),
      ]),
    );
  }
  return lines;
}

/** `2 started, 1 kept, 1 reverted (pin changes by reverts: 6)`. */
export function trialsLine(t: CpuTrials): string {
  const parts = [`${t.started} started`, `${t.kept} kept`, `${t.reverted} reverted`];
  if (t.abandoned > 0) parts.push(`${t.abandoned} abandoned`);
  const reverts = t.reverted > 0 ? ` (pin changes by reverts: ${t.revertPinChanges})` : '';
  return `${parts.join(', ')}${reverts}`;
}

/** `3 (one trial per demand epoch 2, ...)`. */
export function heldLine(t: CpuTrials): string {
  const by = (Object.entries(t.heldBy) as [TrialHoldRule, number][]).map(([rule, n]) => `${HOLD_RULE_TEXT[rule]}: ${n}`);
  return `${t.held}${by.length ? ` (${by.join('; ')})` : ''}`;
}

function oomLine(m: MemoryScore): string {
  if (!m.oom.known) return 'unknown (no simulator truth, no guest OOM watch)';
  const domains = m.oom.source === 'guest-kills' ? m.oom.kills.map((k) => k.domain) : m.oom.events.map((e) => e.domain);
  let text = `${m.oom.total}${m.oom.total ? ` (${[...new Set(domains)].join(', ')})` : ''}`;
  if (m.oom.source === 'guest-kills') {
    text += ', OOM kills seen in the guests';
    if (m.oom.watchedIntervals < m.intervals) text += ` (watched ${m.oom.watchedIntervals} of ${m.intervals} intervals)`;
  }
  return text;
}

/**
 * A growth episode is a run of intervals in which a guest was starved (its demand grew faster than
 * it was given memory). None means every growing guest was given memory in time, not that none
 * grew: say which guests grew, and by how much, so the two cannot be confused.
 */
export function growthLine(m: MemoryScore, intervalSeconds: number | undefined): string {
  const grew = m.guests.flatMap((g) => (g.largestRise && g.largestRise.toKiB - g.largestRise.fromKiB >= mibToKiB(64) ? [`${g.domain} ${mib(g.largestRise.fromKiB)} → ${mib(g.largestRise.toKiB)}`] : []));
  if (m.growth.count === 0) return grew.length > 0 ? `never: ${grew.join(', ')} grew and got memory before running short` : 'never (no balloon grew)';
  return `${episodes(m.growth, intervalSeconds)}${grew.length > 0 ? ` (grew: ${grew.join(', ')})` : ''}`;
}

function formatMemory(m: MemoryScore, intervalSeconds: number | undefined): string[] {
  const lines = ['Memory'];
  const starvedBy = m.guests.filter((g) => g.starvedIntervals > 0).map((g) => `${g.domain} ${g.starvedIntervals}`);
  lines.push(field(`starved (< ${mib(m.thresholdKiB)} spare)`, `${m.starvedIntervals} of ${m.intervals} intervals${starvedBy.length ? ` (${starvedBy.join(', ')})` : ''}`));
  lines.push(field('OOM events', oomLine(m)));
  if (m.host) {
    const verdict = m.host.belowReserve ? `BELOW RESERVE in ${m.host.intervalsBelowReserve} interval${m.host.intervalsBelowReserve === 1 ? '' : 's'}` : 'never below reserve';
    lines.push(field('host free, lowest', `${mib(m.host.minFreeKiB)} at interval ${m.host.atInterval} (reserve ${mib(m.host.reserveKiB)}): ${verdict}`));
  }
  lines.push(field('short while demand grew', growthLine(m, intervalSeconds)));
  lines.push(field('reclaiming after a load stops', episodes(m.reclaim, intervalSeconds)));
  if (m.held) lines.push(field('host memory held', `${fixed(m.held.gibSeconds)} GiB·s, peak ${mib(m.held.peakKiB)} (guests' resident set)`));
  if (m.cache) {
    lines.push(field('cold cache held', `${fixed(m.cache.coldMiBSeconds, 0)} MiB·s`));
    lines.push(field('refaults', `${fixed(m.cache.refaultMiB, 0)} MiB, ${fixed(m.cache.coordinatorRefaultMiB, 0)} MiB of them caused by the coordinator`));
    lines.push(field('read stall', `${fixed(m.cache.readStallSeconds)} s`));
  }
  lines.push('');
  lines.push(
    ...table([
      ['VM', 'min actual', 'max actual', 'floor', 'maximum', 'starved', 'OOM', 'growth', 'reclaim', ...(m.held ? ['held GiB·s', 'peak RSS'] : [])],
      ...m.guests.map((g) => [
        g.domain,
        mib(g.minActualKiB),
        mib(g.maxActualKiB),
        mib(g.floorKiB),
        mib(g.maximumKiB),
        String(g.starvedIntervals),
        m.oom.known ? String(g.oomEvents) : '-',
        g.growth.map((e) => e.intervals ?? 'open').join(' ') || '-',
        g.reclaim.map((e) => e.intervals ?? 'open').join(' ') || '-',
        ...(m.held ? heldCells(m, g.domain) : []),
      ]),
    ]),
  );
  if (m.cache && m.cache.guests.length > 0) {
    lines.push('');
    lines.push(
      ...table([
        ['VM', 'cold MiB·s', 'peak cold', 'peak hot', 'refaults', 'by coordinator', 'read stall'],
        ...m.cache.guests.map((g) => [
          g.domain,
          fixed(g.coldMiBSeconds, 0),
          `${fixed(g.peakColdMiB, 0)} MiB`,
          `${fixed(g.peakHotMiB, 0)} MiB`,
          `${fixed(g.refaultMiB, 0)} MiB`,
          `${fixed(g.coordinatorRefaultMiB, 0)} MiB`,
          `${fixed(g.readStallSeconds)} s`,
        ]),
      ]),
    );
  }
  return lines;
}

function heldCells(m: MemoryScore, domain: string): string[] {
  const h = m.held?.guests.find((x) => x.domain === domain);
  return h ? [fixed(h.gibSeconds), mib(h.peakKiB)] : ['-', '-'];
}

export function formatScore(score: Score): string {
  const t = score.trace;
  const lines = [
    `Trace   ${t.target}${t.scenario ? ` (${t.scenario})` : ''}`,
    `        ${t.intervals} intervals${t.intervalSeconds ? ` of ${t.intervalSeconds} s` : ''}, ${fixed(t.durationSeconds)} s, ${t.pcpus ?? '?'} pCPUs, ${t.truth ? 'with simulator truth' : 'measured only (no truth)'}`,
    '',
  ];
  if (score.cpu) lines.push(...formatCpu(score.cpu), '');
  if (score.memory) lines.push(...formatMemory(score.memory, t.intervalSeconds), '');
  if (!score.cpu && !score.memory) lines.push('No CPU or memory records in this trace.', '');
  return lines.join('\n').trimEnd() + '\n';
}
