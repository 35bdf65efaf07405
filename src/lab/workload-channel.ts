// Talks to vb-workload inside a lab guest over its virtio-serial channel. On the host the channel
// is a UNIX socket that QEMU listens on; one request per connection, one line each way, matched by
// a `#<id>` prefix so a late reply to an abandoned request can never be taken for the next one.
import net from 'node:net';
import type { DomainRef } from '../ground/hypervisor.js';
import { guestFiles, labRoot } from './paths.js';

export interface MemorySchedule {
  /** Speed toward the target, MiB/s (0 = at once). */
  rateMiBps: number;
  /** Memory the program should hold, MiB. */
  targetMiB: number;
  /** Seconds to hold at the target before releasing; undefined = hold until told. */
  holdSeconds?: number;
  /** Speed of the release after the hold, MiB/s (0 or undefined = at once). */
  releaseMiBps?: number;
}

/** A one-time read of data the guest never read before (cold data). */
export interface ScanSchedule {
  /** How much to read, MiB. */
  mib: number;
  /** Read speed, MiB/s; 0 or undefined = as fast as the guest can. */
  rateMiBps?: number;
}

/** A set the guest re-reads periodically (hot data): the last `mib` MiB of its disk. */
export interface HotSchedule {
  mib: number;
  /** Seconds between the starts of two passes. */
  everySeconds: number;
  /** Read speed of a pass, MiB/s; 0 or undefined = as fast as the guest can. */
  rateMiBps?: number;
}

/** What vb-workload reports about its disk reads (absent from a guest image without disks). */
export interface DiskStatus {
  /** Size of /dev/vda, MiB; 0 = the guest has no disk. */
  diskMiB: number;
  /** Page cache as the guest's /proc/meminfo says: Cached and Buffers (a raw disk's cache is in Buffers), KiB. */
  cachedKiB: number;
  buffersKiB: number;
  /** MiB read so far by the current (or last) scan, and its size. */
  scanMiB: number;
  scanTargetMiB: number;
  scanPhase: 'idle' | 'run' | 'done';
  /** The hot set (0 = off), its period, completed passes and the last pass's duration. */
  hotMiB: number;
  hotEverySeconds: number;
  hotPasses: number;
  hotPassSeconds: number;
  /** MiB the program read (from the cache or the disk) since it started, and over the last second, MiB/s. */
  readMiB: number;
  readMiBps: number;
  /** MiB the guest kernel read from the disk (its block statistics), and over the last second. */
  diskReadMiB: number;
  diskReadMiBps: number;
}

/** The latency probe (`probe on|off`): how late its 10 ms wake-ups were since it was last turned on, µs. */
export interface ProbeStatus {
  on: boolean;
  samples: number;
  /** Undefined while there are no samples. */
  p50Us?: number;
  p99Us?: number;
  maxUs?: number;
}

/**
 * One vCPU's CPU load as vb-workload plays it: busy for `duty` of every `periodMs` (100 ms when
 * absent), by the clock: the rest of a period is slept from when its burst began, so a burst kept
 * waiting for a pCPU is never made up (a scenario's `bursty: {duty, period}`).
 */
export interface CpuLoad {
  /** 0..1. */
  duty: number;
  /** 10..60000 ms; undefined = the default 100 ms. */
  periodMs?: number;
}

/** vb-workload's period when none is given, and the bounds it accepts (the simulator's bursty bounds too). */
export const DEFAULT_CPU_PERIOD_MS = 100;
export const MIN_CPU_PERIOD_MS = 10;
export const MAX_CPU_PERIOD_MS = 60_000;

export interface WorkloadStatus {
  vcpus: number;
  /** Duty per vCPU, 0..1. */
  cpu: number[];
  /** Period per vCPU, ms (100 unless told otherwise). */
  cpuPeriodMs: number[];
  memMiB: number;
  memTargetMiB: number;
  memPeakMiB: number;
  memPhase: 'idle' | 'grow' | 'hold' | 'release';
  memTotalKiB: number;
  memFreeKiB: number;
  memAvailableKiB: number;
  uptimeSeconds: number;
  /** Pid of vb-workload; it changes when the OOM killer took the program and init restarted it. */
  pid: number;
  disk?: DiskStatus;
  /** Absent from workload programs older than the probe. */
  probe?: ProbeStatus;
}

export class WorkloadError extends Error {
  /**
   * Worth sending again: `unanswered` (no answer in time), or `busy` (QEMU's channel socket had its one pending
   * connection taken: connect EAGAIN). Undefined for every other failure.
   */
  readonly again: 'unanswered' | 'busy' | undefined;

  constructor(message: string, readonly socketPath: string, again?: 'unanswered' | 'busy') {
    super(message);
    this.name = 'WorkloadError';
    this.again = again;
  }
}

