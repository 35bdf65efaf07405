// Scenario files: a simulated host and its guests' workloads as YAML data.
// The format is documented in docs/scenarios.md; this module is its only reader and validates it
// strictly, so a typo fails loudly with the file, the field and the line instead of being ignored.

import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { UsageError } from '../../ground/errors.js';
import { FieldReader, describeValue as describe, type FieldPath } from '../../yaml/field-reader.js';
import { uuidFromName } from './random.js';
import type { Noise, Workload } from './workload.js';

export type ControllerKind = 'cpu' | 'memory';

export interface HostSpec {
  hostname: string;
  pcpus: number;
  memoryMiB: number;
  /** Memory the host itself keeps (kernel, QEMU processes); never given to guests. */
  overheadMiB: number;
  /** What a memory coordinator should keep free on the host; a hint, not enforced by the simulator. */
  reserveMiB: number;
  /** How fast a balloon's actual size follows its target, MiB per second. */
  balloonRateMiBps: number;
  /** How fast each guest's disk reads (page cache misses), MiB per second. */
  diskReadMiBps: number;
  /** CPU burnt by things that are not guests (host processes), one thread per entry; empty when none. */
  otherLoad?: OtherLoadSpec[];
  /** How fast guests' virtio-mem devices plug and unplug (`host.memoryDevice`); absent: the defaults. */
  memoryDevice?: MemoryDeviceRates;
}

/** How fast a guest plugs and unplugs virtio-mem memory, MiB per second. */
export interface MemoryDeviceRates {
  plugMiBps: number;
  unplugMiBps: number;
}

/** Measured on the lab host (libvirt 9.0, QEMU 7.2, TCG, idle guest): 1 GiB plugged in 1.07 s, 768 MiB unplugged in 1.84 s. */
export const DEFAULT_MEMORY_DEVICE_RATES: MemoryDeviceRates = { plugMiBps: 1000, unplugMiBps: 400 };
/** Block size of a virtio-mem device when the scenario does not say (QEMU's smallest on x86, and libvirt's usual). */
export const DEFAULT_MEMORY_DEVICE_BLOCK_MIB = 2;

/** A guest's virtio-mem device (`domains[].memoryDevice`), MiB. */
export interface MemoryDeviceSpec {
  /** The most it can plug. */
  sizeMiB: number;
  /** The unit of plugging: a power of two ≥ 2. */
  blockMiB: number;
  /** What is requested (and plugged) when the guest boots. */
  requestedMiB: number;
  /** Requests someone else makes (an operator with virsh), [seconds, MiB], in time order; empty: none. */
  requests: Array<[number, number]>;
}

/** One host thread that is not a guest: where it runs, how busy it wants to be, how much it weighs against a guest vCPU. */
export interface OtherLoadSpec {
  pcpu: number;
  /** Demand, 0..1 of its pCPU. */
  load: Workload;
  /** Weight against a guest vCPU of weight 1 when they share the pCPU. */
  weight: number;
}

/** A guest reading file data: once (a scan, cold afterwards) or again and again (a hot set). */
export type ReadSpec =
  | { kind: 'scan'; sizeMiB: number; rateMiBps: number; atSeconds: number }
  | { kind: 'hot'; sizeMiB: number; rateMiBps: number; atSeconds: number; everySeconds: number; untilSeconds: number | null };

/**
 * What a real Linux guest's kernel does to the balloon statistics (seen on the lab's guests, Debian's
 * cloud kernel 6.1 booted at 2048 MiB, issue #18): MemTotal is the balloon less what the kernel took
 * at boot, page cache never fills the last `minFreeMiB` (kswapd's watermarks), and MemAvailable is
 * MemFree − `reserveMiB` (totalreserve_pages) + cache − min(cache / 2, `lowWatermarkMiB`), as
 * si_mem_available computes it. Without it the simulated guest reports MemTotal = balloon, fills
 * every free page with cache and MemAvailable = MemFree + cache.
 */
export interface GuestKernel {
  reservedMiB: number;
  minFreeMiB: number;
  reserveMiB: number;
  lowWatermarkMiB: number;
}

/**
 * The domain leaves the host (`migrateOut`: after its outgoing job, with its state: balloon, memory
 * in use, page cache, workload clock) or arrives again (`migrateIn`: a new id, fresh vCPU counters,
 * its defined pins). During `jobSeconds` it runs with a job under way (outgoing or incoming migration)
 * and must not be touched.
 */
