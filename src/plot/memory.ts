import type { TraceGuestMemory, TraceInterval, TraceLine } from '../ground/trace-record.js';
import { defaultMemoryScoreOptions, scoreMemory } from '../score/memory.js';
import { splitTrace } from '../score/read-trace.js';
import { frame, INK, legendRow, MUTED, panel, type LegendItem, type Panel } from './frame.js';
import { document, el, escapeXml, linePath, num, stepPath, text } from './svg.js';

// Memory over time: one panel per guest (actual, used, unused and the simulator's demand — with
// its page cache on top, hot and then cold, when the simulator models one — with its floor and
// maximum, OOM kills and starved intervals; on a real host, for a guest that reports MemAvailable,
// the coordinator's measured anon use and anon + hot cache instead, `used` being anon + all its cache),
// then one for the host's free memory
// against its reserve. All guest panels share one y axis so sizes compare at a glance.

export interface MemoryPlotOptions {
  starvationThresholdKiB?: number;
  width?: number;
}

const MiB = 1024;
const COLORS = {
  actual: '#4e79a7',
  used: '#f28e2b',
  unused: '#59a14f',
  demand: '#b07aa1',
  hot: '#76b7b2',
  cold: '#9c755f',
  floor: '#e15759',
  maximum: '#555555',
  oom: '#d62728',
  starved: '#e15759',
  hostFree: '#2f6f73',
  reserve: '#e15759',
};

export function hasMemoryData(intervals: TraceInterval[]): boolean {
  return intervals.some((i) => i.memory !== undefined && (i.memory.guests.length > 0 || i.memory.hostFreeKiB > 0));
}

function oomMarker(): string {
  return el('path', { d: 'M-5 -5L5 5M-5 5L5 -5', stroke: COLORS.oom, 'stroke-width': 2.5, 'stroke-linecap': 'round' });
}

interface GuestPoint {
  t: number;
  actual: number;
  maximum: number;
  floor: number;
  unused: number | undefined;
  used: number | undefined;
  demand: number | undefined;
  /** Demand + hot cache, and + all cache (simulator truth), MiB. */
  withHot: number | undefined;
  withCache: number | undefined;
  /** Measured by the coordinator (guests that report MemAvailable), drawn only without simulator truth, MiB. */
  anon: number | undefined;
  anonWithHot: number | undefined;
}

/** A dashed limit line (floor, maximum, reserve) and its label; the label is drawn last so no series covers it. */
function limitLine(p: Panel, points: { t: number; v: number }[], endT: number, cls: string, color: string, dash: string, label: string): { line: string; label: string } {
  const changes = points.filter((q, k) => k === 0 || q.v !== points[k - 1]!.v);
  const last = points[points.length - 1]!;
  const y = p.y(last.v);
  return {
    line: el('g', { class: cls },
      el('path', { d: stepPath(changes.map((q) => ({ x: p.x(q.t), y: p.y(q.v) })), p.x(endT)), fill: 'none', stroke: color, 'stroke-width': 1.3, 'stroke-dasharray': dash }),
    ),
    label: text(p.left + p.width - 4, y - 4, label, { class: `${cls}-label`, 'text-anchor': 'end', fill: color, 'font-size': 10, stroke: '#ffffff', 'stroke-width': 3, 'stroke-linejoin': 'round', 'paint-order': 'stroke' }),
  };
}

