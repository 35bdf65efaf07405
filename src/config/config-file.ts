import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { UsageError } from '../ground/errors.js';
import { FieldReader, describeValue as describe, type FieldPath } from '../yaml/field-reader.js';
import { parseUri } from '../libvirt/uri.js';
import { parseListenAddress, type ListenAddress } from './listen-address.js';
import { cpuObjectives, type CpuObjective } from '../cpu/options.js';

// The host service's configuration file (default /etc/virtbalance/config.yaml), documented in
// docs/config.md. Validated strictly at start: an unknown field, a wrong type or a value out of
// range stops virtbalance with one line naming the file, the line and the field.
// Command-line flags override what the file says (src/cli/run.ts merges them).

export const DEFAULT_CONFIG_PATH = '/etc/virtbalance/config.yaml';

export interface VmConfig {
  /** Share of host memory when it is short (memory coordinator weight). */
  weight?: number;
  /** Free memory this guest always keeps above what it uses, MiB. */
  floorMiB?: number;
  /** CPU weight against a default guest (libvirt cpu_shares = weight × 1024), set when the run starts. */
  cpuWeight?: number;
  /** false: virtbalance never observes or touches this domain. */
  manage?: boolean;
  /** pCPUs of its own while it is busy (vCPU scheduler, src/cpu/dedicated.ts). */
  dedicated?: boolean;
}

export interface RunConfig {
  source: string;
  connect?: string;
  intervalSeconds?: number;
  controllers?: { cpu: boolean; memory: boolean };
  dryRun?: boolean;
  restore?: boolean;
  trace?: string;
  /** Domains to manage (names, globs, UUIDs); none: every domain. */
  only?: string[];
  /** Domains never to manage (names, globs, UUIDs). */
  exclude?: string[];
  /** Where the dashboard and /metrics listen. */
  http?: ListenAddress;
  /** Allow an `http` address beyond loopback. */
  httpPublic?: boolean;
  /** `/metrics` extras: `libvirtNames` adds the per-domain series as Debian's prometheus-libvirt-exporter 0.2.0 names them (docs/fleet.md). */
  metrics?: { libvirtNames?: boolean; nodeNames?: boolean };
  cpu: { marginPoints?: number; persistIntervals?: number; urgentGainPoints?: number; objective?: CpuObjective; trials?: boolean };
  /** `cpu.definitionPins`: `keep` (default) leaves a guest whose definition pins its vCPUs to its pins; `manage` re-pins it too. Read by the loop, not the scheduler. */
  definitionPins?: DefinitionPins;
  memory: {
    floorMiB?: number;
    reserveMiB?: number;
    minActualMiB?: number;
    statsPeriodSeconds?: number;
    minChangeMiB?: number;
    /** Page cache (guests that report MemAvailable): cold cache taken back per second at most, MiB/s. */
    coldReclaimMiBps?: number;
    /** How long after a shrink into a guest's cache its reads are watched for refaults, seconds. */
    refaultWatchSeconds?: number;
    /** A rise of a guest's disk reads beyond this after such a shrink is a refault, MiB/s. */
    refaultMiBps?: number;
    /** How long a hot-cache size learned from a refault is kept, seconds. */
    hotMemorySeconds?: number;
    /** How long a guest's read bursts and its shrinks into the cache are remembered for refaults on a long period, seconds. */
    refaultHorizonSeconds?: number;
    /** The host has room when its free memory is this far above the reserve (and no guest starved within the watch), MiB. */
    roomMiB?: number;
    /** virtio-mem: memory that has stayed unneeded this long is unplugged, seconds. */
    unplugAfterSeconds?: number;
  };
  vms: Record<string, VmConfig>;
}

