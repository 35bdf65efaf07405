// A Hypervisor that shows the controllers only the domains of a run's scope (`--only`, `--exclude`,
// `vms.NAME.manage: false`, or a lab run's own guests) and refuses to act on any other: a domain out
// of scope is neither observed by the policies nor pinned, ballooned or given a stats period.
// Host resources and everything else are the wrapped host's, unchanged.
import type { DomainRef, HostObservation, Hypervisor } from '../ground/hypervisor.js';
import { scopeMatcher, type DomainScope } from '../ground/domain-scope.js';

export interface ScopeOptions {
  /** Called with the names of the running domains left alone whenever that set changes. */
  onLeftAlone?: (names: string[]) => void;
  /** Called once, with the names of the domains it manages, at the first observation that has any. */
  onFirstManaged?: (names: string[]) => void;
}

export class ScopedHypervisor implements Hypervisor {
  private readonly inScope: (domain: DomainRef) => boolean;
  private leftAlone = '';
  private managedSaid = false;

  /** `scope`: a DomainScope, or the exact names of the only domains to manage. */
  constructor(private readonly inner: Hypervisor, scope: DomainScope | Iterable<string>, private readonly options: ScopeOptions = {}) {
    if (isDomainScope(scope)) this.inScope = scopeMatcher(scope);
    else {
      const names = new Set(scope);
      this.inScope = (d) => names.has(d.name);
    }
  }

  get uri(): string {
    return this.inner.uri;
  }

  async observe(): Promise<HostObservation> {
    const observation = await this.inner.observe();
    const domains = observation.domains.filter((d) => this.inScope(d));
    if (this.options.onFirstManaged && !this.managedSaid && domains.length > 0) {
      this.managedSaid = true;
      this.options.onFirstManaged(domains.map((d) => d.name).sort());
    }
    if (this.options.onLeftAlone) {
      const names = observation.domains.filter((d) => !this.inScope(d)).map((d) => d.name).sort();
      if (names.join('\n') !== this.leftAlone) {
        this.leftAlone = names.join('\n');
        this.options.onLeftAlone(names);
      }
    }
    return { ...observation, domains };
  }

  private check(domain: DomainRef): void {
    if (!this.inScope(domain)) throw new Error(`${domain.name} is not one of this run's domains; left alone`);
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    this.check(domain);
    return this.inner.pinVcpu(domain, vcpu, pcpus);
  }

  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    this.check(domain);
    return this.inner.setMemory(domain, targetKiB);
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    this.check(domain);
    return this.inner.setMemoryStatsPeriod(domain, seconds);
  }

  async setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    this.check(domain);
    if (!this.inner.setCpuWeight) throw new Error('this host cannot set CPU weights');
    return this.inner.setCpuWeight(domain, weight);
  }

  async resizeMemoryDevice(domain: DomainRef, requestedKiB: number): Promise<void> {
    this.check(domain);
    if (!this.inner.resizeMemoryDevice) throw new Error('this host cannot resize memory devices');
    return this.inner.resizeMemoryDevice(domain, requestedKiB);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function isDomainScope(scope: DomainScope | Iterable<string>): scope is DomainScope {
  return typeof scope === 'object' && scope !== null && 'only' in scope && 'exclude' in scope && 'unmanaged' in scope;
}
