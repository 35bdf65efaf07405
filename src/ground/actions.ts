import type { DomainRef } from './hypervisor.js';

// What the policies decide. Each action carries the reason a person reads in the log.

export interface PinAction {
  kind: 'pin';
  domain: DomainRef;
  vcpu: number;
  /** pCPUs the vCPU is pinned to after the action (usually one). */
  pcpus: number[];
  /** Where it was allowed before, for the record and for --restore. */
  previous: number[];
  reason: string;
}

export interface SetMemoryAction {
  kind: 'set-memory';
  domain: DomainRef;
  fromKiB: number;
  targetKiB: number;
  reason: string;
}

export interface SetStatsPeriodAction {
  kind: 'set-stats-period';
  domain: DomainRef;
  seconds: number;
  reason: string;
}

export type Action = PinAction | SetMemoryAction | SetStatsPeriodAction;

/** Something a policy noticed but did not act on (e.g. a guest without balloon stats). */
export interface Notice {
  domain?: string;
  message: string;
}
