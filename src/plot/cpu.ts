import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { pinChanges, scoreCpu, defaultCpuScoreOptions } from '../score/cpu.js';
import { splitTrace } from '../score/read-trace.js';
import { frame, INK, legendColumn, MUTED, PALETTE, panel, type LegendItem } from './frame.js';
import { document, el, escapeXml, linePath, num, text } from './svg.js';

// pCPU usage over time: one line per pCPU, the balance band around the mean, and the pin changes
// as markers in a strip above the plot (with a faint line down to where they took effect).

export interface CpuPlotOptions {
  /** Width of the balance band in percentage points (the score's balance threshold). */
  thresholdPoints?: number;
  width?: number;
  height?: number;
}

const BAND = '#59a14f';
const BALANCED = '#2e7d32';
const PIN = '#444444';

export function hasCpuData(intervals: TraceInterval[]): boolean {
  return intervals.some((i) => i.cpu !== undefined && i.cpu.elapsedNs > 0 && i.cpu.pcpuUsage.length > 0);
}

function pinMarker(size = 7): string {
  return el('path', { d: `M${-size / 2} ${-size / 2}H${size / 2}L0 ${size / 2}Z`, fill: PIN });
}

export function plotCpu(lines: TraceLine[], options: CpuPlotOptions = {}): string {
  const { header, intervals } = splitTrace(lines);
  const threshold = options.thresholdPoints ?? defaultCpuScoreOptions.balanceThresholdPoints;
  const width = options.width ?? 960;
  const height = options.height ?? 500;
  const heading = `pCPU usage: ${header?.target ?? 'trace'}${header?.scenario && !header.target.includes(header.scenario) ? ` (${header.scenario})` : ''}`;
  const measured = intervals.filter((i) => i.cpu !== undefined && i.cpu.elapsedNs > 0 && i.cpu.pcpuUsage.length > 0 && i.cpu.shortWindow !== true);
  if (measured.length === 0) {
    return document(width, 120, heading, text(24, 40, heading, { 'font-size': 16, 'font-weight': 600, fill: INK }), text(24, 70, 'No CPU measurements in this trace.', { fill: MUTED }));
  }

  const score = scoreCpu(intervals, header?.pcpus, { ...defaultCpuScoreOptions, balanceThresholdPoints: threshold });
  const pins = pinChanges(intervals).changes;
  const pcpus = Math.max(...measured.map((i) => i.cpu!.pcpuUsage.length));
  const times = [...measured.map((i) => i.timeMs / 1000), ...pins.map((p) => p.timeMs / 1000)];
  // Rounding in the measurement can read a hair over 100 %: keep the axis at 100 then.
  // Demand per pCPU (run + wait of its vCPUs) shows crowding that saturated usage hides; drawn
  // only when it differs from usage somewhere.
  const showDemand = measured.some((i) => i.cpu!.pcpuDemand?.some((d, c) => Math.abs(d - (i.cpu!.pcpuUsage[c] ?? d)) > 0.01));
  // The first measured interval often shows the crowding the run starts from (eight busy vCPUs on
  // one pCPU: demand 800 %); scaled to it, the rest of the run is a flat line. The axis follows the
  // rest of the run, the first interval's excess is clipped and said in a note.
  const peakOf = (list: TraceInterval[]) => Math.max(0, ...list.flatMap((i) => [...i.cpu!.pcpuUsage, ...(showDemand ? i.cpu!.pcpuDemand ?? [] : [])].map((u) => u * 100)));
  const rest = measured.length > 2 ? measured.slice(1) : measured;
  const peak = peakOf(rest);
  const maxUsage = peak <= 102 ? 100 : Math.ceil(peak / 10) * 10;
  const firstPeak = peakOf(measured.slice(0, 1));
  const offScale = firstPeak > maxUsage + 0.5 ? firstPeak : undefined;

  const left = 72;
  const right = 190;
  const top = 92;
  const p = panel({
    id: 'cpu', left, top, width: width - left - right, height: height - top - 58,
    xDomain: [Math.min(...times), Math.max(...times)], yDomain: [0, maxUsage], yTicks: 5,
  });
  const parts: string[] = [];
  parts.push(text(left, 30, heading, { 'font-size': 16, 'font-weight': 600, fill: INK }));
  const balancedText = score.balancedAtInterval === undefined
    ? 'never balanced'
    : `balanced from ${num(score.secondsUntilBalanced ?? 0)} s (interval ${score.balancedAtInterval})`;
  parts.push(text(left, 50, `${pcpus} pCPUs · spread ≤ ${threshold} points counts as balanced · ${balancedText} · ${pins.length} pin change${pins.length === 1 ? '' : 's'}`, { fill: MUTED }));
  parts.push(frame(p, { x: 'time (s)', y: showDemand ? 'pCPU usage, demand (%)' : 'pCPU usage (%)' }));
  if (offScale !== undefined) {
    parts.push(text(p.left + 6, p.top + 14, `↑ first interval off the scale: ${showDemand ? 'demand' : 'usage'} up to ${Math.round(offScale)} %`, { class: 'off-scale', fill: MUTED, 'font-size': 11 }));
  }

  // Balance band: mean ± threshold/2, so every line inside it means spread ≤ threshold.
  const upper = measured.map((i) => {
    const u = i.cpu!.pcpuUsage;
    const mean = (u.reduce((a, b) => a + b, 0) / u.length) * 100;
    return { t: i.timeMs / 1000, lo: Math.max(0, mean - threshold / 2), hi: Math.min(maxUsage, mean + threshold / 2) };
  });
  const band = upper.map((b) => `${num(p.x(b.t))} ${num(p.y(b.hi))}`).concat([...upper].reverse().map((b) => `${num(p.x(b.t))} ${num(p.y(b.lo))}`));
  const bandShape = upper.length === 1
    ? el('rect', { x: p.x(upper[0]!.t) - 3, y: p.y(upper[0]!.hi), width: 6, height: p.y(upper[0]!.lo) - p.y(upper[0]!.hi) })
    : el('path', { d: `M${band.join('L')}Z` });
  parts.push(el('g', { class: 'balance-band', fill: BAND, 'fill-opacity': 0.18, stroke: 'none', 'clip-path': `url(#${p.clipId})` }, bandShape));

  if (score.balancedAtInterval !== undefined) {
    const at = intervals.find((i) => i.interval === score.balancedAtInterval)!;
    const x = p.x(at.timeMs / 1000);
    parts.push(el('g', { class: 'balanced-marker' },
      el('line', { x1: x, x2: x, y1: p.top, y2: p.top + p.height, stroke: BALANCED, 'stroke-width': 1.5, 'stroke-dasharray': '6 4' }),
      x > p.left + p.width - 70
        ? text(x - 4, p.top + p.height - 8, 'balanced', { fill: BALANCED, 'font-size': 11, 'text-anchor': 'end' })
        : text(x + 4, p.top + p.height - 8, 'balanced', { fill: BALANCED, 'font-size': 11 }),
    ));
  }

  // Pin changes: one marker per interval that moved vCPUs, with the count when more than one.
  const byInterval = new Map<number, { t: number; count: number; what: string[] }>();
  for (const c of pins) {
    const entry = byInterval.get(c.interval) ?? { t: c.timeMs / 1000, count: 0, what: [] };
    entry.count++;
    entry.what.push(`${c.domain}/${c.vcpu}: ${c.from.join(',')} → ${c.to.join(',')}`);
    byInterval.set(c.interval, entry);
  }
  const stripY = p.top - 14;
  const pinParts: string[] = [text(p.left - 8, stripY + 4, 'pins', { 'text-anchor': 'end', fill: MUTED, 'font-size': 11 })];
  // Markers closer than a label's width go up a lane, so counts never overprint.
  const laneEnds = [-Infinity, -Infinity];
  for (const [interval, m] of byInterval) {
    const x = p.x(m.t);
    const lane = Math.max(0, laneEnds.findIndex((end) => x - end >= 24));
    laneEnds[lane] = x;
    const y = stripY - lane * 13;
    pinParts.push(el('line', { x1: x, x2: x, y1: y + 4, y2: p.top + p.height, stroke: PIN, 'stroke-opacity': 0.35, 'stroke-dasharray': '2 3' }));
    pinParts.push(el('g', { class: 'pin-marker', 'data-interval': interval, 'data-count': m.count, transform: `translate(${num(x)} ${y})` },
      el('title', {}, escapeXml(`interval ${interval}: ${m.what.join('; ')}`)),
      pinMarker(),
      m.count > 1 ? text(6, 4, String(m.count), { fill: PIN, 'font-size': 10 }) : '',
    ));
  }
  parts.push(el('g', { class: 'pins' }, ...pinParts));

  const series: string[] = [];
  const legend: LegendItem[] = [];
  for (let c = 0; c < pcpus; c++) {
    const color = PALETTE[c % PALETTE.length]!;
    const dash = c >= PALETTE.length ? '6 3' : undefined;
    const d = linePath(measured.map((i) => ({ x: p.x(i.timeMs / 1000), y: i.cpu!.pcpuUsage[c] === undefined ? undefined : p.y(i.cpu!.pcpuUsage[c]! * 100) })));
    series.push(el('path', { class: 'series', 'data-series': `pCPU ${c}`, d, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-dasharray': dash, 'stroke-linejoin': 'round' }));
    legend.push({ label: `pCPU ${c}`, kind: 'line', color, dash });
    if (showDemand) {
      const dd = linePath(measured.map((i) => {
        const v = i.cpu!.pcpuDemand?.[c];
        return { x: p.x(i.timeMs / 1000), y: v === undefined ? undefined : p.y(v * 100) };
      }));
      series.unshift(el('path', { class: 'demand-series', 'data-series': `pCPU ${c} demand`, d: dd, fill: 'none', stroke: color, 'stroke-width': 1.2, 'stroke-dasharray': '4 3', 'stroke-opacity': 0.9 }));
    }
  }
  parts.push(el('g', { 'clip-path': `url(#${p.clipId})` }, ...series));

  if (showDemand) legend.push({ label: 'demand (dashed)', kind: 'line', color: '#777777', dash: '4 3', width: 1.2 });
  legend.push({ label: `balance band (±${num(threshold / 2)})`, kind: 'area', color: BAND, opacity: 0.25 });
  if (score.balancedAtInterval !== undefined) legend.push({ label: 'balanced from here', kind: 'line', color: BALANCED, dash: '6 4', width: 1.5 });
  legend.push({ label: 'pin change(s)', kind: 'marker', color: PIN, marker: pinMarker() });
  parts.push(legendColumn(legend, p.left + p.width + 24, p.top + 8));
  return document(width, height, heading, ...parts);
}
