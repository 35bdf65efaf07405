import type { Clock, DomainState, HostObservation, Hypervisor } from '../ground/hypervisor.js';
import { DomainGoneError, errorText, HostUnavailableError } from '../ground/errors.js';
import type { Action, Notice } from '../ground/actions.js';
import type { TraceInterval, TraceTruth } from '../ground/trace-record.js';
import type { AnyController, RestoreContribution } from '../ground/controller.js';
import { domainKey } from '../ground/domain-identity.js';
import { controllers, enabledKinds, type ControllerKind, type ControllerOptions } from './controllers.js';
import { mib } from '../ground/units.js';
import { recordCpu, type GrantHistory } from './cpu-record.js';
import { measureShortfall, type ShortfallState } from './shortfall.js';
import { lastingNotice, lastingReason, viewFor, type HandsOffOptions } from './hands-off.js';

// The one control loop both hosts run: observe → decide → act → record, every interval.

/** The controllers that run are those given options (`cpu`, `memory`: see controllers.ts). */
export interface LoopOptions extends ControllerOptions, HandsOffOptions {
  intervalSeconds: number;
  /** Decide and record, change nothing. */
  dryRun?: boolean;
  /** Stop after this many intervals (undefined: until aborted). */
  intervals?: number;
  signal?: AbortSignal;
  /** Ground truth of the interval just ended (simulated hosts only). */
  truth?: () => TraceTruth | undefined;
  /** After a stop is requested, how long the interval under way may still take before it is abandoned, ms (default 3000). */
  abandonAfterMs?: number;
}

/** What the controllers that ran put back on exit (their `restore` hooks), against the final observation. */
export type ControllersRestore = (now: HostObservation) => RestoreContribution;

export interface LoopSinks {
  /** Called once per interval with everything that happened in it. */
  record(entry: TraceInterval): void | Promise<void>;
  /**
   * A one-line message for the operator (connection trouble, a failed action, a domain that came or went).
   * `recorded` is true when the same text is also in the interval's record (its notices or failures).
   */
  log?(message: string, recorded: boolean): void;
  /** Every successful observation, before anything is decided on it (e.g. to remember the state at start). */
  observed?(observation: HostObservation): void;
  /** Once, when the loop ends: what its controllers would put back on exit (for `--restore`). */
  ended?(restore: ControllersRestore): void;
}

interface KnownDomain {
  name: string;
  state: DomainState;
  id?: number;
  job?: string;
  unanswered?: boolean;
}

/** How many domains that moved away the loop remembers, to say "back" rather than "appeared" when they return. */
const DEPARTED_MAX = 10_000;

interface RunningController {
  kind: ControllerKind;
  controller: AnyController;
  options: unknown;
  state: unknown;
}

interface LoopState {
  previous?: HostObservation;
  running: RunningController[];
  /** Domains of the last successful observation, by domainKey (UUID). */
  known?: Map<string, KnownDomain>;
  /** Observations failed in a row, and whether the loop itself logged the first. */
  failedObservations: number;
  failureLogged: boolean;
  /** Dedicated grants seen so far, for their `since` in the record. */
  grants: GrantHistory;
  /** Since when the host has been short of CPU or memory, and whether that was said (src/control/shortfall.ts). */
  shortfall: ShortfallState;
  /** Lasting reasons to leave a domain alone already said, as `domainKey reason`. */
  said: Set<string>;
  /** Domains whose action found them gone this interval: already said; their going is not said again. */
  vanished: Set<string>;
  /** Domains that went away, by domainKey: their return (restored, migrated back, restarted) is said as a move back. */
  departed: Map<string, string>;
}

