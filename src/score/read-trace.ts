import { readFile } from 'node:fs/promises';
import { UsageError } from '../ground/errors.js';
import type { TraceHeader, TraceInterval, TraceLine } from '../ground/trace-record.js';

// Reads a trace file (JSON lines) and checks every line's shape before anything scores it,
// so a truncated or hand-edited trace fails with the file and line instead of a NaN deep inside.

/** A malformed trace: bad input, so the CLI prints one line and exits 2. */
export class TraceFormatError extends UsageError {
  constructor(readonly file: string, readonly line: number, readonly problem: string) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'TraceFormatError';
  }
}

export async function readTrace(path: string): Promise<TraceLine[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read trace ${path}: ${why}`);
  }
  return parseTrace(text, path);
}

/** Parses trace text; `name` is used in error messages. Blank lines are skipped (but counted). */
export function parseTrace(text: string, name = 'trace'): TraceLine[] {
  const lines: TraceLine[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const source = raw[i]!.trim();
    if (source === '') continue;
    const lineNo = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (err) {
      throw new TraceFormatError(name, lineNo, `not valid JSON (${(err as Error).message.split('\n')[0]})`);
    }
    const problem = lines.length === 0 ? checkHeader(value) : checkInterval(value);
    if (problem) throw new TraceFormatError(name, lineNo, problem);
    lines.push(value as TraceLine);
  }
  if (lines.length === 0) throw new TraceFormatError(name, 1, 'empty trace (expected a header line)');
  return lines;
}

type Check = string | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInteger = (v: unknown): v is number => Number.isInteger(v);

function need(obj: Record<string, unknown>, key: string, ok: (v: unknown) => boolean, what: string, at: string): Check {
  return ok(obj[key]) ? undefined : `${at}${key} must be ${what}, got ${describe(obj[key])}`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function first(...checks: (() => Check)[]): Check {
  for (const check of checks) {
    const problem = check();
    if (problem) return problem;
  }
  return undefined;
}

function eachOf(v: unknown, at: string, check: (item: unknown, at: string) => Check): Check {
  if (!Array.isArray(v)) return `${at} must be an array, got ${describe(v)}`;
  for (let i = 0; i < v.length; i++) {
    const problem = check(v[i], `${at}[${i}].`);
    if (problem) return problem;
  }
  return undefined;
}

const numberArray = (v: unknown) => Array.isArray(v) && v.every(isNumber);
const stringArray = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');

function checkHeader(v: unknown): Check {
  if (!isObject(v) || v.type !== 'header') return `first line must be the trace header ({"type":"header",...}), got ${describe(isObject(v) ? v.type : v)}`;
  const h = v as Record<string, unknown>;
  return first(
    () => (h.version === 1 ? undefined : `unsupported trace version ${describe(h.version)} (this reader knows version 1)`),
    () => need(h, 'target', (x) => typeof x === 'string', 'a string', 'header.'),
    () => need(h, 'intervalSeconds', (x) => isNumber(x) && x > 0, 'a positive number', 'header.'),
    () => need(h, 'pcpus', (x) => isInteger(x) && (x as number) >= 0, 'a non-negative integer', 'header.'),
    () => need(h, 'controllers', isObject, 'an object', 'header.'),
  );
}

function checkInterval(v: unknown): Check {
  if (!isObject(v)) return `expected an interval object, got ${describe(v)}`;
  if (v.type === 'header') return 'a second header line (was a trace appended to another?)';
  if (v.type !== 'interval') return `type must be "interval", got ${describe(v.type)}`;
  return first(
    () => need(v, 'interval', (x) => isInteger(x) && (x as number) >= 0, 'a non-negative integer', ''),
    () => need(v, 'timeMs', isNumber, 'a number', ''),
    () => need(v, 'domains', stringArray, 'an array of strings', ''),
    () => eachOf(v.actions, 'actions', checkAction),
    () => eachOf(v.failures, 'failures', (f, at) => (isObject(f) ? checkAction(f.action, `${at}action.`) : `${at.slice(0, -1)} must be an object`)),
    () => eachOf(v.notices, 'notices', (n, at) => (isObject(n) && typeof n.message === 'string' ? undefined : `${at}message must be a string`)),
    () => (v.cpu === undefined ? undefined : checkCpu(v.cpu)),
    () => (v.memory === undefined ? undefined : checkMemory(v.memory)),
    () => (v.truth === undefined ? undefined : checkTruth(v.truth)),
    () =>
      v.oomKills === undefined
        ? undefined
        : eachOf(v.oomKills, 'oomKills', (k, at) =>
            isObject(k) ? need(k, 'domain', (d) => typeof d === 'string', 'a string', at) : `${at.slice(0, -1)} must be an object`,
          ),
  );
}

function checkAction(a: unknown, at: string): Check {
  if (!isObject(a)) return `${at.slice(0, -1)} must be an object, got ${describe(a)}`;
  const domain = a.domain;
  if (!isObject(domain) || typeof domain.name !== 'string') return `${at}domain must be {name, uuid}, got ${describe(domain)}`;
  switch (a.kind) {
    case 'pin':
      return first(
        () => need(a, 'vcpu', isInteger, 'an integer', at),
        () => need(a, 'pcpus', numberArray, 'an array of numbers', at),
        () => need(a, 'previous', numberArray, 'an array of numbers', at),
      );
    case 'set-memory':
      return first(() => need(a, 'fromKiB', isNumber, 'a number', at), () => need(a, 'targetKiB', isNumber, 'a number', at));
    case 'set-stats-period':
      return need(a, 'seconds', isNumber, 'a number', at);
    case 'set-cpu-weight':
      return first(() => need(a, 'weight', isNumber, 'a number', at), () => need(a, 'previous', isNumber, 'a number', at));
    case 'resize-memory-device':
      return first(() => need(a, 'fromKiB', isNumber, 'a number', at), () => need(a, 'requestedKiB', isNumber, 'a number', at));
    default:
      return `${at}kind must be pin, set-memory, set-stats-period, set-cpu-weight or resize-memory-device, got ${describe(a.kind)}`;
  }
}

function checkCpu(c: unknown): Check {
  if (!isObject(c)) return `cpu must be an object, got ${describe(c)}`;
  return first(
    () => need(c, 'elapsedNs', isNumber, 'a number', 'cpu.'),
    () => need(c, 'pcpuUsage', numberArray, 'an array of numbers', 'cpu.'),
    // Since issue #17; older traces have no such field.
    () => (c.shortWindow === undefined || typeof c.shortWindow === 'boolean' ? undefined : `cpu.shortWindow must be true or false, got ${describe(c.shortWindow)}`),
    () => eachOf(c.vcpus, 'cpu.vcpus', (x, at) =>
      isObject(x)
        ? first(
            () => need(x, 'domain', (d) => typeof d === 'string', 'a string', at),
            () => need(x, 'vcpu', isInteger, 'an integer', at),
            () => need(x, 'usage', isNumber, 'a number', at),
            () => need(x, 'demand', isNumber, 'a number', at),
            () => (x.pcpu === undefined || x.pcpu === null || isInteger(x.pcpu) ? undefined : `${at}pcpu must be an integer, got ${describe(x.pcpu)}`),
          )
        : `${at.slice(0, -1)} must be an object`,
    ),
  );
}

function checkMemory(m: unknown): Check {
  if (!isObject(m)) return `memory must be an object, got ${describe(m)}`;
  const optionalNumber = (g: Record<string, unknown>, key: string, at: string): Check =>
    g[key] === undefined || isNumber(g[key]) ? undefined : `${at}${key} must be a number, got ${describe(g[key])}`;
  return first(
    () => need(m, 'hostFreeKiB', isNumber, 'a number', 'memory.'),
    () => need(m, 'reserveKiB', isNumber, 'a number', 'memory.'),
    () => eachOf(m.guests, 'memory.guests', (g, at) =>
      isObject(g)
        ? first(
            () => need(g, 'domain', (d) => typeof d === 'string', 'a string', at),
            () => need(g, 'actualKiB', isNumber, 'a number', at),
            () => need(g, 'maximumKiB', isNumber, 'a number', at),
            () => need(g, 'floorKiB', isNumber, 'a number', at),
            () => optionalNumber(g, 'unusedKiB', at),
            () => optionalNumber(g, 'usedKiB', at),
            () => optionalNumber(g, 'rssKiB', at),
          )
        : `${at.slice(0, -1)} must be an object`,
    ),
  );
}

function checkTruth(t: unknown): Check {
  if (!isObject(t)) return `truth must be an object, got ${describe(t)}`;
  return first(
    () => eachOf(t.vcpus, 'truth.vcpus', (x, at) =>
      isObject(x)
        ? first(
            () => need(x, 'domain', (d) => typeof d === 'string', 'a string', at),
            () => need(x, 'vcpu', isInteger, 'an integer', at),
            () => need(x, 'demand', isNumber, 'a number', at),
            () => need(x, 'received', isNumber, 'a number', at),
          )
        : `${at.slice(0, -1)} must be an object`,
    ),
    () => (isObject(t.memoryDemandKiB) && Object.values(t.memoryDemandKiB).every(isNumber) ? undefined : `truth.memoryDemandKiB must map domain to a number, got ${describe(t.memoryDemandKiB)}`),
    () => eachOf(t.oomEvents, 'truth.oomEvents', (o, at) =>
      isObject(o) ? need(o, 'domain', (d) => typeof d === 'string', 'a string', at) : `${at.slice(0, -1)} must be an object`,
    ),
    () => (t.cache === undefined ? undefined : checkCacheTruth(t.cache)),
    () => (t.memoryDevices === undefined ? undefined : checkDeviceTruth(t.memoryDevices)),
  );
}

/** `truth.memoryDevices`: per domain, its virtio-mem device in KiB (since #19). */
function checkDeviceTruth(m: unknown): Check {
  if (!isObject(m)) return `truth.memoryDevices must map domain to a device, got ${describe(m)}`;
  for (const [domain, d] of Object.entries(m)) {
    const at = `truth.memoryDevices.${domain}.`;
    if (!isObject(d)) return `${at.slice(0, -1)} must be an object, got ${describe(d)}`;
    const bad = first(...(['bootKiB', 'sizeKiB', 'requestedKiB', 'pluggedKiB'] as const).map((k) => () => need(d, k, isNumber, 'a number', at)));
    if (bad) return bad;
  }
  return undefined;
}

const CACHE_TRUTH_KEYS = ['hotMiB', 'coldMiB', 'coldMiBSeconds', 'refaultMiB', 'coordinatorRefaultMiB', 'readStallSeconds'] as const;

function checkCacheTruth(c: unknown): Check {
  if (!isObject(c)) return `truth.cache must map domain to an object, got ${describe(c)}`;
  for (const [domain, g] of Object.entries(c)) {
    const at = `truth.cache.${domain}.`;
    if (!isObject(g)) return `${at.slice(0, -1)} must be an object, got ${describe(g)}`;
    for (const key of CACHE_TRUTH_KEYS) {
      const problem = need(g, key, isNumber, 'a number', at);
      if (problem) return problem;
    }
  }
  return undefined;
}

/** Splits a parsed trace into its header and interval lines. */
export function splitTrace(lines: TraceLine[]): { header: TraceHeader | undefined; intervals: TraceInterval[] } {
  const header = lines.find((l): l is TraceHeader => l.type === 'header');
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  return { header, intervals };
}
