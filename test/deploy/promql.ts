// Metric names a PromQL expression (or a Grafana query holding one) reads: what the dashboard and
// the alerting rules depend on the agent exporting. Not a PromQL parser: it removes everything that
// is not a metric name (strings, label matchers, ranges, label lists, functions, keywords, numbers).

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/** Grafana's built-in and dashboard variables replaced by something PromQL accepts. */
export function substituteGrafanaVariables(expr: string, values: Record<string, string> = {}): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => values[(braced ?? bare)!] ?? '.+');
}

export function metricNamesIn(query: string): Set<string> {
  const names = new Set<string>();
  // label_values(EXPR, label) and query_result(EXPR) hold an expression.
  let expr = query.replace(/^\s*label_values\((.*),\s*\w+\s*\)\s*$/s, '$1').replace(/^\s*query_result\((.*)\)\s*$/s, '$1');
  expr = expr.replace(/__name__\s*=~?\s*"([^"]*)"/g, (_m, names_: string) => {
    for (const n of names_.split('|')) names.add(n);
    return '';
  });
  expr = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/(^|[^\w:.])\d+(\.\d+)?([eE][+-]?\d+)?/g, '$1 ');
  for (const m of expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))/g)) {
    if (m[1] === '(') continue; // a function or an aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return names;
}

interface GrafanaPanel {
  targets?: { expr?: string }[];
  panels?: GrafanaPanel[];
}

/** Every query of a Grafana dashboard: panel targets (rows included) and query variables. */
export function grafanaQueries(dashboard: { panels?: GrafanaPanel[]; templating?: { list?: { type?: string; query?: unknown }[] } }): string[] {
  const out: string[] = [];
  const walk = (panels: GrafanaPanel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (q) out.push(q);
  }
  return out;
}
