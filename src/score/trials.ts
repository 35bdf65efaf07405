import type { TraceInterval, TraceTrial } from '../ground/trace-record.js';
import type { TrialOutcomeCounts } from '../cpu/trials.js';

// The vCPU scheduler's trials (src/cpu/trials.ts) as a trace shows them: each interval's `cpu.trial`
// says what the trial loop did (started, measuring, kept, reverted, abandoned, held). One tally,
// read interval by interval, for the score, the report, the monitor, the dashboard and /metrics.
//
// Abandoned: a trial whose demand epoch ended before it was measured. The trace says so with
// `cpu.trial.abandoned` (and the event `abandoned` when nothing else happened that interval).

export type TrialOutcome = 'started' | 'kept' | 'reverted' | 'abandoned';
export type TrialHoldRule = NonNullable<TraceTrial['rule']>;

export const TRIAL_OUTCOMES: readonly TrialOutcome[] = ['started', 'kept', 'reverted', 'abandoned'];
export const TRIAL_HOLD_RULES: readonly TrialHoldRule[] = ['one-trial-per-epoch', 'placement-left-before', 'measured-worse-before', 'backing-off', 'nothing-to-gain', 'epoch-settled'];

/** How each rule reads in one line. */
export const HOLD_RULE_TEXT: Record<TrialHoldRule, string> = {
  'one-trial-per-epoch': 'one trial per demand epoch',
  'placement-left-before': 'the placement in force was left once before in this epoch',
  'measured-worse-before': 'the proposed placement was measured worse before',
  'backing-off': 'a trial lost recently: backing off',
  'nothing-to-gain': 'the placement in force is as fair as a trial could measure',
  'epoch-settled': 'the demand epoch is past its exploring intervals: settled',
};

/** Why a trial was abandoned in this interval, when one was. */
export function abandonedBecause(trial: TraceTrial | undefined): string | undefined {
  return trial?.abandoned?.because;
}

/**
 * A trial started in place of one measured worse (a redirect, or the host alone tried instead of going back): the
 * `started` event carries what the lost one measured. That one lost, as a revert would say. (The dashboard's page
 * script, run in the browser, keeps its own copy of this reading.)
 */
export function replacesLostTrial(trial: TraceTrial | undefined): boolean {
  return trial?.event === 'started' && trial.measured !== undefined;
}

/** `55 %`: a fraction of fair share as the score, the monitor and the dashboard write it. */
export const fairPercent = (fraction: number | undefined): string => (fraction === undefined || !Number.isFinite(fraction) ? '–' : `${Math.round(fraction * 100)} %`);

/** The policy's counts (src/cpu/trials.ts), with the proposals held by rule. */
export interface TrialCounts extends TrialOutcomeCounts {
  heldBy: Partial<Record<TrialHoldRule, number>>;
}

export interface TrialTally extends TrialCounts {
  /** The demand epoch of the last trial event; undefined before the first. */
  epoch: number | undefined;
  /** The last trial event and its interval. */
  last: { interval: number; trial: TraceTrial } | undefined;
  /** The last trial kept, reverted or abandoned, and its interval. */
  lastOutcome: { interval: number; trial: TraceTrial } | undefined;
  /** The last interval counted. */
  throughInterval: number | undefined;
  /** Epoch of the trial started and not yet kept, reverted or abandoned (a trial in progress); undefined when none. */
  openEpoch: number | undefined;
}

export function emptyTrialTally(): TrialTally {
  return { started: 0, kept: 0, reverted: 0, abandoned: 0, held: 0, heldBy: {}, epoch: undefined, last: undefined, lastOutcome: undefined, throughInterval: undefined, openEpoch: undefined };
}

/** Counts trials interval by interval (a run in progress, or a whole trace). */
export class TrialCounter {
  readonly tally: TrialTally = emptyTrialTally();

  /** Counts one interval; returns what happened in it, in order (an abandonment before the trial that followed it). */
  add(entry: TraceInterval): { outcomes: TrialOutcome[]; held?: TrialHoldRule } {
    const t = this.tally;
    t.throughInterval = entry.interval;
    const trial = entry.cpu?.trial;
    const outcomes: TrialOutcome[] = [];
    const abandonedNow = trial?.event === 'abandoned' || trial?.abandoned !== undefined;
    if (abandonedNow) {
      outcomes.push('abandoned');
      t.abandoned++;
      t.openEpoch = undefined;
      t.lastOutcome = { interval: entry.interval, trial: trial?.event === 'abandoned' ? trial : { event: 'abandoned', epoch: trial?.epoch ?? t.epoch ?? 0 } };
    }
    if (!trial) return { outcomes };
    t.epoch = trial.epoch;
    t.last = { interval: entry.interval, trial };
    if (trial.event === 'started') {
      if (replacesLostTrial(trial)) {
        outcomes.push('reverted');
        t.reverted++;
        t.lastOutcome = { interval: entry.interval, trial: { ...trial, event: 'reverted' } };
      }
      outcomes.push('started');
      t.started++;
      t.openEpoch = trial.epoch;
    } else if (trial.event === 'kept' || trial.event === 'reverted') {
      outcomes.push(trial.event);
      t[trial.event]++;
      t.openEpoch = undefined;
      t.lastOutcome = { interval: entry.interval, trial };
    } else if (trial.event === 'held') {
      t.held++;
      if (trial.rule) t.heldBy[trial.rule] = (t.heldBy[trial.rule] ?? 0) + 1;
      return { outcomes, ...(trial.rule ? { held: trial.rule } : {}) };
    }
    return { outcomes };
  }
}

export function tallyTrials(intervals: readonly TraceInterval[]): TrialTally {
  const counter = new TrialCounter();
  for (const entry of intervals) counter.add(entry);
  return counter.tally;
}