function series(p: Panel, name: string, points: { t: number; v: number | undefined }[], color: string, attrs: Record<string, string | number> = {}): string {
  if (!points.some((q) => q.v !== undefined)) return '';
  const d = linePath(points.map((q) => ({ x: p.x(q.t), y: q.v === undefined ? undefined : p.y(q.v) })));
  return el('path', { class: 'series', 'data-series': name, d, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-linejoin': 'round', ...attrs });
}

/**
 * What the coordinator measured of a guest's page cache: anon, and anon + the hot cache it holds
 * (its remembered hot size can exceed the cache while it reads the set back). Left out where the
 * simulator's truth is drawn, which says the same more exactly.
 */
function measuredCache(g: TraceGuestMemory, hasTruth: boolean): { anon: number | undefined; anonWithHot: number | undefined } {
  if (hasTruth || g.anonKiB === undefined || g.cacheKiB === undefined) return { anon: undefined, anonWithHot: undefined };
  const hotKiB = Math.min(Math.max(0, g.hotKiB ?? 0), g.cacheKiB);
  return { anon: g.anonKiB / MiB, anonWithHot: (g.anonKiB + hotKiB) / MiB };
}

export function plotMemory(lines: TraceLine[], options: MemoryPlotOptions = {}): string {
  const { header, intervals } = splitTrace(lines);
  const width = options.width ?? 960;
  const heading = `Memory: ${header?.target ?? 'trace'}${header?.scenario && !header.target.includes(header.scenario) ? ` (${header.scenario})` : ''}`;
  const withMemory = intervals.filter((i) => i.memory !== undefined);
  if (withMemory.length === 0) {
    return document(width, 120, heading, text(24, 40, heading, { 'font-size': 16, 'font-weight': 600, fill: INK }), text(24, 70, 'No memory records in this trace.', { fill: MUTED }));
  }
  const score = scoreMemory(intervals, { ...defaultMemoryScoreOptions, starvationThresholdKiB: options.starvationThresholdKiB ?? defaultMemoryScoreOptions.starvationThresholdKiB });
  const intervalSeconds = header?.intervalSeconds ?? 1;

  const guests = new Map<string, GuestPoint[]>();
  for (const entry of withMemory) {
    for (const g of entry.memory!.guests) {
      const list = guests.get(g.domain) ?? [];
      const demand = entry.truth?.memoryDemandKiB[g.domain];
      const cache = entry.truth?.cache?.[g.domain];
      const demandMiB = demand === undefined ? undefined : demand / MiB;
      list.push({
        t: entry.timeMs / 1000,
        actual: g.actualKiB / MiB,
        maximum: g.maximumKiB / MiB,
        floor: g.floorKiB / MiB,
        unused: g.unusedKiB === undefined ? undefined : g.unusedKiB / MiB,
        used: g.usedKiB === undefined ? undefined : g.usedKiB / MiB,
        demand: demandMiB,
        withHot: cache && demandMiB !== undefined ? demandMiB + cache.hotMiB : undefined,
        withCache: cache && demandMiB !== undefined ? demandMiB + cache.hotMiB + cache.coldMiB : undefined,
        ...measuredCache(g, demandMiB !== undefined),
      });
      guests.set(g.domain, list);
    }
  }
  const names = [...guests.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const times = withMemory.map((i) => i.timeMs / 1000);
  const xDomain: [number, number] = [Math.min(...times), Math.max(...times)];
  const endT = xDomain[1];
  const all = [...guests.values()].flat();
  const guestMax = Math.max(1, ...all.flatMap((q) => [q.actual, q.maximum, q.used ?? 0, q.demand ?? 0, q.unused ?? 0, q.withCache ?? 0]));
  const anyUsed = all.some((q) => q.used !== undefined);
  const anyUnused = all.some((q) => q.unused !== undefined);
  const anyDemand = all.some((q) => q.demand !== undefined);
  const anyCache = all.some((q) => q.withCache !== undefined);
  const anyMeasured = all.some((q) => q.anon !== undefined);

  const legend: LegendItem[] = [{ label: 'actual (balloon)', kind: 'line', color: COLORS.actual, width: 2.5 }];
  if (anyUsed) legend.push({ label: 'used', kind: 'line', color: COLORS.used });
  if (anyUnused) legend.push({ label: 'unused', kind: 'line', color: COLORS.unused, dash: '5 3' });
  if (anyDemand) legend.push({ label: 'demand (sim truth)', kind: 'line', color: COLORS.demand, dash: '2 3' });
  if (anyCache) {
    legend.push({ label: '+ hot cache', kind: 'line', color: COLORS.hot, dash: '2 3' });
    legend.push({ label: '+ cold cache', kind: 'line', color: COLORS.cold, dash: '2 3' });
  }
  if (anyMeasured) {
    legend.push({ label: 'anon (measured)', kind: 'line', color: COLORS.demand, width: 1.4 });
    legend.push({ label: 'anon + hot cache (measured)', kind: 'line', color: COLORS.hot, width: 1.4 });
  }
  legend.push({ label: 'floor', kind: 'line', color: COLORS.floor, dash: '6 4', width: 1.3 });
  legend.push({ label: 'maximum', kind: 'line', color: COLORS.maximum, dash: '8 4', width: 1.3 });
  if (score.starvedIntervals > 0) legend.push({ label: 'starved', kind: 'area', color: COLORS.starved, opacity: 0.15 });
  if (score.oom.total > 0) legend.push({ label: 'OOM kill', kind: 'marker', color: COLORS.oom, marker: oomMarker() });
  legend.push({ label: 'host free', kind: 'line', color: COLORS.hostFree });
  legend.push({ label: 'host reserve', kind: 'line', color: COLORS.reserve, dash: '4 3', width: 1.5 });

  const parts: string[] = [];
  const marginX = 12;
  parts.push(text(marginX + 60, 30, heading, { 'font-size': 16, 'font-weight': 600, fill: INK }));
  const hostNote = score.host
    ? `host free lowest ${Math.round(score.host.minFreeKiB / MiB)} MiB, reserve ${Math.round(score.host.reserveKiB / MiB)} MiB${score.host.belowReserve ? ' (BELOW RESERVE)' : ''}`
    : 'no host figures';
  const oomNote = score.oom.known ? `${score.oom.total} OOM kill${score.oom.total === 1 ? '' : 's'}` : 'OOM unknown (no truth)';
  parts.push(text(marginX + 60, 50, `${names.length} guest${names.length === 1 ? '' : 's'} · ${score.starvedIntervals} starved interval${score.starvedIntervals === 1 ? '' : 's'} · ${oomNote} · ${hostNote}`, { fill: MUTED }));
  const legendBlock = legendRow(legend, marginX + 60, 72, width - marginX * 2 - 60);
  parts.push(legendBlock.svg);

  const panelCount = names.length + 1;
  const cols = panelCount === 1 ? 1 : 2;
  const cellW = (width - marginX * 2) / cols;
  const cellH = 250;
  const padLeft = 66;
  const padRight = 16;
  const padTop = 30;
  const plotH = 168;
  const gridTop = 72 + legendBlock.height + 8;

  const cell = (k: number, id: string, yMax: number) => {
    const col = k % cols;
    const row = Math.floor(k / cols);
    return panel({ id, left: marginX + col * cellW + padLeft, top: gridTop + row * cellH + padTop, width: cellW - padLeft - padRight, height: plotH, xDomain, yDomain: [0, yMax], yTicks: 4 });
  };

  names.forEach((name, k) => {
    const points = guests.get(name)!;
    const gs = score.guests.find((g) => g.domain === name);
    const p = cell(k, `guest-${k}`, guestMax * 1.04);
    const notes = [`actual ${Math.round(Math.min(...points.map((q) => q.actual)))}–${Math.round(Math.max(...points.map((q) => q.actual)))} MiB`];
    if (gs && gs.starvedIntervals > 0) notes.push(`starved ${gs.starvedIntervals}`);
    if (gs && gs.oomEvents > 0) notes.push(`OOM ${gs.oomEvents}`);
    const body: string[] = [frame(p, { x: 'time (s)', y: 'MiB', xTicks: 6, yTicks: 4 })];
    body.push(text(p.left, p.top - 10, name, { fill: INK, 'font-weight': 600, 'font-size': 13 }));
    body.push(text(p.left + p.width, p.top - 10, notes.join(' · '), { fill: MUTED, 'font-size': 11, 'text-anchor': 'end' }));
    const half = intervalSeconds / 2;
    const starved = (gs?.starvedAt ?? []).map((n) => {
      const at = withMemory.find((i) => i.interval === n)!;
      const t = at.timeMs / 1000;
      const x0 = p.x(Math.max(xDomain[0], t - half));
      const x1 = p.x(Math.min(xDomain[1], t + half));
      return el('rect', { x: x0, y: p.top, width: Math.max(2, x1 - x0), height: p.height });
    });
    if (starved.length) body.push(el('g', { class: 'starved', fill: COLORS.starved, 'fill-opacity': 0.13 }, ...starved));
    const maximum = limitLine(p, points.map((q) => ({ t: q.t, v: q.maximum })), endT, 'maximum', COLORS.maximum, '8 4', `max ${Math.round(points[points.length - 1]!.maximum)}`);
    const floor = limitLine(p, points.map((q) => ({ t: q.t, v: q.floor })), endT, 'floor', COLORS.floor, '6 4', `floor ${Math.round(points[points.length - 1]!.floor)}`);
    body.push(maximum.line, floor.line);
    body.push(el('g', { 'clip-path': `url(#${p.clipId})` },
      series(p, `${name} unused`, points.map((q) => ({ t: q.t, v: q.unused })), COLORS.unused, { 'stroke-dasharray': '5 3', 'stroke-width': 1.6 }),
      series(p, `${name} used`, points.map((q) => ({ t: q.t, v: q.used })), COLORS.used, { 'stroke-width': 1.8 }),
      series(p, `${name} demand`, points.map((q) => ({ t: q.t, v: q.demand })), COLORS.demand, { 'stroke-dasharray': '2 3', 'stroke-width': 1.8 }),
      series(p, `${name} + hot cache`, points.map((q) => ({ t: q.t, v: q.withHot })), COLORS.hot, { 'stroke-dasharray': '2 3', 'stroke-width': 1.6 }),
      series(p, `${name} + cold cache`, points.map((q) => ({ t: q.t, v: q.withCache })), COLORS.cold, { 'stroke-dasharray': '2 3', 'stroke-width': 1.6 }),
      series(p, `${name} anon (measured)`, points.map((q) => ({ t: q.t, v: q.anon })), COLORS.demand, { 'stroke-width': 1.4 }),
      series(p, `${name} anon + hot cache (measured)`, points.map((q) => ({ t: q.t, v: q.anonWithHot })), COLORS.hot, { 'stroke-width': 1.4 }),
      series(p, `${name} actual`, points.map((q) => ({ t: q.t, v: q.actual })), COLORS.actual, { 'stroke-width': 2.5 }),
    ));
    const ooms = score.oom.events.filter((e) => e.domain === name).map((e) =>
      el('g', { class: 'oom-marker', transform: `translate(${num(p.x(Math.min(xDomain[1], Math.max(xDomain[0], e.timeMs / 1000))))} ${num(p.y(e.actualKiB / MiB))})` },
        el('title', {}, escapeXml(`OOM kill in ${name} at ${num(e.timeMs / 1000)} s: wanted ${Math.round(e.demandKiB / MiB)} MiB, had ${Math.round(e.actualKiB / MiB)} MiB`)),
        oomMarker(),
      ));
    body.push(maximum.label, floor.label);
    if (ooms.length) body.push(el('g', { class: 'ooms' }, ...ooms));
    parts.push(el('g', { class: 'guest-panel', 'data-domain': name }, ...body));
  });

  // Host panel: free memory against the reserve, with the zone below the reserve tinted.
  const host = withMemory.map((i) => ({ t: i.timeMs / 1000, free: i.memory!.hostFreeKiB / MiB, reserve: i.memory!.reserveKiB / MiB }));
  const p = cell(names.length, 'host', Math.max(1, ...host.map((h) => Math.max(h.free, h.reserve))) * 1.1);
  const hostBody: string[] = [frame(p, { x: 'time (s)', y: 'MiB', xTicks: 6, yTicks: 4 })];
  hostBody.push(text(p.left, p.top - 10, 'host', { fill: INK, 'font-weight': 600, 'font-size': 13 }));
  if (score.host) {
    hostBody.push(text(p.left + p.width, p.top - 10, `lowest ${Math.round(score.host.minFreeKiB / MiB)} MiB${score.host.belowReserve ? ` · below reserve ${score.host.intervalsBelowReserve}×` : ''}`, { fill: score.host.belowReserve ? COLORS.reserve : MUTED, 'font-size': 11, 'text-anchor': 'end' }));
  }
  const zone = stepPath(host.map((h) => ({ x: p.x(h.t), y: p.y(h.reserve) })), p.x(endT));
  hostBody.push(el('path', { class: 'reserve-zone', d: `${zone}V${num(p.top + p.height)}H${num(p.left)}Z`, fill: COLORS.reserve, 'fill-opacity': 0.07, stroke: 'none' }));
  const reserve = limitLine(p, host.map((h) => ({ t: h.t, v: h.reserve })), endT, 'reserve', COLORS.reserve, '4 3', `reserve ${Math.round(host[host.length - 1]!.reserve)}`);
  hostBody.push(reserve.line);
  hostBody.push(el('g', { 'clip-path': `url(#${p.clipId})` }, series(p, 'host free', host.map((h) => ({ t: h.t, v: h.free })), COLORS.hostFree, { 'stroke-width': 2.2 })));
  hostBody.push(reserve.label);
  parts.push(el('g', { class: 'host-panel' }, ...hostBody));

  const rows = Math.ceil(panelCount / cols);
  return document(width, Math.ceil(gridTop + rows * cellH), heading, ...parts);
}
