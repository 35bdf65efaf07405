import type { DomainObservation, HostObservation } from '../ground/hypervisor.js';
import type { ControllerKind } from './controllers.js';

// Domains a controller leaves alone this interval, the way a run's scope hides the domains out of it:
// the controller does not see them at all (its observation is filtered), so it neither decides for
// them nor keeps anything about them. Decided here, in the loop's layer, from what the host observed;
// the policies know nothing of it.
//
// - A domain with a job under way (a migration, a save, a dump, a snapshot) is left alone by every
//   controller until the job ends; so is one whose QEMU does not answer (its changes would hang too).
// - A domain whose definition pins its vCPUs (`<cputune><vcpupin>`, written by Nova, KubeVirt or an
//   operator) is left to its pins by the vCPU scheduler, unless `manageDefinitionPins`.
// - A hugepage-backed domain is not ballooned: the memory coordinator leaves it alone.

export interface HandsOffOptions {
  /** Re-pin domains whose definition pins their vCPUs too (config `cpu.definitionPins: manage`). */
  manageDefinitionPins?: boolean;
}

/** Why a controller leaves a domain alone for as long as it is defined so (said once per domain). */
export type LastingReason = 'definition pins' | 'hugepages';

/** The lasting reason a controller of `kind` leaves this domain alone, if any. */
export function lastingReason(kind: ControllerKind, domain: DomainObservation, options: HandsOffOptions): LastingReason | undefined {
  if (kind === 'cpu' && domain.definitionPins && !options.manageDefinitionPins) return 'definition pins';
  if (kind === 'memory' && domain.hugepages) return 'hugepages';
  return undefined;
}

/** Whether a controller of `kind` leaves this domain alone in this observation. */
export function leavesAlone(kind: ControllerKind, domain: DomainObservation, options: HandsOffOptions): boolean {
  return domain.job !== undefined || domain.unanswered === true || lastingReason(kind, domain, options) !== undefined;
}

/** The observation as a controller of `kind` sees it: without the domains it leaves alone (the same object when there are none). */
export function viewFor(kind: ControllerKind, observation: HostObservation, options: HandsOffOptions): HostObservation {
  if (!observation.domains.some((d) => leavesAlone(kind, d, options))) return observation;
  return { ...observation, domains: observation.domains.filter((d) => !leavesAlone(kind, d, options)) };
}

/** The line said once when a controller first sees a domain it leaves alone for good. */
export function lastingNotice(reason: LastingReason): string {
  switch (reason) {
    case 'definition pins':
      return 'its definition pins its vCPUs (<cputune><vcpupin>): left to its own pins, not re-pinned (config cpu.definitionPins: manage to re-pin it)';
    case 'hugepages':
      return 'hugepage-backed (<memoryBacking><hugepages/>): not ballooned, a balloon would free nothing';
  }
}