export interface MoveSpec {
  kind: 'migrateOut' | 'migrateIn';
  atSeconds: number;
  jobSeconds: number;
}

export interface DomainSpec {
  name: string;
  uuid: string;
  vcpus: number;
  /** Balloon size at start, MiB. */
  memoryMiB: number;
  maxMemoryMiB: number;
  /** Lowest size a coordinator should give this guest; a hint, not enforced by the simulator. */
  floorMiB?: number;
  /** Per vCPU: the pCPUs it is pinned to, or null when unpinned. */
  pin: Array<number[] | null>;
  startSeconds: number;
  stopSeconds: number | null;
  /** Balloon stats period at start, seconds; 0 = only the balloon driver's boot-time report, frozen, until someone sets one. */
  statsPeriod: number;
  /** From this time on the guest no longer refreshes its stats (a hung balloon driver). */
  statsStopSeconds: number | null;
  /** false = no balloon device: no balloon stats and setMemory fails. */
  balloon: boolean;
  /** The balloon reports free pages (`<memballoon freePageReporting='on'>`): freed memory leaves the host's resident set by itself (free-page-reporting.ts). */
  freePageReporting?: boolean;
  /** The guest kernel's figures (GuestKernel); absent: the idealised guest. */
  guestKernel?: GuestKernel;
  /** The guest's balloon driver reports every statistic as all ones (some virtio-win versions): its
   *  figures are not reported, and served over libvirt's protocol they arrive as 2^64 − 1 ('bytes')
   *  or, as a libvirtd with a 32-bit `unsigned long` divides them, (2^64 − 1) >> 10 ('kib'). */
  allOnesStats?: 'bytes' | 'kib';
  /** From this time on its reports are all ones (default 0: from the first). */
  allOnesStatsSeconds?: number;
  /** Relative CPU weight under contention (like cgroup cpu.weight / 100). */
  weight: number;
  /** Asks the vCPU scheduler for pCPUs of its own while it is busy (src/cpu/dedicated.ts); the simulator itself ignores it. */
  dedicated?: boolean;
  /** Per vCPU demand, 0..1 of a pCPU. */
  cpu: Workload[];
  /** Memory the guest uses, MiB, including its kernel and base system. */
  usedMiB: Workload;
  /** Page cache the guest holds at boot (data read before, never read again), MiB. */
  cachesMiB: number;
  /** File reads that fill the page cache. */
  reads: ReadSpec[];
  /** A virtio-mem device beside the boot memory (then `maxMemoryMiB` is the boot memory); absent: none. */
  memoryDevice?: MemoryDeviceSpec;
  /** Moves away and back, in time order, alternating out and in, the first out. */
  moves?: MoveSpec[];
  /** Its definition pins its vCPUs (`<cputune><vcpupin>`, the pins given in `pin`): someone else owns its placement. */
  definitionPins?: boolean;
  /** Its memory is hugepage-backed (`<memoryBacking><hugepages/>`). The simulator still balloons it if asked. */
  hugepages?: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  /** Where it was read from (a path or a name given for errors). */
  source: string;
  controllers: ControllerKind[];
  intervalSeconds: number;
  intervals: number;
  seed: number;
  /** Integration sub-step of the simulator, ms. */
  stepMs: number;
  host: HostSpec;
  domains: DomainSpec[];
}

/** A scenario file that cannot be used; the message names file, line and field. Bad input → exit 2. */
export class ScenarioError extends UsageError {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string,
  ) {
    super(message);
    this.name = 'ScenarioError';
  }
}

type Path = FieldPath;

