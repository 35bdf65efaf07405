import type { Clock, HostObservation, Hypervisor } from '../host/hypervisor.js';
import type { Action, Notice } from './actions.js';
import type { TraceCpu, TraceInterval, TraceMemory, TraceTruth } from './trace-record.js';
import { measureCpu } from '../cpu/usage.js';
import { decideCpu, initialCpuSchedulerState, type CpuSchedulerOptions, type CpuSchedulerState } from '../cpu/scheduler.js';
import { decideMemory, initialMemoryState, type MemoryOptions, type MemoryState } from '../memory/coordinator.js';

// The one control loop both hosts run: observe → decide → act → record, every interval.

export interface LoopOptions {
  intervalSeconds: number;
  cpu?: CpuSchedulerOptions;
  memory?: MemoryOptions;
  /** Decide and record, change nothing. */
  dryRun?: boolean;
  /** Stop after this many intervals (undefined: until aborted). */
  intervals?: number;
  signal?: AbortSignal;
  /** Ground truth of the interval just ended (simulated hosts only). */
  truth?: () => TraceTruth | undefined;
}

export interface LoopSinks {
  /** Called once per interval with everything that happened in it. */
  record(entry: TraceInterval): void | Promise<void>;
  /** A one-line message for the operator (connection trouble, skipped interval). */
  log?(message: string): void;
}

interface LoopState {
  previous?: HostObservation;
  cpu: CpuSchedulerState;
  memory: MemoryState;
}

export async function runControlLoop(hypervisor: Hypervisor, clock: Clock, options: LoopOptions, sinks: LoopSinks): Promise<number> {
  const state: LoopState = { cpu: initialCpuSchedulerState(), memory: initialMemoryState() };
  const startMs = clock.nowMs();
  const intervalMs = options.intervalSeconds * 1000;
  let interval = 0;
  while (!options.signal?.aborted && (options.intervals === undefined || interval < options.intervals)) {
    const tickStart = clock.nowMs();
    const entry = await runOneInterval(hypervisor, options, state, interval, tickStart - startMs, sinks);
    await sinks.record(entry);
    interval++;
    if (options.intervals !== undefined && interval >= options.intervals) break;
    const spent = clock.nowMs() - tickStart;
    await sleepUnlessAborted(clock, Math.max(0, intervalMs - spent), options.signal);
  }
  return interval;
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
    state.previous = undefined;
    const message = `observe failed: ${errorText(err)}`;
    entry.notices.push({ message });
    sinks.log?.(message);
    return entry;
  }
  entry.domains = observation.domains.map((d) => d.name);

  const actions: Action[] = [];
  const notices: Notice[] = [];
  if (options.cpu && state.previous) {
    const measurement = measureCpu(state.previous, observation);
    const decision = decideCpu(measurement, state.cpu, options.cpu);
    state.cpu = decision.state;
    actions.push(...decision.actions);
    entry.cpu = traceCpu(measurement, decision.balanced, decision.spreadPoints);
  }
  if (options.memory) {
    const decision = decideMemory(observation, state.memory, options.memory, options.intervalSeconds);
    state.memory = decision.state;
    actions.push(...decision.actions);
    notices.push(...decision.notices);
    entry.memory = traceMemory(decision.guests, decision.hostFreeKiB, options.memory.reserveMiB * 1024);
  }
  state.previous = observation;

  entry.actions = actions;
  entry.notices = notices;
  if (!options.dryRun) {
    for (const action of actions) {
      try {
        await applyAction(hypervisor, action);
      } catch (err) {
        entry.failures.push({ action, error: errorText(err) });
      }
    }
  }
  entry.truth = options.truth?.();
  return entry;
}

export async function applyAction(hypervisor: Hypervisor, action: Action): Promise<void> {
  switch (action.kind) {
    case 'pin':
      return hypervisor.pinVcpu(action.domain, action.vcpu, action.pcpus);
    case 'set-memory':
      return hypervisor.setMemory(action.domain, action.targetKiB);
    case 'set-stats-period':
      return hypervisor.setMemoryStatsPeriod(action.domain, action.seconds);
  }
}

function traceCpu(m: ReturnType<typeof measureCpu>, balanced: boolean, spreadPoints: number): TraceCpu {
  return {
    elapsedNs: m.elapsedNs,
    pcpuUsage: m.pcpuUsage,
    pcpuDemand: m.pcpuDemand,
    vcpus: m.vcpus.map((v) => ({ domain: v.domain.name, vcpu: v.vcpu, pcpu: v.pcpu, affinity: v.affinity, usage: v.usage, demand: v.demand })),
    balanced,
    spreadPoints,
  };
}

function traceMemory(guests: TraceMemory['guests'], hostFreeKiB: number, reserveKiB: number): TraceMemory {
  return { guests, hostFreeKiB, reserveKiB };
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

export function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
