import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FatalError } from '../ground/errors.js';
import { parseUri } from '../libvirt/uri.js';

// One controller of a kind per libvirt host: two vCPU schedulers re-pinning the same guests, or two
// memory coordinators ballooning them, would undo each other's work every interval. A lock file per
// (normalised URI, controller) holds the owner's PID and its start time; a lock whose owner is dead
// (or whose PID now belongs to another process) is taken over. The vCPU scheduler and the memory
// coordinator lock separately, so the assignment's two programs still run side by side.
// Simulated hosts need no lock: each run has its own host.

export type ControllerName = 'cpu' | 'memory';

const CONTROLLER_TEXT: Record<ControllerName, string> = { cpu: 'the vCPU scheduler', memory: 'the memory coordinator' };

export interface LockOwner {
  pid: number;
  /** Process start time (field 22 of /proc/PID/stat), to tell a reused PID from the owner. */
  startTicks?: string;
  uri: string;
  controller: ControllerName;
  since: string;
}

export class LockHeldError extends FatalError {
  constructor(message: string, readonly owner: LockOwner, readonly path: string) {
    super(message);
    this.name = 'LockHeldError';
  }
}

/**
 * The daemon a URI reaches and the driver it opens, so that spellings of the same target share a
 * lock: `qemu:///system` and `qemu+unix:///system?socket=/var/run/libvirt/libvirt-sock` are one.
 */
export function normaliseUri(uri: string): string {
  const t = parseUri(uri);
  const where = t.transport === 'unix' ? t.socketPath : `${t.user ?? ''}@${t.host ?? ''}:${t.port ?? ''}${t.transport === 'ssh' ? t.socketPath : ''}`;
  return `${t.transport}:${where}|${t.openName}`;
}

/** Where lock files live: $VIRTBALANCE_LOCK_DIR, else /run/virtbalance for root, else $XDG_RUNTIME_DIR/virtbalance (or a per-user temp dir). */
export function defaultLockDir(): string {
  const override = process.env.VIRTBALANCE_LOCK_DIR;
  if (override) return override;
  if (process.getuid?.() === 0) return '/run/virtbalance';
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'virtbalance') : join(tmpdir(), `virtbalance-${process.getuid?.() ?? 'user'}`);
}

export function lockPath(uri: string, controller: ControllerName, dir = defaultLockDir()): string {
  const key = createHash('sha256').update(normaliseUri(uri)).digest('hex').slice(0, 16);
  return join(dir, `${key}-${controller}.lock`);
}

/** Start time of a process, or undefined when /proc does not say. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner still runs (and is the same process, not a reused PID). */
export function ownerAlive(owner: LockOwner): boolean {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTicks === undefined) return true;
  const now = processStartTicks(owner.pid);
  return now === undefined || now === owner.startTicks;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof owner === 'object' && owner !== null && typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

export interface ControllerLock {
  path: string;
  owner: LockOwner;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
  /** Set when a dead owner's lock was taken over. */
  tookOverFrom?: LockOwner;
}

/** Takes the lock of `controller` on `uri`, or throws LockHeldError naming the PID that holds it. */
export function acquireControllerLock(uri: string, controller: ControllerName, dir = defaultLockDir()): ControllerLock {
  const path = lockPath(uri, controller, dir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new FatalError(`cannot create the lock directory ${dir}: ${(err as Error).message} (set VIRTBALANCE_LOCK_DIR to a writable directory)`);
  }
  const owner: LockOwner = { pid: process.pid, startTicks: processStartTicks(process.pid), uri, controller, since: new Date().toISOString() };
  // Written aside, then linked into place: link() fails if the lock exists, and a reader never sees a half-written file.
  const staging = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(staging, JSON.stringify(owner) + '\n', { mode: 0o644 });
  let tookOverFrom: LockOwner | undefined;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(staging, path);
        return makeLock(path, owner, tookOverFrom);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new FatalError(`cannot create lock file ${path}: ${(err as Error).message}`);
        }
      }
      const holder = readOwner(path);
      if (holder && ownerAlive(holder)) {
        throw new LockHeldError(
          `${CONTROLLER_TEXT[controller]} already runs on ${holder.uri} as PID ${holder.pid} (since ${holder.since}; lock ${path}); stop it first`,
          holder,
          path,
        );
      }
      // A dead owner's lock, or an unreadable one left by a crash: take it over.
      tookOverFrom = holder ?? { pid: 0, uri, controller, since: mtimeOf(path) };
      removeIfUnchanged(path, holder);
    }
    throw new FatalError(`cannot take lock ${path}: other processes keep replacing it`);
  } finally {
    try {
      unlinkSync(staging);
    } catch {
      // already gone
    }
  }
}

function mtimeOf(path: string): string {
  try {
    return statSync(path).mtime.toISOString();
  } catch {
    return 'unknown';
  }
}

function removeIfUnchanged(path: string, seen: LockOwner | undefined): void {
  const now = readOwner(path);
  if (seen && (!now || now.pid !== seen.pid || now.since !== seen.since)) return;
  try {
    unlinkSync(path);
  } catch {
    // someone else removed it
  }
}

function makeLock(path: string, owner: LockOwner, tookOverFrom: LockOwner | undefined): ControllerLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    const now = readOwner(path);
    if (now && now.pid === owner.pid && now.since === owner.since) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  };
  // Also on an unexpected exit; a crash that skips this leaves a lock the next start takes over.
  process.on('exit', release);
  return { path, owner, release, ...(tookOverFrom ? { tookOverFrom } : {}) };
}

/** Locks every controller that runs; releases what it took if one is held elsewhere. */
export function acquireControllerLocks(uri: string, controllers: readonly ControllerName[], dir = defaultLockDir()): ControllerLock[] {
  const locks: ControllerLock[] = [];
  try {
    for (const c of controllers) locks.push(acquireControllerLock(uri, c, dir));
  } catch (err) {
    for (const l of locks) l.release();
    throw err;
  }
  return locks;
}