const TOP_KEYS = ['name', 'description', 'controllers', 'interval', 'intervals', 'seed', 'stepMs', 'host', 'domains'] as const;
const HOST_KEYS = ['name', 'pcpus', 'memoryMiB', 'overheadMiB', 'reserveMiB', 'balloonRateMiBps', 'diskReadMiBps', 'otherLoad', 'memoryDevice'] as const;
const RATE_KEYS = ['plugMiBps', 'unplugMiBps'] as const;
const DEVICE_KEYS = ['sizeMiB', 'blockMiB', 'requestedMiB', 'requests'] as const;
const OTHER_LOAD_KEYS = ['pcpu', 'load', 'weight'] as const;
const DOMAIN_KEYS = [
  'name', 'uuid', 'vcpus', 'memoryMiB', 'maxMemoryMiB', 'floorMiB', 'pin', 'start', 'stop',
  'statsPeriod', 'statsStopAt', 'balloon', 'freePageReporting', 'guestKernel', 'allOnesStats', 'allOnesStatsAt', 'weight', 'dedicated', 'workload', 'memoryDevice',
  'moves', 'definitionPins', 'hugepages',
] as const;
const GUEST_KERNEL_KEYS = ['reservedMiB', 'minFreeMiB', 'reserveMiB', 'lowWatermarkMiB'] as const;
const MOVE_KEYS = ['migrateOut', 'migrateIn', 'job'] as const;
const WORKLOAD_KEYS = ['cpu', 'usedMiB', 'cachesMiB', 'reads'] as const;
const READ_KEYS = ['scan', 'hot', 'rate', 'at', 'every', 'until'] as const;
/** Largest file a read may cover (the simulator keeps it in 1 MiB chunks). */
const MAX_READ_MIB = 64 * 1024;
const SHAPE_KEYS = ['constant', 'steps', 'ramp', 'onOff'] as const;
type ShapeKey = (typeof SHAPE_KEYS)[number] | 'bursty';
/** Shortest period of a bursty vCPU, ms: ten ticks of the simulation (physics.ts TICK_NS). */
const MIN_BURST_PERIOD_MS = 10;

const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Default read rate of a guest's disk, MiB/s (a virtio disk on a host SSD). */
export const DEFAULT_DISK_READ_MIBPS = 200;

/** Default memory a guest uses when its workload does not say (an idle small Linux guest). */
export const DEFAULT_USED_MIB = 100;

function readWorkload(r: FieldReader, value: unknown, path: Path, min: number, max: number, unit: string, vcpu = false): Workload {
  const range = (v: unknown, p: Path): number => r.number(v, p, min, max);
  const keys: readonly ShapeKey[] = vcpu ? [...SHAPE_KEYS, 'bursty'] : SHAPE_KEYS;
  if (typeof value === 'number') return { kind: 'constant', value: range(value, path) };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    r.fail(path, `expected a number (${unit}) or a mapping with one of ${keys.join(', ')}, got ${describe(value)}`);
  }
  if (!vcpu && (value as Record<string, unknown>).bursty !== undefined) {
    r.fail([...path, 'bursty'], 'bursty (busy windows that end by the clock) is a shape of a guest vCPU\'s CPU demand only');
  }
  const obj = r.object(value, path, [...keys, 'noise']);
  const shapes = keys.filter((k) => obj[k] !== undefined);
  if (shapes.length !== 1) {
    r.fail(path, `expected a number or a mapping with exactly one of ${keys.join(', ')} (${unit})${shapes.length > 1 ? `, got ${shapes.join(' and ')}` : ''}`);
  }
  const kind = shapes[0]!;
  const at = [...path, kind];
  let noise: Noise | undefined;
  if (obj.noise !== undefined) {
    const n = r.object(obj.noise, [...path, 'noise'], ['sd', 'every'], ['sd']);
    noise = {
      sd: r.number(n.sd, [...path, 'noise', 'sd'], 0, max - min),
      everySeconds: n.every === undefined ? 1 : r.number(n.every, [...path, 'noise', 'every'], 0, 86400, { exclusiveMin: true }),
    };
  }
  const withNoise = (w: Workload): Workload => (noise ? { ...w, noise } : w);
  switch (kind) {
    case 'constant':
      return withNoise({ kind, value: range(obj.constant, at) });
    case 'steps':
    case 'ramp': {
      const raw = r.list(obj[kind], at, 1);
      const points: Array<[number, number]> = raw.map((p, i) => {
        const pair = r.list(p, [...at, i]);
        if (pair.length !== 2) r.fail([...at, i], `expected a pair [seconds, value], got ${pair.length} entr${pair.length === 1 ? 'y' : 'ies'}`);
        return [r.number(pair[0], [...at, i, 0], 0, Infinity), range(pair[1], [...at, i, 1])];
      });
      for (let i = 1; i < points.length; i++) {
        const prev = points[i - 1]![0];
        const cur = points[i]![0];
        // A ramp may repeat a time to jump; steps must strictly advance.
        if (kind === 'steps' ? cur <= prev : cur < prev) {
          r.fail([...at, i, 0], `times must ${kind === 'steps' ? 'increase' : 'not decrease'} (${cur} after ${prev})`);
        }
      }
      return withNoise({ kind, points });
    }
    case 'onOff': {
      const o = r.object(obj.onOff, at, ['period', 'onFor', 'on', 'off', 'phase'], ['period', 'onFor', 'on', 'off']);
      const periodSeconds = r.number(o.period, [...at, 'period'], 0, 86400, { exclusiveMin: true });
      return withNoise({
        kind,
        periodSeconds,
        onSeconds: r.number(o.onFor, [...at, 'onFor'], 0, periodSeconds),
        on: range(o.on, [...at, 'on']),
        off: range(o.off, [...at, 'off']),
        phaseSeconds: o.phase === undefined ? 0 : r.number(o.phase, [...at, 'phase'], 0, Infinity),
      });
    }
    case 'bursty': {
      if (noise) r.fail([...path, 'noise'], 'a bursty vCPU takes no noise (its windows are set by the clock)');
      const o = r.object(obj.bursty, at, ['duty', 'period', 'phase'], ['duty', 'period']);
      const periodMs = r.number(o.period, [...at, 'period'], MIN_BURST_PERIOD_MS, 60_000);
      const shape: Workload = { kind, duty: range(o.duty, [...at, 'duty']), periodMs };
      if (o.phase !== undefined) shape.phaseMs = r.number(o.phase, [...at, 'phase'], 0, periodMs);
      return shape;
    }
  }
}

