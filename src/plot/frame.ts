import { el, text } from './svg.js';
import { linearScale, niceDomain, tickLabel, ticks, type Scale } from './scale.js';

// A plot panel: its area, scales, grid, ticks, axis labels and a clip path for its series.

export const INK = '#222222';
export const MUTED = '#666666';
export const GRID = '#e3e3e3';

/** Categorical colours that stay apart for most colour-blind readers (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export interface Panel {
  x: Scale;
  y: Scale;
  left: number;
  top: number;
  width: number;
  height: number;
  clipId: string;
}

export interface PanelSpec {
  id: string;
  left: number;
  top: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
  xTicks?: number;
  yTicks?: number;
  /** Round y to whole ticks (default true). */
  niceY?: boolean;
}

export function panel(spec: PanelSpec): Panel {
  const yDomain = spec.niceY === false ? spec.yDomain : niceDomain(spec.yDomain[0], spec.yDomain[1], spec.yTicks ?? 5);
  const xDomain: [number, number] = spec.xDomain[1] > spec.xDomain[0] ? spec.xDomain : [spec.xDomain[0] - 1, spec.xDomain[0] + 1];
  return {
    x: linearScale(xDomain, [spec.left, spec.left + spec.width]),
    y: linearScale(yDomain, [spec.top + spec.height, spec.top]),
    left: spec.left,
    top: spec.top,
    width: spec.width,
    height: spec.height,
    clipId: `clip-${spec.id}`,
  };
}

export interface AxisLabels {
  x?: string;
  y?: string;
  title?: string;
  xTicks?: number;
  yTicks?: number;
}

/** Background grid, ticks and labels of a panel (drawn under the series), and its clip path. */
export function frame(p: Panel, labels: AxisLabels = {}): string {
  const parts: string[] = [];
  parts.push(el('clipPath', { id: p.clipId }, el('rect', { x: p.left, y: p.top - 2, width: p.width, height: p.height + 4 })));
  const bottom = p.top + p.height;
  for (const v of ticks(p.y.domain[0], p.y.domain[1], labels.yTicks ?? 5)) {
    const y = p.y(v);
    parts.push(el('line', { x1: p.left, x2: p.left + p.width, y1: y, y2: y, stroke: GRID, 'stroke-width': 1 }));
    parts.push(text(p.left - 8, y + 4, tickLabel(v), { 'text-anchor': 'end', fill: MUTED, 'font-size': 11 }));
  }
  for (const v of ticks(p.x.domain[0], p.x.domain[1], labels.xTicks ?? 8)) {
    const x = p.x(v);
    parts.push(el('line', { x1: x, x2: x, y1: p.top, y2: bottom, stroke: GRID, 'stroke-width': 1 }));
    parts.push(el('line', { x1: x, x2: x, y1: bottom, y2: bottom + 5, stroke: MUTED, 'stroke-width': 1 }));
    parts.push(text(x, bottom + 18, tickLabel(v), { 'text-anchor': 'middle', fill: MUTED, 'font-size': 11 }));
  }
  parts.push(el('path', { d: `M${p.left} ${p.top}V${bottom}H${p.left + p.width}`, fill: 'none', stroke: MUTED, 'stroke-width': 1 }));
  if (labels.x) parts.push(text(p.left + p.width / 2, bottom + 36, labels.x, { 'text-anchor': 'middle', fill: INK }));
  if (labels.y) {
    const cx = p.left - 44;
    const cy = p.top + p.height / 2;
    parts.push(text(cx, cy, labels.y, { 'text-anchor': 'middle', fill: INK, transform: `rotate(-90 ${cx} ${cy})` }));
  }
  if (labels.title) parts.push(text(p.left, p.top - 10, labels.title, { fill: INK, 'font-weight': 600, 'font-size': 13 }));
  return el('g', { class: 'frame' }, ...parts);
}

export interface LegendItem {
  label: string;
  /** line (with optional dash), area (filled box) or marker (the given SVG at 0,0). */
  kind: 'line' | 'area' | 'marker';
  color: string;
  dash?: string;
  width?: number;
  opacity?: number;
  marker?: string;
}

function swatch(item: LegendItem, x: number, y: number): string {
  if (item.kind === 'area') return el('rect', { x, y: y - 6, width: 22, height: 12, fill: item.color, 'fill-opacity': item.opacity ?? 0.3, stroke: item.color, 'stroke-opacity': 0.5 });
  if (item.kind === 'marker') return el('g', { transform: `translate(${x + 11} ${y})` }, item.marker ?? '');
  return el('line', { x1: x, x2: x + 22, y1: y, y2: y, stroke: item.color, 'stroke-width': item.width ?? 2, 'stroke-dasharray': item.dash });
}

/** A vertical legend (one item a row). */
export function legendColumn(items: LegendItem[], left: number, top: number): string {
  return el('g', { class: 'legend' }, ...items.map((item, k) => {
    const y = top + k * 20;
    return swatch(item, left, y) + text(left + 30, y + 4, item.label, { fill: INK });
  }));
}

/** A horizontal legend that wraps at `width`. Returns the SVG and the height it took. */
export function legendRow(items: LegendItem[], left: number, top: number, width: number): { svg: string; height: number } {
  const parts: string[] = [];
  let x = left;
  let y = top;
  for (const item of items) {
    const w = 30 + item.label.length * 7.2 + 26;
    if (x > left && x + w > left + width) {
      x = left;
      y += 20;
    }
    parts.push(swatch(item, x, y) + text(x + 30, y + 4, item.label, { fill: INK }));
    x += w;
  }
  return { svg: el('g', { class: 'legend' }, ...parts), height: y - top + 20 };
}
