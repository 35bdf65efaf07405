// Just enough SVG writing for the plots: escaped attributes and text, compact numbers.

export type Attrs = Record<string, string | number | undefined>;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Rounds to 0.01 px: enough for any screen, and keeps files small. */
export function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

function attrText(attrs: Attrs): string {
  return Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === 'number' ? num(v) : v!)}"`)
    .join('');
}

/** An element; children are already-rendered SVG strings. No children → self-closing. */
export function el(tag: string, attrs: Attrs = {}, ...children: string[]): string {
  const body = children.filter((c) => c !== '').join('');
  return body === '' ? `<${tag}${attrText(attrs)}/>` : `<${tag}${attrText(attrs)}>${body}</${tag}>`;
}

export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return `<text${attrText({ x, y, ...attrs })}>${escapeXml(content)}</text>`;
}

/** A polyline path through the points; undefined y values break the line. */
export function linePath(points: { x: number; y: number | undefined }[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.y === undefined || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${num(p.x)} ${num(p.y)}`;
    pen = true;
  }
  return d;
}

/** Path of a horizontal step line (value held until the next point), for limits that change rarely. */
export function stepPath(points: { x: number; y: number }[], endX: number): string {
  let d = '';
  points.forEach((p, k) => {
    d += k === 0 ? `M${num(p.x)} ${num(p.y)}` : `H${num(p.x)}V${num(p.y)}`;
  });
  if (points.length > 0) d += `H${num(endX)}`;
  return d;
}

export const FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif";

export function document(width: number, height: number, title: string, ...children: string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(FONT)}" font-size="12">` +
    el('title', {}, escapeXml(title)) +
    el('rect', { width, height, fill: '#ffffff' }) +
    children.join('') +
    '</svg>\n'
  );
}