/** A configuration that cannot be used; the message names file, line and field. Exit 2. */
export class ConfigError extends UsageError {
  constructor(message: string, readonly file: string, readonly line: number | undefined, readonly field: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Path = FieldPath;

const TOP_KEYS = ['connect', 'interval', 'controllers', 'dryRun', 'restore', 'trace', 'only', 'exclude', 'http', 'httpPublic', 'metrics', 'cpu', 'memory', 'vms'] as const;
const CPU_KEYS = ['margin', 'persistIntervals', 'urgentGain', 'objective', 'trials', 'definitionPins'] as const;
export const definitionPinsChoices = ['keep', 'manage'] as const;
export type DefinitionPins = (typeof definitionPinsChoices)[number];
const MEMORY_KEYS = ['floorMiB', 'reserveMiB', 'minActualMiB', 'statsPeriod', 'minChangeMiB', 'coldReclaimMiBps', 'refaultWatch', 'refaultMiBps', 'hotMemory', 'refaultHorizon', 'roomMiB', 'unplugAfter'] as const;
const METRICS_KEYS = ['libvirtNames', 'nodeNames'] as const;
const VM_KEYS = ['weight', 'floorMiB', 'cpuWeight', 'manage', 'dedicated'] as const;
const DOMAIN_NAME = /^[^\s/][^/]*$/;
const MAX_MIB = 16 * 1024 * 1024;
/** Any disk read or reclaim rate a host could see, MiB/s. */
const MAX_MIBPS = 1024 * 1024;
const WEEK_SECONDS = 7 * 86_400;

function optional<T>(value: unknown, read: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : read(value);
}

/** Drops the keys whose value is undefined, so a spread never overrides a default with nothing. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Parses and validates configuration text; `source` names it in messages. */
export function parseConfig(text: string, source: string): RunConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const line = lines.linePos(syntax.pos[0]).line;
    throw new ConfigError(`${source}:${line}: YAML syntax: ${syntax.message.split('\n')[0]}`, source, line, '(syntax)');
  }
  const r = new FieldReader(doc, lines, source, (message, file, line, field) => new ConfigError(message, file, line, field), 'a whole number');
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  // An empty file (or only comments) is a valid configuration: everything at its default.
  const top = raw === null || raw === undefined ? {} : r.object(raw, [], TOP_KEYS);

  const connect = optional(top.connect, (v) => {
    const uri = r.string(v, ['connect']);
    try {
      parseUri(uri);
    } catch (err) {
      r.fail(['connect'], (err as Error).message);
    }
    return uri;
  });
  const http = optional(top.http, (v) => {
    // A bare port reads as a number in YAML.
    const text = typeof v === 'number' && Number.isInteger(v) ? String(v) : r.string(v, ['http']);
    try {
      return parseListenAddress(text, 'http');
    } catch (err) {
      return r.fail(['http'], (err as Error).message.replace(/^http /, ''));
    }
  });
  const httpPublic = optional(top.httpPublic, (v) => r.boolean(v, ['httpPublic']));
  if (httpPublic && !http) r.fail(['httpPublic'], 'needs http (the address to serve on)');
  const metricsRaw = top.metrics === undefined ? undefined : r.object(top.metrics, ['metrics'], METRICS_KEYS);
  const metrics =
    metricsRaw &&
    defined({
      libvirtNames: optional(metricsRaw.libvirtNames, (v) => r.boolean(v, ['metrics', 'libvirtNames'])),
      nodeNames: optional(metricsRaw.nodeNames, (v) => r.boolean(v, ['metrics', 'nodeNames'])),
    });
  const controllers = optional(top.controllers, (v) => {
    if (!Array.isArray(v) || v.length === 0) r.fail(['controllers'], `expected a list of cpu and/or memory, got ${describe(v)}`);
    const set = { cpu: false, memory: false };
    (v as unknown[]).forEach((c, i) => {
      if (c !== 'cpu' && c !== 'memory') r.fail(['controllers', i], `expected cpu or memory, got ${describe(c)}`);
      const which = c as 'cpu' | 'memory';
      if (set[which]) r.fail(['controllers', i], `lists ${which} twice`);
      set[which] = true;
    });
    return set;
  });
  const cpuRaw = top.cpu === undefined ? {} : r.object(top.cpu, ['cpu'], CPU_KEYS);
  const memRaw = top.memory === undefined ? {} : r.object(top.memory, ['memory'], MEMORY_KEYS);
  const vmsRaw = top.vms === undefined ? {} : r.object(top.vms, ['vms'], Object.keys(top.vms as object));
  const vms: Record<string, VmConfig> = {};
  for (const [name, value] of Object.entries(vmsRaw)) {
    if (!DOMAIN_NAME.test(name)) r.fail(['vms', name], `"${name}" is not a domain name`);
    const vm = r.object(value, ['vms', name], VM_KEYS);
    vms[name] = defined({
      weight: optional(vm.weight, (v) => r.number(v, ['vms', name, 'weight'], 0, 10_000, { exclusiveMin: true })),
      floorMiB: optional(vm.floorMiB, (v) => r.number(v, ['vms', name, 'floorMiB'], 0, MAX_MIB)),
      // cpu_shares = weight × 1024 must stay within the kernel's range (2 … 262144).
      cpuWeight: optional(vm.cpuWeight, (v) => r.number(v, ['vms', name, 'cpuWeight'], 0.01, 256)),
      manage: optional(vm.manage, (v) => r.boolean(v, ['vms', name, 'manage'])),
      dedicated: optional(vm.dedicated, (v) => r.boolean(v, ['vms', name, 'dedicated'])),
    });
  }

