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

export interface WorkloadStatus {
  vcpus: number;
  /** Duty per vCPU, 0..1. */
  cpu: number[];
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
}

export class WorkloadError extends Error {
  constructor(message: string, readonly socketPath: string) {
    super(message);
    this.name = 'WorkloadError';
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
    const timer = setTimeout(() => finish(new WorkloadError(`no answer from the guest's workload program within ${timeoutMs} ms (${socketPath})`, socketPath)), timeoutMs);
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
      finish(new WorkloadError(`cannot reach the workload channel ${socketPath}: ${why}`, socketPath));
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
  return {
    vcpus: num('vcpus'),
    cpu: (kv.get('cpu') ?? '').split(',').filter(Boolean).map(Number),
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

export type DomainName = DomainRef | string;

/** How long one attempt waits for its reply before the request is sent again, ms. */
export const ATTEMPT_TIMEOUT_MS = 1_500;

/**
 * Sends a request and, when no reply comes within `attemptMs`, sends it again, until `timeoutMs`
 * has passed. Needed because a reply can be lost: each request is a new connection to QEMU's
 * socket, and the guest may still believe the previous client gone (the "host connected" control
 * message races the data), so its non-blocking write of the reply fails with EAGAIN and the
 * reply is dropped. Seen here on ~1 in 20-30 requests while the guest was busy allocating memory.
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
      const noAnswer = err instanceof WorkloadError && /^no answer/.test(err.message);
      if (!noAnswer) throw err;
      if (deadline - Date.now() <= 0) {
        throw new WorkloadError(`no answer from the guest's workload program within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}, ${socketPath})`, socketPath);
      }
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

  /** Sets the CPU duty (0..1) of every vCPU, or per vCPU from a list; returns the duties now in force. */
  async setCpu(domain: DomainName, duty: number | readonly number[]): Promise<number[]> {
    const list = typeof duty === 'number' ? [duty] : [...duty];
    if (list.length === 0) throw new RangeError('setCpu needs at least one duty');
    const body = await this.request(domain, `cpu ${list.map(formatDuty).join(',')}`);
    return (/cpu=([\d.,]+)/.exec(body)?.[1] ?? '').split(',').filter(Boolean).map(Number);
  }

  /** Starts a memory schedule (or a release); returns the status right after. */
  async setMemory(domain: DomainName, schedule: MemorySchedule | 'release'): Promise<WorkloadStatus> {
    return parseStatus(await this.request(domain, memoryCommand(schedule)));
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
