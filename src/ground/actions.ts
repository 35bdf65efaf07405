import type { DomainRef } from './hypervisor.js';
import { mib } from './units.js';
import type { PinWhy } from './pin-why.js';
import type { WeightWhy } from './weight-why.js';

// What the policies decide. Each action carries the reason a person reads in the log.

export interface PinAction {
  kind: 'pin';
  domain: DomainRef;
  vcpu: number;
  /** pCPUs the vCPU is pinned to after the action (usually one). */
  pcpus: number[];
  /** Where it was allowed before, for the record and for --restore. */
  previous: number[];
  /** Why, in words: renderPinReason(why) when `why` is given (pin-why.ts). */
  reason: string;
  /** Why, as data (rule, from, to, figures); absent on pins no policy decided (restore, a judged program's). */
  why?: PinWhy;
}

export interface SetMemoryAction {
  kind: 'set-memory';
  domain: DomainRef;
  fromKiB: number;
  targetKiB: number;
  reason: string;
  /** The rule's cause, before the sizes (`reason` is it + `: from → target MiB`): a later step re-renders from it, never from `reason`. */
  cause?: string;
}

/** A balloon move's reason: its cause and the sizes, MiB. */
export function setMemoryReason(cause: string, fromKiB: number, targetKiB: number): string {
  return `${cause}: ${mib(fromKiB)} → ${mib(targetKiB)} MiB`;
}

export interface SetStatsPeriodAction {
  kind: 'set-stats-period';
  domain: DomainRef;
  seconds: number;
  reason: string;
}

/** A domain's CPU weight against a default guest (libvirt cpu_shares = weight × 1024), from the config (`vms.NAME.cpuWeight`). */
export interface SetCpuWeightAction {
  kind: 'set-cpu-weight';
  domain: DomainRef;
  weight: number;
  /** The weight it had before (1: a default guest), for the record and for --restore. */
  previous: number;
  /** Why, in words: renderWeightReason(why) when `why` is given (weight-why.ts). */
  reason: string;
  /** Why, as data (rule, from, to, figures). */
  why?: WeightWhy;
}

/** A new requested size for a guest's virtio-mem device(s) (`Hypervisor.resizeMemoryDevice`). */
export interface ResizeMemoryDeviceAction {
  kind: 'resize-memory-device';
  domain: DomainRef;
  /** What was requested before, KiB. */
  fromKiB: number;
  /** What is requested now (a multiple of the block), KiB. */
  requestedKiB: number;
  reason: string;
}

export type Action = PinAction | SetMemoryAction | SetStatsPeriodAction | SetCpuWeightAction | ResizeMemoryDeviceAction;

/** Something a policy noticed but did not act on (e.g. a guest without balloon stats). */
export interface Notice {
  domain?: string;
  message: string;
}
