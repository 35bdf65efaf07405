import { defaultCpuSchedulerOptions } from '../cpu/options.js';
import { defaultMemoryOptions } from '../memory/options.js';
import { UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveInteger, positiveNumber } from '../ground/numbers.js';
import { openTarget } from '../app/target.js';
import { executeRun } from '../app/run.js';
import { openServiceTarget } from '../app/service.js';
import { loadConfig } from '../config/config-file.js';
import { prepareTracePath, resolveRunOptions } from '../config/run-options.js';
import { dashboardFlags, dashboardHelp, dashboardRequest, withLiveRun } from '../web/live-run.js';

// `virtbalance run` and the assignment's drop-ins `vcpu_scheduler` / `memory_coordinator`.

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
  const { connect, intervalSeconds, cpu, memory, dryRun, restore, tracePath, cpuWeights } = resolveRunOptions(values, config);
  const seed = values.seed === undefined ? 1 : positiveInteger(values.seed, '--seed');
  const intervals = values.intervals !== undefined ? positiveInteger(values.intervals, '--intervals') : values.sim !== undefined ? 60 : undefined;
  if (tracePath !== undefined) prepareTracePath(tracePath);
  const dashboard = await dashboardRequest(values, values.sim !== undefined, 'run', config);
  // A real host is locked per controller and reconnected to when libvirtd restarts; a simulated one needs neither.
  const service = values.sim === undefined ? await openServiceTarget(connect, controllersOf(cpu, memory), logLine) : undefined;
  const target = service?.target ?? (await openTarget({ sim: values.sim!, seed }));
  return withLiveRun(dashboard, target, { intervalSeconds, dryRun, plannedIntervals: intervals }, (live) =>
    executeRun({
      target: live.target,
      intervalSeconds,
      cpu,
      memory,
      cpuWeights,
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
    const options = { connect: { type: 'string' }, 'dry-run': { type: 'boolean' }, trace: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
    const { values, positionals } = parseCommandLine(argv, which === 'cpu' ? { ...options, 'other-load': { type: 'boolean' } } : options, prog);
    if (values.help) {
      const extra = which === 'cpu' ? ' [--other-load]' : '';
      console.log(`usage: ${prog} <interval seconds> [--connect URI] [--dry-run] [--trace FILE]${extra}`);
      if (which === 'cpu') {
        console.log('  Balances the guests\' pCPU usage (the assignment\'s objective). --other-load also counts what');
        console.log('  else keeps the pCPUs busy (host processes), as `virtbalance run` does (docs/cpu-scheduler.md).');
      }
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`usage: ${prog} <interval seconds>`);
    const intervalSeconds = positiveNumber(positionals[0], 'interval');
    if (values.trace !== undefined) prepareTracePath(values.trace);
    const service = await openServiceTarget(values.connect ?? 'qemu:///system', [which], logLine);
    return executeRun({
      target: service.target,
      intervalSeconds,
      // The assignment's objective: the guests' usage balanced; other load only when asked.
      cpu: which === 'cpu' ? { ...defaultCpuSchedulerOptions, countOtherLoad: !!(values as { 'other-load'?: boolean })['other-load'] } : undefined,
      memory: which === 'memory' ? { ...defaultMemoryOptions } : undefined,
      dryRun: !!values['dry-run'],
      json: false,
      quiet: false,
      tracePath: values.trace,
    }).finally(() => service.release());
  };
}
