import type { DomainRef } from './hypervisor.js';

/** Identity of a domain across observations: its UUID, or its name when no UUID is known. */
export function domainKey(domain: DomainRef): string {
  return domain.uuid !== '' ? domain.uuid : `name:${domain.name}`;
}
