// A Hypervisor that shows the controllers only some domains of a real host: a lab run manages its
// own guests and never pins or balloons anything else running on the same daemon. Everything else
// (host resources, the observation itself, the actions) is the wrapped host's, unchanged.
import type { DomainRef, HostObservation, Hypervisor } from '../ground/hypervisor.js';

export class ScopedHypervisor implements Hypervisor {
  private readonly names: ReadonlySet<string>;

  constructor(private readonly inner: Hypervisor, names: Iterable<string>) {
    this.names = new Set(names);
  }

  get uri(): string {
    return this.inner.uri;
  }

  async observe(): Promise<HostObservation> {
    const observation = await this.inner.observe();
    return { ...observation, domains: observation.domains.filter((d) => this.names.has(d.name)) };
  }

  private check(domain: DomainRef): void {
    if (!this.names.has(domain.name)) throw new Error(`${domain.name} is not one of this run's guests; left alone`);
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    this.check(domain);
    return this.inner.pinVcpu(domain, vcpu, pcpus);
  }

  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    this.check(domain);
    return this.inner.setMemory(domain, targetKiB);
  }

  async setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    this.check(domain);
    if (!this.inner.setCpuWeight) throw new Error('this host cannot set CPU weights');
    return this.inner.setCpuWeight(domain, weight);
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    this.check(domain);
    return this.inner.setMemoryStatsPeriod(domain, seconds);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
