import type { BalloonObservation, DomainObservation, DomainState, HostObservation } from '../../src/ground/hypervisor.js';

// Hand-built observations for single-decision tests.

export const MiB = 1024;

export interface GuestInput {
  name: string;
  actualMiB: number;
  maximumMiB?: number;
  /** Omit for a guest without statistics. */
  unusedMiB?: number;
  lastUpdate?: number;
  availableMiB?: number;
  state?: DomainState;
  noBalloon?: boolean;
}

export function domain(g: GuestInput): DomainObservation {
  const balloon: BalloonObservation = {
    currentKiB: g.actualMiB * MiB,
    maximumKiB: (g.maximumMiB ?? 2048) * MiB,
    ...(g.unusedMiB !== undefined && { unusedKiB: g.unusedMiB * MiB, lastUpdate: g.lastUpdate ?? 1 }),
    ...(g.availableMiB !== undefined && { availableKiB: g.availableMiB * MiB }),
  };
  return {
    name: g.name,
    uuid: `uuid-${g.name}`,
    state: g.state ?? 'running',
    vcpus: [],
    ...(!g.noBalloon && { balloon }),
  };
}

export function observation(tSeconds: number, hostFreeMiB: number, guests: GuestInput[]): HostObservation {
  return {
    timeNs: Math.round(tSeconds * 1e9),
    host: { hostname: 'test', pcpus: 4, memoryTotalKiB: 16384 * MiB, memoryFreeKiB: hostFreeMiB * MiB },
    domains: guests.map(domain),
  };
}
