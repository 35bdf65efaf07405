import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/scheduler.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { runControlLoop } from '../control/loop.js';
import { formatInterval } from '../control/monitor.js';
import { TraceWriter } from '../control/trace-writer.js';
import type { TraceHeader, TraceInterval } from '../ground/trace-record.js';
import { UsageError } from '../ground/errors.js';
import { parseCommandLine, positiveInteger, positiveNumber } from './options.js';
import { openTarget, type Target } from './target.js';
import { loadConfig } from '../config/config-file.js';
import { prepareTracePath, resolveRunOptions } from '../config/run-options.js';
import { captureStartState, restoreStartState, type StartState } from '../control/restore.js';
import { floorKiBOf } from '../memory/options.js';
import { openServiceTarget } from './service.js';
import { dashboardFlags, dashboardHelp, dashboardRequest, withLiveRun } from '../web/live-run.js';

export interface RunSettings {
  target: Target;
  intervalSeconds: number;
  cpu?: CpuSchedulerOptions;
  memory?: MemoryOptions;
  dryRun: boolean;
  json: boolean;
  quiet: boolean;
  intervals?: number;
  tracePath?: string;
  /** Put back the pins and balloon sizes found at start when the run ends. */
  restore?: boolean;
  /** Extra consumers of the header and of each interval (dashboard, tests). */
  onHeader?: (header: TraceHeader) => void;
  onInterval?: (entry: TraceInterval) => void;
}

/** Runs the control loop until the interval count is reached or SIGINT/SIGTERM; flushes the trace. */
export async function executeRun(settings: RunSettings): Promise<number> {
  const { target } = settings;
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const trace = settings.tracePath ? new TraceWriter(settings.tracePath) : undefined;
  const header: TraceHeader = {
    type: 'header',
    version: 1,
    target: target.label,
    scenario: target.scenario,
    intervalSeconds: settings.intervalSeconds,
    controllers: { cpu: !!settings.cpu, memory: !!settings.memory },
    pcpus: target.pcpus,
    startedAt: new Date().toISOString(),
    options: { cpu: settings.cpu, memory: settings.memory },
  };
  trace?.write(header);
  settings.onHeader?.(header);
  if (!settings.quiet && !settings.json) {
    const which = [settings.cpu ? 'vCPU scheduler' : '', settings.memory ? 'memory coordinator' : ''].filter(Boolean).join(' + ');
    console.log(`virtbalance: ${which} on ${target.label}, every ${settings.intervalSeconds} s${settings.dryRun ? ' (dry run: nothing is changed)' : ''}`);
  }
  let start: StartState | undefined;
  let exitCode = 0;
  try {
    await runControlLoop(
      target.hypervisor,
      target.clock,
      {
        intervalSeconds: settings.intervalSeconds,
        cpu: settings.cpu,
        memory: settings.memory,
        dryRun: settings.dryRun,
        intervals: settings.intervals,
        signal: abort.signal,
        truth: target.truth,
      },
      {
        record(entry) {
          trace?.write(entry);
          settings.onInterval?.(entry);
          if (settings.json) console.log(JSON.stringify(entry));
          else if (!settings.quiet) console.log(formatInterval(entry, settings.dryRun).join('\n'));
        },
        log(message, recorded) {
          // The monitor output already shows what the interval recorded; otherwise each line goes to stderr, even with --quiet.
          if (recorded && !settings.quiet && !settings.json) return;
          console.error(`virtbalance: ${message}`);
        },
        observed(observation) {
          if (settings.restore) start ??= captureStartState(observation);
        },
      },
    );
    if (settings.restore && start) {
      const memory = settings.memory ?? defaultMemoryOptions;
      const outcome = await restoreStartState(
        target.hypervisor,
        start,
        { pins: !!settings.cpu, balloons: !!settings.memory, floorKiB: (name) => floorKiBOf(name, memory), reserveKiB: memory.reserveMiB * 1024 },
        (line) => console.error(`virtbalance: ${line}`),
      );
      if (outcome.failed > 0) exitCode = 1;
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await trace?.close();
    await target.hypervisor.close();
  }
  return exitCode;
}

const runFlags = {
  cpu: { type: 'boolean' },
  memory: { type: 'boolean' },
  interval: { type: 'string' },
  connect: { type: 'string' },
  sim: { type: 'string' },
  seed: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  intervals: { type: 'string' },
  trace: { type: 'string' },
  'cpu-margin': { type: 'string' },
  'memory-floor': { type: 'string' },
  'memory-reserve': { type: 'string' },
  config: { type: 'string' },
  restore: { type: 'boolean' },
  ...dashboardFlags,
  help: { type: 'boolean', short: 'h' },
} as const;

const runHelp = `usage: virtbalance run [--cpu] [--memory] [--interval S] (--connect URI | --sim SCENARIO) [options]

  --cpu, --memory       which controllers run (default: both)
  --interval S          seconds between intervals (default 2; virtual seconds on --sim)
  --connect URI         libvirt URI (default qemu:///system)
  --sim SCENARIO        run on the simulated host instead (a scenario file or shipped name)
  --seed N              seed of the simulated host (default 1)
  --intervals N         stop after N intervals (default: until Ctrl-C; 60 on --sim)
  --dry-run             decide and log, change nothing
  --json                one JSON line per interval on stdout
  --quiet               print nothing per interval
  --trace FILE          write the trace (JSON lines) to FILE
  --cpu-margin P        imbalance margin of the vCPU scheduler, percentage points
  --memory-floor MiB    headroom above a guest's used memory it always keeps
  --memory-reserve MiB  host memory never given to guests
  --config FILE         read settings from FILE (e.g. /etc/virtbalance/config.yaml); flags override it
  --restore             on exit, put back the vCPU pins and balloon sizes found at start
${dashboardHelp}`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, runFlags, 'run');
  if (values.help) {
    console.log(runHelp);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`run: unexpected argument '${positionals[0]}' (try --help)`);
  if (values.sim !== undefined && values.connect !== undefined) throw new UsageError('run: give either --connect or --sim, not both');
  const config = values.config !== undefined ? loadConfig(values.config) : undefined;
  const { connect, intervalSeconds, cpu, memory, dryRun, restore, tracePath } = resolveRunOptions(values, config);
  const seed = values.seed === undefined ? 1 : positiveInteger(values.seed, '--seed');
  const intervals = values.intervals !== undefined ? positiveInteger(values.intervals, '--intervals') : values.sim !== undefined ? 60 : undefined;
  if (tracePath !== undefined) prepareTracePath(tracePath);
  const dashboard = await dashboardRequest(values, values.sim !== undefined, 'run');
  // A real host is locked per controller and reconnected to when libvirtd restarts; a simulated one needs neither.
  const service = values.sim === undefined ? await openServiceTarget(connect, controllersOf(cpu, memory), logLine) : undefined;
  const target = service?.target ?? (await openTarget({ sim: values.sim!, seed }));
  return withLiveRun(dashboard, target, { intervalSeconds, dryRun, plannedIntervals: intervals }, (live) =>
    executeRun({
      target: live.target,
      intervalSeconds,
      cpu,
      memory,
      dryRun,
      json: !!values.json,
      quiet: !!values.quiet,
      intervals,
      tracePath,
      restore,
      onHeader: live.onHeader,
      onInterval: live.onInterval,
    }),
  ).finally(() => service?.release());
}

