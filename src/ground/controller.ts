import type { Action, Notice } from './actions.js';
import type { HostObservation } from './hypervisor.js';

// The one contract every policy implements. The control loop runs a list of controllers
// (src/control/controllers.ts) and knows none by name: each measures what it needs from the
// observations, decides, forgets domains that went away, starts its measurement afresh on a new
// connection, and names its part of the trace. Policies stay pure: no I/O anywhere below.

export interface ControllerInput {
  /** The previous observation over the same connection, if any (counters are only compared within one). */
  previous?: HostObservation;
  current: HostObservation;
  intervalSeconds: number;
}

export interface ControllerDecision<State, TracePart> {
  state: State;
  actions: Action[];
  notices: Notice[];
  /** This controller's part of the interval's trace record (stored under the controller's kind). */
  trace?: TracePart;
}

/** An action that failed or was not attempted, and why (as the trace records it). */
export interface ActionFailure {
  action: Action;
  error: string;
}

/** What a controller does with an observation before (and whether or not) it can measure. */
export interface ControllerPreparation<State> {
  state: State;
  actions: Action[];
  notices: Notice[];
}

/** What a controller took from how its actions went: its new state, and lines for the operator (each about something also in the record). */
export interface ControllerSettlement<State> {
  state: State;
  log: string[];
}

/** What a controller puts back on exit (`--restore`) of what only it knows it changed, decided against the final observation. */
export interface RestoreContribution {
  actions: Action[];
  /** What is not put back, and why (one line each). */
  notes: string[];
}

export interface Controller<Options, State, Measurement, TracePart> {
  /** Short name: the key of its options, of its part of the trace and of its lock (`cpu`, `memory`). */
  readonly kind: string;
  /** What a person calls it (`vCPU scheduler`). */
  readonly title: string;
  defaultOptions(): Options;
  /** Throws UsageError naming the first bad option. */
  validateOptions(options: Options): void;
  initialState(): State;
  /** What it decides on, or undefined while it cannot measure yet (e.g. no earlier observation to compare). */
  measure(input: ControllerInput, state: State): Measurement | undefined;
  decide(measurement: Measurement, state: State, options: Options, input: ControllerInput): ControllerDecision<State, TracePart>;
  /** Drops what it remembers of a domain that is gone (key: domainKey). */
  forget(state: State, domainKey: string): State;
  /** A new connection (or failed observations): measurement starts over, lasting counters may be kept. */
  resynchronise(state: State): State;

  // Optional capabilities: the loop calls each one a controller has, and names none.

  /**
   * Every successful observation, before `measure` and whether or not it can measure (the first
   * observation, a new connection): settings kept on domains as they appear (the vCPU scheduler's
   * CPU weights). Its actions go before the decision's.
   */
  prepare?(state: State, options: Options, input: ControllerInput): ControllerPreparation<State>;
  /**
   * After the interval's actions were applied (unless `dryRun`): its own actions this interval
   * (prepared and decided) and those of them that failed or were not attempted.
   */
  settle?(state: State, actions: readonly Action[], failures: readonly ActionFailure[], dryRun: boolean): ControllerSettlement<State>;
  /** On exit with `--restore`: what to put back that the start state does not say (e.g. the CPU weights it changed). */
  restore?(state: State, now: HostObservation): RestoreContribution;
}

// eslint-style escape hatch for heterogeneous lists of controllers.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyController = Controller<any, any, any, any>;

export type OptionsOf<C> = C extends Controller<infer O, unknown, unknown, unknown> ? O : never;