export async function runControlLoop(hypervisor: Hypervisor, clock: Clock, options: LoopOptions, sinks: LoopSinks): Promise<number> {
  const running = enabledKinds(options).map((kind): RunningController => {
    const controller: AnyController = controllers[kind];
    controller.validateOptions(options[kind]);
    return { kind, controller, options: options[kind], state: controller.initialState() };
  });
  const state: LoopState = { running, failedObservations: 0, failureLogged: false, grants: new Map(), shortfall: {}, said: new Set(), vanished: new Set(), departed: new Map() };
  const startMs = clock.nowMs();
  const intervalMs = options.intervalSeconds * 1000;
  let interval = 0;
  while (!options.signal?.aborted && (options.intervals === undefined || interval < options.intervals)) {
    const tickStart = clock.nowMs();
    const running = runOneInterval(hypervisor, options, state, interval, tickStart - startMs, sinks);
    const entry = await finishOrAbandon(running, options.signal, options.abandonAfterMs ?? 3000);
    if (entry === undefined) {
      // Stopped while the host did not answer: the interval is recorded as abandoned, nothing of it applied after this point.
      const message = 'stop requested: interval abandoned (the host did not answer in time)';
      sinks.log?.(message, true);
      await sinks.record({ type: 'interval', interval, timeMs: tickStart - startMs, domains: [], actions: [], failures: [], notices: [{ message }] });
      interval++;
      break;
    }
    await sinks.record(entry);
    interval++;
    if (options.intervals !== undefined && interval >= options.intervals) break;
    const spent = clock.nowMs() - tickStart;
    await sleepUnlessAborted(clock, Math.max(0, intervalMs - spent), options.signal);
  }
  sinks.ended?.((now) => restoreContributions(state.running, now));
  return interval;
}

/** Every running controller's `restore` contribution, in registry order. */
function restoreContributions(running: readonly RunningController[], now: HostObservation): RestoreContribution {
  const actions: Action[] = [];
  const notes: string[] = [];
  for (const c of running) {
    const part = c.controller.restore?.(c.state, now);
    if (!part) continue;
    actions.push(...part.actions);
    notes.push(...part.notes);
  }
  return { actions, notes };
}