function readRead(r: FieldReader, value: unknown, path: Path): ReadSpec {
  const o = r.object(value, path, READ_KEYS, ['rate']);
  const kinds = (['scan', 'hot'] as const).filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) r.fail(path, `expected exactly one of scan, hot (MiB to read)${kinds.length > 1 ? ', got both' : ''}`);
  const kind = kinds[0]!;
  const sizeMiB = r.number(o[kind], [...path, kind], 0, MAX_READ_MIB, { exclusiveMin: true });
  const rateMiBps = r.number(o.rate, [...path, 'rate'], 0, 1e6, { exclusiveMin: true });
  const atSeconds = o.at === undefined ? 0 : r.number(o.at, [...path, 'at'], 0, Infinity);
  if (kind === 'scan') {
    for (const key of ['every', 'until'] as const) if (o[key] !== undefined) r.fail([...path, key], `only a hot read repeats; a scan reads once`);
    return { kind, sizeMiB, rateMiBps, atSeconds };
  }
  if (o.every === undefined) r.fail(path, 'a hot read needs every (seconds between the starts of its passes)');
  return {
    kind,
    sizeMiB,
    rateMiBps,
    atSeconds,
    everySeconds: r.number(o.every, [...path, 'every'], 0, 86400, { exclusiveMin: true }),
    untilSeconds: o.until === undefined ? null : r.number(o.until, [...path, 'until'], atSeconds, Infinity, { exclusiveMin: true }),
  };
}

/** Accepts `all`, a pCPU number, a list of numbers, or a cpuset string such as "0-3,6". */
function readPcpuSet(r: FieldReader, value: unknown, path: Path, pcpus: number): number[] | null {
  const check = (n: unknown, p: Path): number => {
    if (typeof n === 'number' && Number.isInteger(n) && n >= pcpus) r.fail(p, `pCPU ${n} does not exist (host has ${pcpus}: 0-${pcpus - 1})`);
    return r.number(n, p, 0, pcpus - 1, { integer: true });
  };
  if (value === 'all') return null;
  if (typeof value === 'number') return [check(value, path)];
  if (typeof value === 'string') {
    const set = new Set<number>();
    for (const part of value.split(',')) {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
      if (!m) r.fail(path, `"${value}" is not a pCPU set (use a number, a list, "all" or a range like "0-3,6")`);
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      if (to < from) r.fail(path, `range ${part.trim()} runs backwards`);
      for (let n = from; n <= to; n++) set.add(check(n, path));
    }
    return [...set].sort((a, b) => a - b);
  }
  const list = r.list(value, path, 1).map((n, i) => check(n, [...path, i]));
  return [...new Set(list)].sort((a, b) => a - b);
}

