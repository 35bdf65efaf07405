// A lab guest's serial console, kept in a file: its tail for error messages, and the OOM kills the
// guest kernel printed there (`Out of memory: Killed process <pid> (<comm>) ...`).
import { promises as fs } from 'node:fs';

export interface OomKill {
  pid: number;
  process: string;
  /** The kernel's line, trimmed. */
  line: string;
}

/** Every OOM kill in a console text, in order. */
export function findOomKills(consoleText: string): OomKill[] {
  const kills: OomKill[] = [];
  for (const m of consoleText.matchAll(/^.*Out of memory(?: \(oom_kill_allocating_task\))?: Kill(?:ed)? process (\d+) \(([^)]*)\).*$/gm)) {
    kills.push({ pid: Number(m[1]), process: m[2]!, line: m[0].trim() });
  }
  return kills;
}

export async function readConsole(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return '';
    throw err;
  }
}

/** The last `lines` non-empty lines of a console text, control characters removed. */
export function consoleTail(text: string, lines = 15): string[] {
  return text.replace(/\r/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').split('\n').filter((l) => l.trim()).slice(-lines);
}

export async function guestOomKills(consoleLog: string): Promise<OomKill[]> {
  return findOomKills(await readConsole(consoleLog));
}