async function runOneInterval(
  hypervisor: Hypervisor,
  options: LoopOptions,
  state: LoopState,
  interval: number,
  timeMs: number,
  sinks: LoopSinks,
): Promise<TraceInterval> {
  const entry: TraceInterval = { type: 'interval', interval, timeMs, domains: [], actions: [], failures: [], notices: [] };
  let observation: HostObservation;
  try {
    observation = await hypervisor.observe();
  } catch (err) {
    // Nothing is decided on a failed observation, and the next one starts a fresh measurement.
    resynchronise(state);
    const message = `observe failed: ${errorText(err)}`;
    entry.notices.push({ message });
    state.failedObservations++;
    // One line per outage: a lost connection was already reported by the host; later failures are in the trace.
    if (state.failedObservations === 1 && !(err instanceof HostUnavailableError)) {
      state.failureLogged = true;
      sinks.log?.(message, true);
    }
    return entry;
  }
  const notices: Notice[] = [];
  const note = (notice: Notice): void => {
    notices.push(notice);
    sinks.log?.(notice.domain ? `${notice.domain}: ${notice.message}` : notice.message, true);
  };
  if (state.failedObservations > 0) {
    const message = `observing again after ${state.failedObservations} failed interval${state.failedObservations === 1 ? '' : 's'}; CPU measurement restarts`;
    notices.push({ message });
    if (state.failureLogged) sinks.log?.(message, true);
    state.failedObservations = 0;
    state.failureLogged = false;
  }
  if (state.previous && state.previous.connection !== observation.connection) {
    resynchronise(state);
    notices.push({ message: 'new connection to the host: resynchronised (fresh CPU measurement; memory history kept for domains with the same UUID)' });
  }
  const tracked = trackDomains(state, observation);
  for (const notice of tracked.notices) note(notice);
  sinks.observed?.(observation);
  entry.domains = observation.domains.map((d) => d.name);
  const devices = observation.domains.filter((d) => d.memoryDevice);
  if (devices.length > 0) {
    entry.memoryDevices = Object.fromEntries(devices.map((d) => {
      const m = d.memoryDevice!;
      return [d.name, { bootKiB: m.bootKiB, sizeKiB: m.sizeKiB, requestedKiB: m.requestedKiB, pluggedKiB: m.currentKiB }];
    }));
  }
  // Counters of a domain that started anew (a new id) are not compared with those of its previous run.
  const previous = state.previous && tracked.restarted.size > 0
    ? { ...state.previous, domains: state.previous.domains.filter((d) => !tracked.restarted.has(domainKey(d))) }
    : state.previous;
  for (const c of state.running) {
    for (const d of observation.domains) {
      const reason = lastingReason(c.kind, d, options);
      if (reason === undefined) continue;
      const said = `${domainKey(d)} ${reason}`;
      if (state.said.has(said)) continue;
      state.said.add(said);
      note({ domain: d.name, message: lastingNotice(reason) });
    }
  }
  // Each controller's part of the interval's actions, prepared (every observation) then decided (once it can measure).
  const own = new Map<RunningController, Action[]>();
  const prepared: Action[] = [];
  const decided: Action[] = [];
  for (const c of state.running) {
    const mine: Action[] = [];
    own.set(c, mine);
    // What this controller sees: without the domains it leaves alone (hands-off.ts).
    const input = {
      previous: previous && viewFor(c.kind, previous, options),
      current: viewFor(c.kind, observation, options),
      intervalSeconds: options.intervalSeconds,
    };
    if (c.controller.prepare) {
      const preparation = c.controller.prepare(c.state, c.options, input);
      c.state = preparation.state;
      mine.push(...preparation.actions);
      prepared.push(...preparation.actions);
      for (const notice of preparation.notices) note(notice);
    }
    const measurement = c.controller.measure(input, c.state);
    if (measurement === undefined) continue;
    const decision = c.controller.decide(measurement, c.state, c.options, input);
    c.state = decision.state;
    mine.push(...decision.actions);
    decided.push(...decision.actions);
    for (const notice of decision.notices) note(notice);
    if (decision.trace !== undefined) (entry as unknown as Record<string, unknown>)[c.kind] = decision.trace;
  }
  const actions = [...prepared, ...decided];
  const reserveKiB = ((options.memory as { reserveMiB?: number } | undefined)?.reserveMiB ?? 0) * 1024;
  const shortfall = measureShortfall(state.previous, observation, entry.memory, reserveKiB, state.shortfall, timeMs);
  entry.shortfall = shortfall.shortfall;
  state.shortfall = shortfall.state;
  for (const notice of shortfall.notices) note(notice);
  state.previous = observation;
  if (entry.cpu) entry.cpu = recordCpu(entry.cpu, state.grants, interval, timeMs);

  entry.actions = actions;
  entry.notices = notices;
  if (!options.dryRun) await applyActions(hypervisor, actions, entry, sinks, state.vanished);
  // Actions not applied because their domain went away count as not applied for the controllers too.
  const notApplied = [...entry.failures, ...(entry.unapplied ?? []).map((u) => ({ action: u.action, error: u.why }))];
  for (const c of state.running) {
    if (!c.controller.settle) continue;
    const mine = own.get(c) ?? [];
    const theirs = new Set(mine);
    const settlement = c.controller.settle(c.state, mine, notApplied.filter((f) => theirs.has(f.action)), !!options.dryRun);
    c.state = settlement.state;
    for (const line of settlement.log) sinks.log?.(line, true);
  }
  entry.truth = options.truth?.();
  return entry;
}

/** Forgets what was measured so far: the next interval only observes, then decisions resume on fresh data. */
function resynchronise(state: LoopState): void {
  state.previous = undefined;
  for (const c of state.running) c.state = c.controller.resynchronise(c.state);
}

function forget(state: LoopState, key: string): void {
  for (const c of state.running) c.state = c.controller.forget(c.state, key);
}

/**
 * Notices domains that appeared, went away, were renamed, replaced (same name, new UUID), started
 * anew (same UUID, new id), began or ended a job, or changed state since the last observation.
 * Controllers key what they remember by UUID: a renamed domain keeps its history; a replaced, gone,
 * restarted one, or one that begins a job, is forgotten, so none of it is stale when it is managed again.
 * A domain that leaves during a job (a migration, a save) or whose action found it gone has moved: said
 * once as a move, and its return as a move back.
 */