/** `host.otherLoad`: a list of { pcpu, load (a CPU workload), weight (default 4) }. */
function readOtherLoad(r: FieldReader, value: unknown, pcpus: number): OtherLoadSpec[] {
  return r.list(value, ['host', 'otherLoad']).map((entry, i) => {
    const path: Path = ['host', 'otherLoad', i];
    const o = r.object(entry, path, OTHER_LOAD_KEYS, ['pcpu', 'load']);
    if (typeof o.pcpu === 'number' && Number.isInteger(o.pcpu) && o.pcpu >= pcpus) r.fail([...path, 'pcpu'], `pCPU ${o.pcpu} does not exist (host has ${pcpus}: 0-${pcpus - 1})`);
    return {
      pcpu: r.number(o.pcpu, [...path, 'pcpu'], 0, pcpus - 1, { integer: true }),
      load: readWorkload(r, o.load, [...path, 'load'], 0, 1, 'demand 0..1 of a pCPU'),
      weight: o.weight === undefined ? DEFAULT_OTHER_WEIGHT : r.number(o.weight, [...path, 'weight'], 0, 10000, { exclusiveMin: true }),
    };
  });
}

/** A host process outside libvirt's machine cgroup against one guest vCPU (lab: a lone guest got 19 % beside one busy process). */
export const DEFAULT_OTHER_WEIGHT = 4;