let nextId = 1;

/** Sends one command line and returns the reply without its id and `ok ` (throws on `err` or timeout). */
export function workloadRequest(socketPath: string, command: string, timeoutMs = 5_000): Promise<string> {
  if (/[\r\n]/.test(command)) throw new WorkloadError('a workload command is one line', socketPath);
  const id = `#${process.pid}.${nextId++}`;
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    let buffer = '';
    let settled = false;
    const finish = (err: Error | undefined, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new WorkloadError(`no answer from the guest's workload program within ${timeoutMs} ms (${socketPath})`, socketPath, 'unanswered')), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${id} ${command}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith(`${id} `)) continue; // a stale reply to someone else's request
        const body = line.slice(id.length + 1);
        if (body.startsWith('ok')) finish(undefined, body.slice(2).trim());
        else finish(new WorkloadError(`guest workload refused '${command}': ${body.replace(/^err\s*/, '')}`, socketPath));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? 'no such socket (is the guest running?)'
        : err.code === 'ECONNREFUSED' ? 'connection refused (is the guest running?)'
        : err.message;
      finish(new WorkloadError(`cannot reach the workload channel ${socketPath}: ${why}`, socketPath, err.code === 'EAGAIN' ? 'busy' : undefined));
    });
    socket.on('close', () => finish(new WorkloadError(`the workload channel ${socketPath} closed before an answer`, socketPath)));
  });
}

/** Parses the `key=value ...` body of a status reply. */
export function parseStatus(body: string): WorkloadStatus {
  const kv = new Map<string, string>();
  for (const word of body.split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) kv.set(word.slice(0, eq), word.slice(eq + 1));
  }
  const num = (k: string): number => {
    const v = Number(kv.get(k));
    if (!kv.has(k) || !Number.isFinite(v)) throw new Error(`workload status lacks ${k}: '${body}'`);
    return v;
  };
  const phase = kv.get('mem_phase');
  if (phase !== 'idle' && phase !== 'grow' && phase !== 'hold' && phase !== 'release') throw new Error(`workload status has mem_phase '${phase}'`);
  let disk: DiskStatus | undefined;
  if (kv.has('disk_mib')) {
    const scanPhase = kv.get('scan_phase');
    if (scanPhase !== 'idle' && scanPhase !== 'run' && scanPhase !== 'done') throw new Error(`workload status has scan_phase '${scanPhase}'`);
    disk = {
      diskMiB: num('disk_mib'), cachedKiB: num('cached_kib'), buffersKiB: num('buffers_kib'),
      scanMiB: num('scan_mib'), scanTargetMiB: num('scan_target_mib'), scanPhase,
      hotMiB: num('hot_mib'), hotEverySeconds: num('hot_every_s'), hotPasses: num('hot_passes'), hotPassSeconds: num('hot_pass_s'),
      readMiB: num('read_mib'), readMiBps: num('read_mibps'), diskReadMiB: num('disk_read_mib'), diskReadMiBps: num('disk_read_mibps'),
    };
  }
  let probe: ProbeStatus | undefined;
  if (kv.has('probe')) {
    const on = kv.get('probe');
    if (on !== 'on' && on !== 'off') throw new Error(`workload status has probe '${on}'`);
    const samples = num('probe_samples');
    const figure = (k: string): number | undefined => (num(k) < 0 ? undefined : num(k));
    probe = { on: on === 'on', samples };
    const [p50Us, p99Us, maxUs] = [figure('probe_p50_us'), figure('probe_p99_us'), figure('probe_max_us')];
    if (samples > 0 && (p50Us === undefined || p99Us === undefined || maxUs === undefined)) throw new Error(`workload status has ${samples} probe samples but no figures: '${body}'`);
    if (p50Us !== undefined) Object.assign(probe, { p50Us, p99Us, maxUs });
  }
  let loads: Required<CpuLoad>[];
  try {
    loads = parseCpuLoads(kv.get('cpu') ?? '');
  } catch (err) {
    throw new Error(`workload status has cpu '${kv.get('cpu') ?? ''}': ${(err as Error).message}`);
  }
  return {
    ...(disk ? { disk } : {}),
    ...(probe ? { probe } : {}),
    vcpus: num('vcpus'),
    cpu: loads.map((l) => l.duty),
    cpuPeriodMs: loads.map((l) => l.periodMs),
    memMiB: num('mem_mib'),
    memTargetMiB: num('mem_target_mib'),
    memPeakMiB: num('mem_peak_mib'),
    memPhase: phase,
    memTotalKiB: num('memtotal_kib'),
    memFreeKiB: num('memfree_kib'),
    memAvailableKiB: num('memavailable_kib'),
    uptimeSeconds: num('uptime_s'),
    pid: num('pid'),
  };
}

