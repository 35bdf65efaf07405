import { acquireControllerLocks, type ControllerLock, type ControllerName } from '../control/lock.js';
import { openReconnectingHost } from '../host/reconnecting-host.js';
import { realClock } from '../host/real-clock.js';
import { UriError } from '../libvirt/uri.js';
import { FatalError, UsageError } from '../ground/errors.js';
import type { Target } from './target.js';

// A libvirt host as the long-running controllers need it: locked against a second controller of
// the same kind on the same URI, and reconnecting when libvirtd restarts.

export interface ServiceTarget {
  target: Target;
  locks: ControllerLock[];
  release(): void;
}

export async function openServiceTarget(uri: string, controllers: readonly ControllerName[], log: (message: string) => void): Promise<ServiceTarget> {
  let locks: ControllerLock[];
  try {
    locks = acquireControllerLocks(uri, controllers);
  } catch (err) {
    if (err instanceof UriError) throw new UsageError(err.message);
    throw err;
  }
  const release = () => {
    for (const l of locks) l.release();
  };
  for (const l of locks) {
    if (l.tookOverFrom) log(`took over the stale lock of PID ${l.tookOverFrom.pid} (no longer running): ${l.path}`);
  }
  try {
    const { host, pcpus } = await openReconnectingHost(uri, { log });
    return { target: { label: uri, hypervisor: host, clock: realClock, pcpus }, locks, release };
  } catch (err) {
    release();
    throw new FatalError((err as Error).message.split('\n')[0] ?? String(err));
  }
}