function trackDomains(state: LoopState, obs: HostObservation): { notices: Notice[]; restarted: Set<string> } {
  const notices: Notice[] = [];
  const restarted = new Set<string>();
  const known = state.known;
  const now = new Map<string, KnownDomain>();
  for (const d of obs.domains) now.set(domainKey(d), { name: d.name, state: d.state, id: d.id, job: d.job, unanswered: d.unanswered });
  state.known = now;
  if (!known) {
    for (const d of obs.domains) {
      if (d.job !== undefined) notices.push({ domain: d.name, message: jobStarted(d.job) });
      if (d.unanswered) notices.push({ domain: d.name, message: UNANSWERED_NOTICE });
    }
    return { notices, restarted };
  }
  const previousKeyByName = new Map<string, string>();
  for (const [key, d] of known) previousKeyByName.set(d.name, key);
  const replaced = new Set<string>();
  for (const d of obs.domains) {
    const key = domainKey(d);
    const before = known.get(key);
    // Its action found it gone, yet here it is (it came back at once): nothing of before is kept.
    if (before && state.vanished.has(key)) forget(state, key);
    if (!before) {
      const replacedKey = previousKeyByName.get(d.name);
      if (replacedKey !== undefined && !now.has(replacedKey)) {
        replaced.add(replacedKey);
        notices.push({ domain: d.name, message: `replaced by a new domain of the same name (UUID ${replacedKey} → ${key}): starts afresh` });
      } else if (state.departed.has(key)) {
        state.departed.delete(key);
        notices.push({ domain: d.name, message: `back (${d.state}${d.id === undefined ? '' : `, id ${d.id}`}: moved back, restored or restarted): starts afresh` });
      } else {
        notices.push({ domain: d.name, message: `appeared (${d.state})` });
      }
      if (d.job !== undefined) notices.push({ domain: d.name, message: jobStarted(d.job) });
      if (d.unanswered) notices.push({ domain: d.name, message: UNANSWERED_NOTICE });
      continue;
    }
    if (before.name !== d.name) notices.push({ domain: d.name, message: `renamed from ${before.name}` });
    if (before.id !== undefined && d.id !== undefined && before.id !== d.id) {
      restarted.add(key);
      forget(state, key);
      notices.push({ domain: d.name, message: `started anew (id ${before.id} → ${d.id}: restored, moved back or restarted): starts afresh` });
    }
    if (d.job !== undefined && before.job === undefined) {
      forget(state, key);
      notices.push({ domain: d.name, message: jobStarted(d.job) });
    } else if (d.job === undefined && before.job !== undefined) {
      notices.push({ domain: d.name, message: `${before.job} job ended: managed again, afresh` });
    } else if (d.job === undefined && before.state !== d.state) {
      notices.push({ domain: d.name, message: stateChange(before.state, d.state) });
    }
    if (d.unanswered && !before.unanswered) {
      forget(state, key);
      notices.push({ domain: d.name, message: UNANSWERED_NOTICE });
    } else if (!d.unanswered && before.unanswered) {
      notices.push({ domain: d.name, message: 'its QEMU answers again: managed again, afresh' });
    }
  }
  for (const [key, d] of known) {
    if (now.has(key)) continue;
    forget(state, key);
    if (replaced.has(key)) continue;
    if (state.vanished.delete(key)) departed(state, key, d.name);
    else if (d.job !== undefined) {
      departed(state, key, d.name);
      notices.push({ domain: d.name, message: `moved away (during its ${d.job} job): forgotten until it comes back` });
    } else {
      departed(state, key, d.name);
      notices.push({ domain: d.name, message: 'gone (shut down, destroyed or migrated away): forgotten' });
    }
  }
  state.vanished.clear();
  return { notices, restarted };
}

function departed(state: LoopState, key: string, name: string): void {
  state.departed.set(key, name);
  if (state.departed.size > DEPARTED_MAX) state.departed.delete(state.departed.keys().next().value!);
}

/** The notice of a domain whose QEMU stopped answering (the lab marks rounds that had one). */
export const UNANSWERED_NOTICE = 'its QEMU does not answer (libvirt\'s state change lock stays held: a hung or starved guest): left alone (not pinned, not ballooned) until it answers';

function jobStarted(job: string): string {
  return `${job} job under way: left alone (not pinned, not ballooned) until it ends`;
}