function formatDuty(d: number): string {
  if (!(d >= 0 && d <= 1)) throw new RangeError(`CPU duty must be within 0..1, got ${d}`);
  return d.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
}

function checkPeriod(ms: number): number {
  if (!(Number.isFinite(ms) && ms >= MIN_CPU_PERIOD_MS && ms <= MAX_CPU_PERIOD_MS)) {
    throw new RangeError(`CPU period must be ${MIN_CPU_PERIOD_MS}..${MAX_CPU_PERIOD_MS} ms, got ${ms}`);
  }
  return ms;
}

/** `0.4@50` (40 % of every 50 ms), `0.8` for the default period. */
export function formatCpuLoad(load: number | CpuLoad): string {
  const l = typeof load === 'number' ? { duty: load } : load;
  const duty = formatDuty(l.duty);
  if (l.periodMs === undefined || l.periodMs === DEFAULT_CPU_PERIOD_MS) return duty;
  return `${duty}@${Number(checkPeriod(l.periodMs).toFixed(3))}`;
}

/** The command line for one load for every vCPU, or one per vCPU (vb-workload repeats the last for the rest). */
export function cpuCommand(loads: number | CpuLoad | readonly (number | CpuLoad)[]): string {
  const list = typeof loads === 'number' || !Array.isArray(loads) ? [loads as number | CpuLoad] : [...(loads as readonly (number | CpuLoad)[])];
  if (list.length === 0) throw new RangeError('a cpu command needs at least one duty');
  return `cpu ${list.map(formatCpuLoad).join(',')}`;
}

/**
 * Parses a duty list as vb-workload writes and takes it (`0.40@50,1.00`, `0.8`): each entry a duty
 * 0..1 with an optional `@<ms>` period (100 ms when absent). Throws a RangeError saying what is wrong.
 */
export function parseCpuLoads(text: string): Required<CpuLoad>[] {
  if (text.trim() === '') throw new RangeError('no duty given');
  return text.split(',').map((entry) => {
    const m = /^\s*([^@\s]+)(?:@([^@\s]+))?\s*$/.exec(entry);
    const duty = m ? Number(m[1]) : Number.NaN;
    if (!m || !(duty >= 0 && duty <= 1) || m[1]!.trim() === '') throw new RangeError(`duty must be a number from 0 to 1 (optionally @<ms>), got '${entry}'`);
    const periodMs = m[2] === undefined ? DEFAULT_CPU_PERIOD_MS : Number(m[2]);
    if (m[2] !== undefined && !(periodMs >= MIN_CPU_PERIOD_MS && periodMs <= MAX_CPU_PERIOD_MS)) {
      throw new RangeError(`period must be a number of ms from ${MIN_CPU_PERIOD_MS} to ${MAX_CPU_PERIOD_MS}, got '${entry}'`);
    }
    return { duty, periodMs };
  });
}

/** The command line for a memory schedule. */
export function memoryCommand(schedule: MemorySchedule | 'release'): string {
  if (schedule === 'release') return 'mem release';
  const fields = [['rate', schedule.rateMiBps], ['target', schedule.targetMiB], ['hold', schedule.holdSeconds], ['release', schedule.releaseMiBps]] as const;
  const words: string[] = [];
  for (const [k, v] of fields) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`memory schedule ${k} must be a finite number >= 0, got ${v}`);
    words.push(`${k}=${k === 'target' ? Math.round(v) : v}`);
  }
  return `mem ${words.join(' ')}`;
}

function rateWord(rate: number | undefined): string {
  if (rate === undefined || rate === 0) return '';
  if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`read rate must be a finite number >= 0 MiB/s, got ${rate}`);
  return ` rate=${rate}`;
}

/** The command line for a scan (or stopping it). */
export function scanCommand(schedule: ScanSchedule | 'stop'): string {
  if (schedule === 'stop') return 'scan stop';
  const mib = Math.round(schedule.mib);
  if (!(mib >= 1)) throw new RangeError(`a scan reads at least 1 MiB, got ${schedule.mib}`);
  return `scan ${mib}${rateWord(schedule.rateMiBps)}`;
}

/** The command line for a hot set (or turning it off). */
export function hotCommand(schedule: HotSchedule | 'off'): string {
  if (schedule === 'off') return 'hot off';
  const mib = Math.round(schedule.mib);
  if (mib === 0) return 'hot off';
  if (!(mib >= 1)) throw new RangeError(`a hot set is at least 1 MiB, got ${schedule.mib}`);
  if (!(Number.isFinite(schedule.everySeconds) && schedule.everySeconds > 0)) throw new RangeError(`a hot set is re-read every S > 0 seconds, got ${schedule.everySeconds}`);
  return `hot ${mib} every=${schedule.everySeconds}${rateWord(schedule.rateMiBps)}`;
}