function readDomain(r: FieldReader, value: unknown, path: Path, host: HostSpec): DomainSpec {
  const d = r.object(value, path, DOMAIN_KEYS, ['name', 'memoryMiB']);
  const at = (key: string): Path => [...path, key];
  const name = r.string(d.name, at('name'), DOMAIN_NAME, 'a domain name (letters, digits, . _ + -)');
  const vcpus = d.vcpus === undefined ? 1 : r.number(d.vcpus, at('vcpus'), 1, 512, { integer: true });
  const maxMemoryMiB = d.maxMemoryMiB === undefined ? undefined : r.number(d.maxMemoryMiB, at('maxMemoryMiB'), 1, 16 * 1024 * 1024);
  const memoryMiB = r.number(d.memoryMiB, at('memoryMiB'), 1, maxMemoryMiB ?? 16 * 1024 * 1024);
  const max = maxMemoryMiB ?? memoryMiB;

  let pin: Array<number[] | null> = Array.from({ length: vcpus }, () => null);
  if (d.pin !== undefined && d.pin !== 'none') {
    const entries = r.list(d.pin, at('pin'));
    if (entries.length !== vcpus) r.fail(at('pin'), `expected one entry per vCPU (${vcpus}), got ${entries.length}; use "none" to leave all unpinned`);
    pin = entries.map((e, i) => readPcpuSet(r, e, [...path, 'pin', i], host.pcpus));
  }

  const startSeconds = d.start === undefined ? 0 : r.number(d.start, at('start'), 0, Infinity);
  const stopSeconds = d.stop === undefined ? null : r.number(d.stop, at('stop'), startSeconds, Infinity, { exclusiveMin: true });

  const w = d.workload === undefined ? {} : r.object(d.workload, at('workload'), WORKLOAD_KEYS);
  const wAt = (key: string): Path => [...path, 'workload', key];
  let cpu: Workload[];
  if (w.cpu === undefined) cpu = Array.from({ length: vcpus }, () => ({ kind: 'constant', value: 0 }));
  else if (Array.isArray(w.cpu)) {
    if (w.cpu.length !== vcpus) r.fail(wAt('cpu'), `expected one workload per vCPU (${vcpus}), got ${w.cpu.length}; give a single workload to use it for every vCPU`);
    cpu = w.cpu.map((x, i) => readWorkload(r, x, [...path, 'workload', 'cpu', i], 0, 1, 'demand 0..1 of a pCPU', true));
  } else {
    const one = readWorkload(r, w.cpu, wAt('cpu'), 0, 1, 'demand 0..1 of a pCPU', true);
    cpu = Array.from({ length: vcpus }, () => one);
  }
  const usedMiB: Workload = w.usedMiB === undefined ? { kind: 'constant', value: DEFAULT_USED_MIB } : readWorkload(r, w.usedMiB, wAt('usedMiB'), 0, 16 * 1024 * 1024, 'MiB');
  if (w.cachesMiB !== undefined && typeof w.cachesMiB !== 'number') {
    r.fail(wAt('cachesMiB'), `expected a number (page cache at boot, MiB), got ${describe(w.cachesMiB)}; cache that grows comes from reads`);
  }
  const cachesMiB = w.cachesMiB === undefined ? 0 : r.number(w.cachesMiB, wAt('cachesMiB'), 0, max);
  const reads = w.reads === undefined ? [] : r.list(w.reads, wAt('reads')).map((x, i) => readRead(r, x, [...path, 'workload', 'reads', i]));

  const spec: DomainSpec = {
    name,
    uuid: d.uuid === undefined ? uuidFromName(name) : r.string(d.uuid, at('uuid'), UUID, 'a UUID').toLowerCase(),
    vcpus,
    memoryMiB,
    maxMemoryMiB: max,
    pin,
    startSeconds,
    stopSeconds,
    statsPeriod: d.statsPeriod === undefined ? 0 : r.number(d.statsPeriod, at('statsPeriod'), 0, 86400, { integer: true }),
    statsStopSeconds: d.statsStopAt === undefined ? null : r.number(d.statsStopAt, at('statsStopAt'), 0, Infinity),
    balloon: d.balloon === undefined ? true : r.boolean(d.balloon, at('balloon')),
    weight: d.weight === undefined ? 1 : r.number(d.weight, at('weight'), 0, 10000, { exclusiveMin: true }),
    dedicated: d.dedicated === undefined ? false : r.boolean(d.dedicated, at('dedicated')),
    cpu,
    usedMiB,
    cachesMiB,
    reads,
  };
  if (d.floorMiB !== undefined) spec.floorMiB = r.number(d.floorMiB, at('floorMiB'), 0, max);
  if (d.moves !== undefined) spec.moves = readMoves(r, d.moves, at('moves'), startSeconds, stopSeconds);
  if (d.definitionPins !== undefined) {
    spec.definitionPins = r.boolean(d.definitionPins, at('definitionPins'));
    if (spec.definitionPins && pin.every((p) => p === null)) r.fail(at('definitionPins'), 'the definition pins its vCPUs: give them in pin');
  }
  if (d.hugepages !== undefined) spec.hugepages = r.boolean(d.hugepages, at('hugepages'));
  if (d.freePageReporting !== undefined) spec.freePageReporting = r.boolean(d.freePageReporting, at('freePageReporting'));
  if (d.guestKernel !== undefined) {
    const k = r.object(d.guestKernel, at('guestKernel'), GUEST_KERNEL_KEYS, GUEST_KERNEL_KEYS);
    const figure = (key: (typeof GUEST_KERNEL_KEYS)[number]) => r.number(k[key], [...at('guestKernel'), key], 0, memoryMiB);
    spec.guestKernel = { reservedMiB: figure('reservedMiB'), minFreeMiB: figure('minFreeMiB'), reserveMiB: figure('reserveMiB'), lowWatermarkMiB: figure('lowWatermarkMiB') };
  }
  if (d.allOnesStats !== undefined) spec.allOnesStats = r.string(d.allOnesStats, at('allOnesStats'), /^(bytes|kib)$/, "'bytes' or 'kib'") as 'bytes' | 'kib';
  if (d.allOnesStatsAt !== undefined) {
    if (spec.allOnesStats === undefined) r.fail(at('allOnesStatsAt'), 'needs allOnesStats (how the all-ones reports reach a client)');
    spec.allOnesStatsSeconds = r.number(d.allOnesStatsAt, at('allOnesStatsAt'), 0, Infinity);
  }
  if (d.memoryDevice !== undefined) spec.memoryDevice = readMemoryDevice(r, d.memoryDevice, at('memoryDevice'));
  return spec;
}

