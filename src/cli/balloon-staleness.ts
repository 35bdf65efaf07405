// Whether a guest's balloon statistics (unused, available, usable) are old. QEMU stamps
// `last_update` with the host's clock when the guest's driver reports, every stats period; with
// the period off (0) the last figures stay readable forever, and a balloon that has shrunk since
// leaves `unused` above `actual`. `info` marks such figures instead of printing them as current.

export interface BalloonReading {
  actualKiB?: number;
  unusedKiB?: number;
  /** QEMU's `last_update`, seconds since the epoch (host clock). */
  lastUpdate?: number;
  /** The stats period from the domain's XML: 0 when off; undefined when the XML could not be read. */
  statsPeriodSeconds?: number;
}

/** Why the guest's figures are stale, as short phrases; empty when they look current. */
export function balloonStaleness(b: BalloonReading, nowSeconds: number): string[] {
  if (b.unusedKiB === undefined) return [];
  const reasons: string[] = [];
  if (b.actualKiB !== undefined && b.unusedKiB > b.actualKiB) reasons.push('unused above actual');
  const period = b.statsPeriodSeconds;
  if (period === 0) reasons.push('stats period off');
  if (period !== undefined && b.lastUpdate !== undefined) {
    const age = nowSeconds - b.lastUpdate;
    // One missed report and a second of rounding are normal; more means the guest stopped reporting.
    if (b.lastUpdate === 0) reasons.push('never reported');
    else if (period === 0 || age > 2 * period + 1) reasons.push(`last reported ${formatAge(age)} ago`);
  }
  return reasons;
}

/** The stats period of a domain's `<memballoon>` (0 when it has none; undefined without a balloon). */
export function statsPeriodOf(xml: string): number | undefined {
  const balloon = /<memballoon\b([^>]*?)(\/>|>([\s\S]*?)<\/memballoon>)/.exec(xml);
  if (!balloon || /model=['"]none['"]/.test(balloon[1]!)) return undefined;
  const period = /<stats\b[^>]*\bperiod=['"](\d+)['"]/.exec(balloon[3] ?? '');
  return period ? Number(period[1]) : 0;
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}
