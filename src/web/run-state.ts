import type { TraceHeader, TraceInterval } from '../ground/trace-record.js';
import { TrialCounter, type TrialTally } from '../score/trials.js';

// What the dashboard knows about the run: its header, the last intervals (a bounded history so a
// page that joins late can draw what it missed), the vCPU scheduler's trials tallied over the
// whole run (the history may no longer hold the intervals they happened in), and the run's status.

export type HostConnection = 'connecting' | 'connected' | 'reconnecting' | 'closed';
export type RunPhase = 'starting' | 'running' | 'finished' | 'stopped';

export interface RunStatus {
  phase: RunPhase;
  /** The libvirt URI or `sim:<scenario>`. */
  uri: string;
  connection: HostConnection;
  /** The error of the last failed observation while reconnecting. */
  connectionError?: string;
  /** Failed observations in a row. */
  failedObservations: number;
  dryRun: boolean;
  /** Virtual intervals per real second on a simulated host; undefined when not paced. */
  pace?: number;
  /** Intervals the run stops after; undefined: until interrupted. */
  plannedIntervals?: number;
  /** Server time of this status, ms since the epoch. */
  serverTimeMs: number;
}

export interface StateSnapshot {
  header: TraceHeader | undefined;
  status: RunStatus;
  /** Intervals held in total since the start (the snapshot may carry fewer). */
  intervalsSeen: number;
  intervals: TraceInterval[];
  /** The vCPU scheduler's trials over every interval seen (not only those held), through `trials.throughInterval`. */
  trials: TrialTally;
}

export class RunState {
  header: TraceHeader | undefined;
  private readonly history: TraceInterval[] = [];
  private seen = 0;
  private trialCounter = new TrialCounter();
  private current: Omit<RunStatus, 'serverTimeMs'>;

  constructor(
    initial: { uri: string; dryRun: boolean; pace?: number; plannedIntervals?: number },
    /** Intervals kept for late joiners; older ones are dropped. */
    readonly historyLimit = 1800,
  ) {
    this.current = { phase: 'starting', connection: 'connecting', failedObservations: 0, ...initial };
  }

  setHeader(header: TraceHeader): void {
    if (this.header && this.header.startedAt !== header.startedAt) this.trialCounter = new TrialCounter();
    this.header = header;
    this.current.phase = 'running';
  }

  addInterval(entry: TraceInterval): void {
    this.history.push(entry);
    this.seen++;
    this.trialCounter.add(entry);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
  }

  update(change: Partial<Omit<RunStatus, 'serverTimeMs'>>): RunStatus {
    this.current = { ...this.current, ...change };
    if (change.connection === 'connected') delete this.current.connectionError;
    return this.status();
  }

  status(): RunStatus {
    return { ...this.current, serverTimeMs: Date.now() };
  }

  latest(): TraceInterval | undefined {
    return this.history[this.history.length - 1];
  }

  /** The vCPU scheduler's trials over every interval seen. */
  trials(): TrialTally {
    return structuredClone(this.trialCounter.tally);
  }

  /** The header, the status and the last `last` intervals (all held when undefined). */
  snapshot(last?: number): StateSnapshot {
    const count = last === undefined ? this.history.length : Math.max(0, Math.min(last, this.history.length));
    return { header: this.header, status: this.status(), intervalsSeen: this.seen, intervals: this.history.slice(this.history.length - count), trials: this.trials() };
  }
}