/** `domains[].memoryDevice`: { sizeMiB, blockMiB (default 2), requestedMiB (default 0) }, whole blocks throughout. */
function readMemoryDevice(r: FieldReader, value: unknown, path: Path): MemoryDeviceSpec {
  const o = r.object(value, path, DEVICE_KEYS, ['sizeMiB']);
  const at = (key: string): Path => [...path, key];
  const blockMiB = o.blockMiB === undefined ? DEFAULT_MEMORY_DEVICE_BLOCK_MIB : r.number(o.blockMiB, at('blockMiB'), 2, 1024 * 1024, { integer: true });
  if ((blockMiB & (blockMiB - 1)) !== 0) r.fail(at('blockMiB'), `${blockMiB} is not a power of two (virtio-mem blocks are 2, 4, 8, ... MiB)`);
  const sizeMiB = r.number(o.sizeMiB, at('sizeMiB'), blockMiB, 16 * 1024 * 1024, { integer: true });
  if (sizeMiB % blockMiB !== 0) r.fail(at('sizeMiB'), `${sizeMiB} is not a multiple of the block (${blockMiB} MiB)`);
  const requestedMiB = o.requestedMiB === undefined ? 0 : r.number(o.requestedMiB, at('requestedMiB'), 0, sizeMiB, { integer: true });
  if (requestedMiB % blockMiB !== 0) r.fail(at('requestedMiB'), `${requestedMiB} is not a multiple of the block (${blockMiB} MiB)`);
  const requests = o.requests === undefined ? [] : r.list(o.requests, at('requests')).map((p, i): [number, number] => {
    const pair = r.list(p, [...path, 'requests', i]);
    if (pair.length !== 2) r.fail([...path, 'requests', i], `expected a pair [seconds, MiB], got ${pair.length} entr${pair.length === 1 ? 'y' : 'ies'}`);
    const mib = r.number(pair[1], [...path, 'requests', i, 1], 0, sizeMiB, { integer: true });
    if (mib % blockMiB !== 0) r.fail([...path, 'requests', i, 1], `${mib} is not a multiple of the block (${blockMiB} MiB)`);
    return [r.number(pair[0], [...path, 'requests', i, 0], 0, Infinity), mib];
  });
  for (let i = 1; i < requests.length; i++) {
    if (requests[i]![0] <= requests[i - 1]![0]) r.fail([...path, 'requests', i, 0], `times must increase (${requests[i]![0]} after ${requests[i - 1]![0]})`);
  }
  return { sizeMiB, blockMiB, requestedMiB, requests };
}

/** `host.memoryDevice`: { plugMiBps, unplugMiBps }, each defaulting to DEFAULT_MEMORY_DEVICE_RATES. */
function readRates(r: FieldReader, value: unknown): MemoryDeviceRates {
  const o = r.object(value, ['host', 'memoryDevice'], RATE_KEYS);
  const rate = (key: 'plugMiBps' | 'unplugMiBps'): number =>
    o[key] === undefined ? DEFAULT_MEMORY_DEVICE_RATES[key] : r.number(o[key], ['host', 'memoryDevice', key], 0, 1e7, { exclusiveMin: true });
  return { plugMiBps: rate('plugMiBps'), unplugMiBps: rate('unplugMiBps') };
}

/** A domain's moves: each `{ migrateOut: S }` or `{ migrateIn: S }` with an optional `job` (s); out and in alternate, out first, in time order, within its life. */
function readMoves(r: FieldReader, value: unknown, path: Path, startSeconds: number, stopSeconds: number | null): MoveSpec[] {
  const moves: MoveSpec[] = [];
  let after = startSeconds;
  r.list(value, path, 1).forEach((raw, i) => {
    const at = [...path, i];
    const o = r.object(raw, at, MOVE_KEYS);
    const kinds = (['migrateOut', 'migrateIn'] as const).filter((k) => o[k] !== undefined);
    if (kinds.length !== 1) r.fail(at, 'expected exactly one of migrateOut, migrateIn (seconds)');
    const kind = kinds[0]!;
    const expected = i % 2 === 0 ? 'migrateOut' : 'migrateIn';
    if (kind !== expected) r.fail([...at, kind], `expected ${expected}: moves alternate, the first one out (the domain starts here)`);
    const atSeconds = r.number(o[kind], [...at, kind], after, stopSeconds ?? Infinity, { exclusiveMin: true });
    const jobSeconds = o.job === undefined ? 0 : r.number(o.job, [...at, 'job'], 0, 86400);
    moves.push({ kind, atSeconds, jobSeconds });
    after = atSeconds + jobSeconds;
  });
  return moves;
}