export type DomainName = DomainRef | string;

/** How long one attempt waits for its reply before the request is sent again, ms. */
export const ATTEMPT_TIMEOUT_MS = 1_500;

/**
 * Sends a request and, when no reply comes within `attemptMs` (or QEMU's socket refuses the
 * connection for now, EAGAIN), sends it again, until `timeoutMs` has passed. Needed because a
 * reply can be lost: each request is a new connection to QEMU's socket, and the guest may still
 * believe the previous client gone (the "host connected" control message races the data), so
 * its non-blocking write of the reply fails with EAGAIN and the reply is dropped. Seen here on ~1 in 20-30 requests while the guest was busy allocating memory.
 * Every command is idempotent (setting the same duty or memory schedule twice is harmless), and
 * the `#<id>` of each attempt keeps a late reply from being taken for a later one.
 */
export async function workloadRequestWithRetry(socketPath: string, command: string, timeoutMs = 5_000, attemptMs = ATTEMPT_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    const left = deadline - Date.now();
    attempts++;
    try {
      return await workloadRequest(socketPath, command, Math.max(1, Math.min(attemptMs, left)));
    } catch (err) {
      if (!(err instanceof WorkloadError && err.again !== undefined)) throw err;
      if (deadline - Date.now() <= 0) {
        throw new WorkloadError(`no answer from the guest's workload program within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}, ${socketPath})`, socketPath);
      }
      // QEMU accepts one client per channel socket and queues one more: a refused connect is retried after a pause.
      if (err.again === 'busy') await new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** Drives the workload of lab guests: what the scenario runner uses on real VMs. */
export class WorkloadController {
  // One request at a time per guest: QEMU serves one client per channel socket.
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly socketOf: (domain: string) => string,
    private readonly timeoutMs = 5_000,
  ) {}

  private request(domain: DomainName, command: string): Promise<string> {
    const name = typeof domain === 'string' ? domain : domain.name;
    const socketPath = this.socketOf(name);
    const previous = this.queues.get(socketPath) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => workloadRequestWithRetry(socketPath, command, this.timeoutMs));
    this.queues.set(socketPath, next);
    void next.finally(() => {
      if (this.queues.get(socketPath) === next) this.queues.delete(socketPath);
    }).catch(() => undefined);
    return next;
  }

  /** Sets the CPU duty (0..1) of every vCPU, or per vCPU from a list (each a duty or {duty, periodMs}); returns the duties now in force. */
  async setCpu(domain: DomainName, duty: number | CpuLoad | readonly (number | CpuLoad)[]): Promise<number[]> {
    return (await this.setCpuLoads(domain, duty)).map((l) => l.duty);
  }

  /** As setCpu, returning each vCPU's duty and period now in force. */
  async setCpuLoads(domain: DomainName, loads: number | CpuLoad | readonly (number | CpuLoad)[]): Promise<Required<CpuLoad>[]> {
    const body = await this.request(domain, cpuCommand(loads));
    return parseCpuLoads(/cpu=(\S+)/.exec(body)?.[1] ?? '');
  }

  /** Starts a memory schedule (or a release); returns the status right after. */
  async setMemory(domain: DomainName, schedule: MemorySchedule | 'release'): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, memoryCommand(schedule)));
  }

  /** Starts a one-time read of `mib` MiB the guest has not read before (or stops the current one); returns the status right after. */
  async setScan(domain: DomainName, schedule: ScanSchedule | 'stop'): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, scanCommand(schedule)));
  }

  /** Sets the hot set the guest re-reads every few seconds (or turns it off). */
  async setHot(domain: DomainName, schedule: HotSchedule | 'off'): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, hotCommand(schedule)));
  }

  /** Drops the guest's clean page cache (its kernel's drop_caches): the next reads go to the disk. */
  async dropCaches(domain: DomainName): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, 'drop'));
  }

  /** Starts the latency probe afresh (`on`) or stops it; returns the status right after. */
  async setProbe(domain: DomainName, on: boolean): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, on ? 'probe on' : 'probe off'));
  }

  async status(domain: DomainName): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, 'status'));
  }

  /** True when the workload program answers. */
  async ping(domain: DomainName): Promise<boolean> {
    try {
      return (await this.request(domain, 'ping')) === 'pong';
    } catch {
      return false;
    }
  }
}

/** A controller for the guests `lab up` started (sockets under the lab directory). */
export function labWorkloadController(root = labRoot(), timeoutMs?: number): WorkloadController {
  return new WorkloadController((name) => guestFiles(root, name).workloadSocket, timeoutMs);
}
