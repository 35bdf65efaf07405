import type { DomainRef, HostObservation, Hypervisor } from '../ground/hypervisor.js';
import type { HypervisorCall } from './metrics.js';

// A Hypervisor that times every call and reports its outcome, so the dashboard can show the
// connection state and count failed libvirt calls where they happen, on any host.

export interface CallReport {
  call: HypervisorCall;
  seconds: number;
  error?: unknown;
  /** What a successful `observe` returned (the per-domain series of /metrics read it). */
  observation?: HostObservation;
}

export class InstrumentedHypervisor implements Hypervisor {
  /** performance.now() when the last observation started: the start of the current interval. */
  lastObserveStartMs: number | undefined;

  constructor(
    private readonly inner: Hypervisor,
    private readonly report: (r: CallReport) => void,
  ) {}

  get uri(): string {
    return this.inner.uri;
  }

  observe(): Promise<HostObservation> {
    this.lastObserveStartMs = performance.now();
    return this.timed('observe', () => this.inner.observe());
  }

  pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    return this.timed('pin', () => this.inner.pinVcpu(domain, vcpu, pcpus));
  }

  setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    return this.timed('set-memory', () => this.inner.setMemory(domain, targetKiB));
  }

  setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    return this.timed('set-cpu-weight', () => (this.inner.setCpuWeight ? this.inner.setCpuWeight(domain, weight) : Promise.reject(new Error('this host cannot set CPU weights'))));
  }

  resizeMemoryDevice(domain: DomainRef, requestedKiB: number): Promise<void> {
    return this.timed('resize-memory-device', () =>
      this.inner.resizeMemoryDevice ? this.inner.resizeMemoryDevice(domain, requestedKiB) : Promise.reject(new Error('this host cannot resize memory devices')),
    );
  }

  setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    return this.timed('set-stats-period', () => this.inner.setMemoryStatsPeriod(domain, seconds));
  }

  close(): Promise<void> {
    return this.timed('close', () => this.inner.close());
  }

  private async timed<T>(call: HypervisorCall, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const result = await run();
      this.report({ call, seconds: (performance.now() - start) / 1000, ...(call === 'observe' ? { observation: result as HostObservation } : {}) });
      return result;
    } catch (error) {
      this.report({ call, seconds: (performance.now() - start) / 1000, error });
      throw error;
    }
  }
}