  return defined({
    source,
    connect,
    intervalSeconds: optional(top.interval, (v) => r.number(v, ['interval'], 0, 86_400, { exclusiveMin: true })),
    controllers,
    dryRun: optional(top.dryRun, (v) => r.boolean(v, ['dryRun'])),
    restore: optional(top.restore, (v) => r.boolean(v, ['restore'])),
    trace: optional(top.trace, (v) => r.string(v, ['trace'])),
    only: optional(top.only, (v) => patterns(r, v, 'only')),
    exclude: optional(top.exclude, (v) => patterns(r, v, 'exclude')),
    http,
    httpPublic,
    metrics,
    cpu: defined({
      marginPoints: optional(cpuRaw.margin, (v) => r.number(v, ['cpu', 'margin'], 0, 100)),
      persistIntervals: optional(cpuRaw.persistIntervals, (v) => r.number(v, ['cpu', 'persistIntervals'], 1, 1000, { integer: true })),
      urgentGainPoints: optional(cpuRaw.urgentGain, (v) => r.number(v, ['cpu', 'urgentGain'], 0, 100)),
      objective: optional(cpuRaw.objective, (v) => (cpuObjectives.includes(v as CpuObjective) ? (v as CpuObjective) : r.fail(['cpu', 'objective'], `expected fairness or balance, got ${describe(v)}`))),
      trials: optional(cpuRaw.trials, (v) => r.boolean(v, ['cpu', 'trials'])),
    }),
    definitionPins: optional(cpuRaw.definitionPins, (v) => (definitionPinsChoices.includes(v as DefinitionPins) ? (v as DefinitionPins) : r.fail(['cpu', 'definitionPins'], `expected keep or manage, got ${describe(v)}`))),
    memory: defined({
      floorMiB: optional(memRaw.floorMiB, (v) => r.number(v, ['memory', 'floorMiB'], 0, MAX_MIB)),
      reserveMiB: optional(memRaw.reserveMiB, (v) => r.number(v, ['memory', 'reserveMiB'], 0, MAX_MIB)),
      minActualMiB: optional(memRaw.minActualMiB, (v) => r.number(v, ['memory', 'minActualMiB'], 0, MAX_MIB)),
      statsPeriodSeconds: optional(memRaw.statsPeriod, (v) => r.number(v, ['memory', 'statsPeriod'], 1, 3600, { integer: true })),
      minChangeMiB: optional(memRaw.minChangeMiB, (v) => r.number(v, ['memory', 'minChangeMiB'], 0, MAX_MIB)),
      coldReclaimMiBps: optional(memRaw.coldReclaimMiBps, (v) => r.number(v, ['memory', 'coldReclaimMiBps'], 0, MAX_MIBPS, { exclusiveMin: true })),
      refaultWatchSeconds: optional(memRaw.refaultWatch, (v) => r.number(v, ['memory', 'refaultWatch'], 0, 86_400, { exclusiveMin: true })),
      refaultMiBps: optional(memRaw.refaultMiBps, (v) => r.number(v, ['memory', 'refaultMiBps'], 0, MAX_MIBPS, { exclusiveMin: true })),
      hotMemorySeconds: optional(memRaw.hotMemory, (v) => r.number(v, ['memory', 'hotMemory'], 0, WEEK_SECONDS)),
      refaultHorizonSeconds: optional(memRaw.refaultHorizon, (v) => r.number(v, ['memory', 'refaultHorizon'], 0, 86_400, { exclusiveMin: true })),
      roomMiB: optional(memRaw.roomMiB, (v) => r.number(v, ['memory', 'roomMiB'], 0, MAX_MIB)),
      unplugAfterSeconds: optional(memRaw.unplugAfter, (v) => r.number(v, ['memory', 'unplugAfter'], 0, 86_400)),
    }),
    vms,
  });
}

/** A domain pattern or a list of them (names, globs, UUIDs), as `only` and `exclude` take. */
function patterns(r: FieldReader, value: unknown, key: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) r.fail([key], 'expected a domain name, glob or UUID, or a list of them, got an empty list');
  return list.map((p, i) => r.string(p, Array.isArray(value) ? [key, i] : [key]).trim());
}

/** Reads and validates a configuration file. */
export function loadConfig(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new UsageError(`cannot read config ${path}: ${why}`);
  }
  return parseConfig(text, path);
}