function stateChange(from: DomainState, to: DomainState): string {
  const active = (s: DomainState) => s === 'running' || s === 'blocked';
  if (active(to)) return `${to} again (was ${from})`;
  return `${to} (was ${from}): left as it is until it runs again`;
}

/**
 * Applies the actions in order. A failure is recorded and logged once per domain; the domain's
 * remaining actions this interval are skipped (it likely vanished), the other domains go on. A lost
 * connection stops the rest of the interval.
 */
async function applyActions(hypervisor: Hypervisor, actions: readonly Action[], entry: TraceInterval, sinks: LoopSinks, vanished: Set<string>): Promise<void> {
  const failedDomains = new Set<string>();
  let unavailable = false;
  for (const action of actions) {
    const key = domainKey(action.domain);
    if (vanished.has(key)) {
      (entry.unapplied ??= []).push({ action, why: `not attempted: ${action.domain.name} went away` });
      continue;
    }
    if (unavailable || failedDomains.has(key)) {
      entry.failures.push({ action, error: unavailable ? 'not attempted: no connection to the host' : `not attempted: an earlier action on ${action.domain.name} failed` });
      continue;
    }
    try {
      await applyAction(hypervisor, action);
    } catch (err) {
      const error = errorText(err);
      if (err instanceof DomainGoneError) {
        // Migrated away, saved, shut down between observe and act: a move, not a failure. Said once.
        vanished.add(key);
        (entry.unapplied ??= []).push({ action, why: `gone: ${error}` });
        const message = `gone before ${describeAction(action)} (migrated away, saved or stopped): nothing applied to it; forgotten`;
        entry.notices.push({ domain: action.domain.name, message });
        sinks.log?.(`${action.domain.name}: ${message}`, true);
        continue;
      }
      entry.failures.push({ action, error });
      if (err instanceof HostUnavailableError) {
        unavailable = true;
        continue;
      }
      failedDomains.add(key);
      sinks.log?.(`${describeAction(action)} failed: ${error}; skipping ${action.domain.name} this interval, the other domains go on`, true);
    }
  }
}

function describeAction(action: Action): string {
  switch (action.kind) {
    case 'pin':
      return `pin ${action.domain.name} vCPU${action.vcpu} to pCPU ${action.pcpus.join(',')}`;
    case 'set-memory':
      return `balloon ${action.domain.name} to ${mib(action.targetKiB)} MiB`;
    case 'set-stats-period':
      return `stats period of ${action.domain.name} to ${action.seconds} s`;
    case 'set-cpu-weight':
      return `CPU weight of ${action.domain.name} to ${action.weight}`;
    case 'resize-memory-device':
      return `virtio-mem of ${action.domain.name} to ${mib(action.requestedKiB)} MiB`;
  }
}

export async function applyAction(hypervisor: Hypervisor, action: Action): Promise<void> {
  switch (action.kind) {
    case 'pin':
      return hypervisor.pinVcpu(action.domain, action.vcpu, action.pcpus);
    case 'set-memory':
      return hypervisor.setMemory(action.domain, action.targetKiB);
    case 'set-stats-period':
      return hypervisor.setMemoryStatsPeriod(action.domain, action.seconds);
    case 'set-cpu-weight':
      if (!hypervisor.setCpuWeight) throw new Error('this host cannot set CPU weights');
      return hypervisor.setCpuWeight(action.domain, action.weight);
    case 'resize-memory-device':
      if (!hypervisor.resizeMemoryDevice) throw new Error('this host cannot resize memory devices');
      return hypervisor.resizeMemoryDevice(action.domain, action.requestedKiB);
  }
}

/** The interval's entry, or undefined when a stop was requested and it did not finish within `graceMs`. */
async function finishOrAbandon(running: Promise<TraceInterval>, signal: AbortSignal | undefined, graceMs: number): Promise<TraceInterval | undefined> {
  if (!signal) return running;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const abandoned = new Promise<undefined>((resolve) => {
    const arm = () => {
      timer = setTimeout(() => resolve(undefined), graceMs);
    };
    if (signal.aborted) arm();
    else {
      onAbort = arm;
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([running, abandoned]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return clock.sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    clock.sleep(ms).then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