/** Parses and validates scenario text; `source` names it in error messages (usually the path). */
export function parseScenario(text: string, source: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false });
  const r = new FieldReader(doc, lines, source, (message, file, line, field) => new ScenarioError(message, file, line, field));
  const syntax = doc.errors[0];
  if (syntax) {
    const line = lines.linePos(syntax.pos[0]).line;
    const first = syntax.message.split('\n')[0] ?? syntax.message;
    throw new ScenarioError(`${source}:${line}: YAML syntax: ${first}`, source, line, '(syntax)');
  }
  const top = r.object(doc.toJS({ maxAliasCount: 10000 }), [], TOP_KEYS, ['name', 'host', 'domains', 'interval', 'intervals']);

  const name = r.string(top.name, ['name']);
  const controllers = r.list(top.controllers ?? ['cpu', 'memory'], ['controllers'], 1).map((c, i): ControllerKind => {
    if (c !== 'cpu' && c !== 'memory') r.fail(['controllers', i], `expected cpu or memory, got ${describe(c)}`);
    return c as ControllerKind;
  });
  if (new Set(controllers).size !== controllers.length) r.fail(['controllers'], 'lists a controller twice');

  const h = r.object(top.host, ['host'], HOST_KEYS, ['pcpus', 'memoryMiB']);
  const memoryMiB = r.number(h.memoryMiB, ['host', 'memoryMiB'], 1, 1024 * 1024 * 1024);
  const host: HostSpec = {
    hostname: h.name === undefined ? 'sim' : r.string(h.name, ['host', 'name']),
    pcpus: r.number(h.pcpus, ['host', 'pcpus'], 1, 4096, { integer: true }),
    memoryMiB,
    overheadMiB: h.overheadMiB === undefined ? 0 : r.number(h.overheadMiB, ['host', 'overheadMiB'], 0, memoryMiB),
    reserveMiB: h.reserveMiB === undefined ? 0 : r.number(h.reserveMiB, ['host', 'reserveMiB'], 0, memoryMiB),
    balloonRateMiBps: h.balloonRateMiBps === undefined ? 400 : r.number(h.balloonRateMiBps, ['host', 'balloonRateMiBps'], 0, 1e7, { exclusiveMin: true }),
    diskReadMiBps: h.diskReadMiBps === undefined ? DEFAULT_DISK_READ_MIBPS : r.number(h.diskReadMiBps, ['host', 'diskReadMiBps'], 0, 1e7, { exclusiveMin: true }),
    otherLoad: [],
  };
  if (h.otherLoad !== undefined) host.otherLoad = readOtherLoad(r, h.otherLoad, host.pcpus);
  if (h.memoryDevice !== undefined) host.memoryDevice = readRates(r, h.memoryDevice);

  const domains = r.list(top.domains, ['domains'], 1).map((d, i) => readDomain(r, d, ['domains', i], host));
  const seen = new Map<string, number>();
  domains.forEach((d, i) => {
    const other = seen.get(d.name) ?? seen.get(d.uuid);
    if (other !== undefined) r.fail(['domains', i, 'name'], `domain ${d.name} repeats the name or UUID of domains[${other}]`);
    seen.set(d.name, i);
    seen.set(d.uuid, i);
  });

  return {
    name,
    description: top.description === undefined ? '' : r.string(top.description, ['description']).trim(),
    source,
    controllers,
    intervalSeconds: r.number(top.interval, ['interval'], 0, 86400, { exclusiveMin: true }),
    intervals: r.number(top.intervals, ['intervals'], 1, 10_000_000, { integer: true }),
    seed: top.seed === undefined ? 1 : r.number(top.seed, ['seed'], 0, 0xffffffff, { integer: true }),
    stepMs: top.stepMs === undefined ? 100 : r.number(top.stepMs, ['stepMs'], 1, 60_000),
    host,
    domains,
  };
}

/**
 * The same scenario with every virtio-mem guest made balloon-only, as it would be without the device:
 * booted at boot + the device's size (its new maximum) and ballooned to what it had at start (balloon +
 * requested). The yardstick for "no worse than balloon-only" (#19). Scenarios without a device come
 * back equal.
 */
export function balloonOnlyVariant(scenario: Scenario): Scenario {
  return {
    ...scenario,
    name: `${scenario.name}-balloon-only`,
    domains: scenario.domains.map((d) => {
      if (!d.memoryDevice) return d;
      const { memoryDevice: device, ...rest } = d;
      return { ...rest, maxMemoryMiB: d.maxMemoryMiB + device.sizeMiB, memoryMiB: d.memoryMiB + device.requestedMiB };
    }),
  };
}

/** Reads and validates a scenario file. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new UsageError(`cannot read scenario ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseScenario(text, path);
}
