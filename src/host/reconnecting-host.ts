import { LibvirtClient } from '../libvirt/client.js';
import { LibvirtClosedError } from '../libvirt/errors.js';
import type { DomainRef, HostObservation, Hypervisor } from '../ground/hypervisor.js';
import { LibvirtHost } from './libvirt-host.js';
import { HostUnavailableError } from '../ground/errors.js';

// A Hypervisor that survives its daemon: when the connection drops (libvirtd restarted or killed)
// it says so in one line, reconnects in the background with exponential backoff and jitter, and
// meanwhile every call fails at once with HostUnavailableError. Each new connection gets a new
// `connection` number in the observations, so the control loop never compares counters read over
// two different connections (a fresh CPU measurement starts after every reconnect).

/** One live connection to a host, as the connector made it. */
export interface HostLink {
  hypervisor: Hypervisor;
  /** Calls `listener` once if the connection is lost; never after our own close(). */
  onLost(listener: (cause: string) => void): void;
  isClosed(): boolean;
}

export type HostConnector = () => Promise<HostLink>;

export interface BackoffOptions {
  /** First retry delay, ms. */
  initialMs: number;
  /** Delays double up to this, ms. */
  maxMs: number;
  /** Each delay is multiplied by a random factor in [1 − jitter, 1 + jitter]. */
  jitter: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

export interface ReconnectOptions {
  backoff?: Partial<BackoffOptions>;
  /** One line per event for the operator (loss, reconnection). */
  log?: (message: string) => void;
  /** Random numbers in [0, 1) for the jitter. */
  random?: () => number;
}

/** The host cannot be reached right now; the loss was already reported. */
/** Delay before retry number `attempt` (1 = first retry), ms. */
export function backoffDelayMs(attempt: number, backoff: BackoffOptions, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, attempt - 1));
  const factor = 1 + backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(backoff.maxMs * (1 + backoff.jitter), base * factor));
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class ReconnectingHost implements Hypervisor {
  private link: HostLink | undefined;
  private connection = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private lostAtMs = 0;
  private lostCause = '';
  private lastAttemptError = '';
  private nextAttemptAtMs = 0;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly log: (message: string) => void;
  /** Reconnections so far. */
  reconnections = 0;

  constructor(
    readonly uri: string,
    private readonly connector: HostConnector,
    first: HostLink,
    options: ReconnectOptions = {},
  ) {
    this.backoff = { ...defaultBackoff, ...options.backoff };
    this.random = options.random ?? Math.random;
    this.log = options.log ?? (() => {});
    this.adopt(first);
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.link !== undefined;
  }

  private adopt(link: HostLink): void {
    this.link = link;
    link.onLost((cause) => this.lost(link, cause));
    // Lost before the listener was attached.
    if (link.isClosed()) this.lost(link, 'the connection closed');
  }

  private lost(link: HostLink, cause: string): void {
    if (this.closed || this.link !== link) return;
    this.link = undefined;
    this.connection++;
    this.attempts = 0;
    this.lostAtMs = Date.now();
    this.lostCause = cause;
    this.lastAttemptError = '';
    this.log(`lost connection to ${this.uri}: ${cause}; reconnecting (retry after ${seconds(this.backoff.initialMs)}, doubling to ${seconds(this.backoff.maxMs)})`);
    this.schedule();
  }

  private schedule(): void {
    const delay = backoffDelayMs(this.attempts + 1, this.backoff, this.random);
    this.nextAttemptAtMs = Date.now() + delay;
    this.timer = setTimeout(() => void this.attempt(), delay);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    this.attempts++;
    let link: HostLink;
    try {
      link = await this.connector();
    } catch (err) {
      if (this.closed) return;
      this.lastAttemptError = firstLine(err);
      this.schedule();
      return;
    }
    if (this.closed) {
      await link.hypervisor.close().catch(() => {});
      return;
    }
    this.reconnections++;
    this.log(`reconnected to ${this.uri} after ${this.attempts} attempt${this.attempts === 1 ? '' : 's'} (${seconds(Date.now() - this.lostAtMs)} without a connection)`);
    this.adopt(link);
  }

  private unavailable(): HostUnavailableError {
    const down = seconds(Date.now() - this.lostAtMs);
    const last = this.lastAttemptError ? `; attempt ${this.attempts} failed: ${this.lastAttemptError}` : '';
    const next = Math.max(0, this.nextAttemptAtMs - Date.now());
    return new HostUnavailableError(`no connection to ${this.uri} for ${down} (${this.lostCause}${last}; next attempt in ${seconds(next)})`);
  }

  /** Runs a call on the live connection; a connection lost under it becomes HostUnavailableError. */
  private async call<T>(fn: (h: Hypervisor) => Promise<T>): Promise<T> {
    if (this.closed) throw new HostUnavailableError(`connection to ${this.uri} is closed`);
    const link = this.link;
    if (!link) throw this.unavailable();
    try {
      return await fn(link.hypervisor);
    } catch (err) {
      if (err instanceof LibvirtClosedError || link.isClosed()) {
        this.lost(link, firstLine(err));
        throw this.link === undefined && !this.closed ? this.unavailable() : err;
      }
      throw err;
    }
  }

  async observe(): Promise<HostObservation> {
    const connection = this.connection;
    const obs = await this.call((h) => h.observe());
    return { ...obs, connection };
  }

  pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    return this.call((h) => h.pinVcpu(domain, vcpu, pcpus));
  }

  setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    return this.call((h) => h.setMemory(domain, targetKiB));
  }

  setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    return this.call((h) => (h.setCpuWeight ? h.setCpuWeight(domain, weight) : Promise.reject(new Error('this host cannot set CPU weights'))));
  }

  resizeMemoryDevice(domain: DomainRef, requestedKiB: number): Promise<void> {
    return this.call((h) => (h.resizeMemoryDevice ? h.resizeMemoryDevice(domain, requestedKiB) : Promise.reject(new Error('this host cannot resize memory devices'))));
  }

  setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    return this.call((h) => h.setMemoryStatsPeriod(domain, seconds));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const link = this.link;
    this.link = undefined;
    if (link) await link.hypervisor.close();
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** A HostLink over an open LibvirtHost: its client's 'close' event is the loss. */
export function libvirtLink(host: LibvirtHost): HostLink {
  return {
    hypervisor: host,
    onLost(listener) {
      host.client.on('close', (info) => {
        if (info.reason !== 'closed') listener(info.error ? firstLine(info.error) : `the connection ended (${info.reason})`);
      });
    },
    isClosed: () => host.client.closed,
  };
}

export function libvirtConnector(uri: string, connectTimeoutMs?: number): HostConnector {
  return async () => libvirtLink(LibvirtHost.fromClient(await LibvirtClient.connect(uri, { timeoutMs: connectTimeoutMs })));
}

/** Connects to `uri` (this first connection must succeed) and keeps reconnecting whenever the daemon goes away. */
export async function openReconnectingHost(uri: string, options: ReconnectOptions & { connectTimeoutMs?: number } = {}): Promise<{ host: ReconnectingHost; pcpus: number }> {
  const first = LibvirtHost.fromClient(await LibvirtClient.connect(uri, { timeoutMs: options.connectTimeoutMs }));
  try {
    const node = await first.client.cachedNodeInfo();
    return { host: new ReconnectingHost(uri, libvirtConnector(uri, options.connectTimeoutMs), libvirtLink(first), options), pcpus: node.cpus };
  } catch (err) {
    await first.close().catch(() => {});
    throw err;
  }
}
