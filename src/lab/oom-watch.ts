// OOM kills during a lab run: each guest's console is read after every interval, so a kill is placed
// in the interval in which it was first seen, and once more after the run for the last ones. The
// trace then carries them per interval (`oomKills`, and a notice a person reads), since a real host
// has no simulator truth to report them.
import { readFile, writeFile } from 'node:fs/promises';
import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { findOomKills, readConsole, type OomKill } from './console-log.js';

export interface SeenOomKill extends OomKill {
  /** The lab guest. */
  domain: string;
  /** The interval after which it was first seen (the last one for the final scan). */
  interval: number;
}

export class OomWatcher {
  private readonly seen = new Map<string, number>();
  private readonly all: SeenOomKill[] = [];

  constructor(private readonly guests: ReadonlyArray<{ name: string; consoleLog: string }>) {}

  /** Reads every console; returns the kills not seen before, attributed to `interval`. */
  async scan(interval: number): Promise<SeenOomKill[]> {
    const fresh: SeenOomKill[] = [];
    for (const g of this.guests) {
      const kills = findOomKills(await readConsole(g.consoleLog));
      const before = this.seen.get(g.name) ?? 0;
      for (const k of kills.slice(before)) fresh.push({ ...k, domain: g.name, interval });
      this.seen.set(g.name, kills.length);
    }
    this.all.push(...fresh);
    return fresh;
  }

  get kills(): readonly SeenOomKill[] {
    return this.all;
  }
}

export function oomNotice(k: SeenOomKill): string {
  return `OOM killer in the guest killed ${k.process} (pid ${k.pid}) (guest console)`;
}

/**
 * Every interval gets `oomKills` (empty when none) and a notice per kill. Kills attributed to an
 * interval that is not in the trace go to the last one.
 */
export function annotateOomKills(lines: readonly TraceLine[], kills: readonly SeenOomKill[]): TraceLine[] {
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  const last = intervals[intervals.length - 1]?.interval;
  const known = new Set(intervals.map((i) => i.interval));
  const home = (k: SeenOomKill) => (known.has(k.interval) ? k.interval : last);
  return lines.map((line) => {
    if (line.type !== 'interval') return line;
    const here = kills.filter((k) => home(k) === line.interval);
    return {
      ...line,
      notices: [...line.notices, ...here.map((k) => ({ domain: k.domain, message: oomNotice(k) }))],
      oomKills: here.map((k) => ({ domain: k.domain, process: k.process, pid: k.pid })),
    };
  });
}

/** Rewrites a trace file (JSON lines) with the OOM kills added. */
export async function annotateTraceFile(path: string, kills: readonly SeenOomKill[]): Promise<void> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TraceLine);
  await writeFile(path, annotateOomKills(lines, kills).map((l) => JSON.stringify(l)).join('\n') + '\n');
}
