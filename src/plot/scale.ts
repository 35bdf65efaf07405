// Linear scales and round-numbered ticks for the plot axes.

export interface Scale {
  domain: [number, number];
  range: [number, number];
  (v: number): number;
}

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  const f = ((v: number) => r0 + ((v - d0) / span) * (r1 - r0)) as Scale;
  f.domain = domain;
  f.range = range;
  return f;
}

/** A step of 1, 2 or 5 × 10^k giving about `count` ticks over [min, max]. */
export function tickStep(min: number, max: number, count: number): number {
  const raw = (max - min) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
}

export function ticks(min: number, max: number, count = 6): number[] {
  const step = tickStep(min, max, count);
  const out: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** Widens [min, max] to whole tick steps, so the axis starts and ends on a labelled tick. */
export function niceDomain(min: number, max: number, count = 6): [number, number] {
  if (max <= min) return [min - 1, max + 1];
  const step = tickStep(min, max, count);
  return [Math.floor(min / step + 1e-9) * step, Math.ceil(max / step - 1e-9) * step];
}

/** Tick label: no trailing zeros, thousands kept plain (2048, not 2,048 or 2.048k). */
export function tickLabel(v: number): string {
  const rounded = Math.round(v * 1000) / 1000;
  return String(Object.is(rounded, -0) ? 0 : rounded);
}
