// What the dedicated-pCPU pool pass (dedicated.ts) remembers between intervals: its own slice of the
// CPU controller's state, in a file of its own so that the scheduler's state can hold it without
// importing the pass.

/** What is remembered of one dedicated domain between intervals (keyed by domainKey). */
export interface DedicatedGuestState {
  name: string;
  /** Busy intervals in a row (reset by an idle one). */
  busy: number;
  /** Idle intervals in a row (reset by a busy one). */
  idle: number;
  /** Its pCPUs, one per vCPU in vCPU order, while they are dedicated; null otherwise. */
  pcpus: number[] | null;
  /** The last request could not be met (said once, until it can). */
  refused?: boolean;
}

export type DedicatedState = Record<string, DedicatedGuestState>;