function logLine(message: string): void {
  console.error(`virtbalance: ${message}`);
}

function controllersOf(cpu: unknown, memory: unknown): ('cpu' | 'memory')[] {
  return [...(cpu ? (['cpu'] as const) : []), ...(memory ? (['memory'] as const) : [])];
}

/** The assignment's programs: `vcpu_scheduler <interval>` and `memory_coordinator <interval>` on qemu:///system. */
export function assignmentCommand(which: 'cpu' | 'memory', prog: string) {
  return async (argv: string[]): Promise<number> => {
    const { values, positionals } = parseCommandLine(argv, { connect: { type: 'string' }, 'dry-run': { type: 'boolean' }, trace: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, prog);
    if (values.help) {
      console.log(`usage: ${prog} <interval seconds> [--connect URI] [--dry-run] [--trace FILE]`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`usage: ${prog} <interval seconds>`);
    const intervalSeconds = positiveNumber(positionals[0], 'interval');
    if (values.trace !== undefined) prepareTracePath(values.trace);
    const service = await openServiceTarget(values.connect ?? 'qemu:///system', [which], logLine);
    return executeRun({
      target: service.target,
      intervalSeconds,
      cpu: which === 'cpu' ? { ...defaultCpuSchedulerOptions } : undefined,
      memory: which === 'memory' ? { ...defaultMemoryOptions } : undefined,
      dryRun: !!values['dry-run'],
      json: false,
      quiet: false,
      tracePath: values.trace,
    }).finally(() => service.release());
  };
}
