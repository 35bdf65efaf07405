import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/scheduler.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { runControlLoop } from '../control/loop.js';
import { formatInterval } from '../control/monitor.js';
import { TraceWriter } from '../control/trace-writer.js';
import type { TraceHeader, TraceInterval } from '../control/trace-record.js';
import { UsageError } from './errors.js';
import { nonNegativeNumber, parseCommandLine, positiveInteger, positiveNumber } from './options.js';
import { openTarget, type Target } from './target.js';

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
  /** Extra consumers of each interval (dashboard, tests). */
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
  if (!settings.quiet && !settings.json) {
    const which = [settings.cpu ? 'vCPU scheduler' : '', settings.memory ? 'memory coordinator' : ''].filter(Boolean).join(' + ');
    console.log(`virtbalance: ${which} on ${target.label}, every ${settings.intervalSeconds} s${settings.dryRun ? ' (dry run: nothing is changed)' : ''}`);
  }
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
        log(message) {
          if (!settings.quiet) console.error(`virtbalance: ${message}`);
        },
      },
    );
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await trace?.close();
    await target.hypervisor.close();
  }
  return 0;
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
  --memory-reserve MiB  host memory never given to guests`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, runFlags, 'run');
  if (values.help) {
    console.log(runHelp);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`run: unexpected argument '${positionals[0]}' (try --help)`);
  if (values.sim !== undefined && values.connect !== undefined) throw new UsageError('run: give either --connect or --sim, not both');
  const bothDefault = !values.cpu && !values.memory;
  const cpu = values.cpu || bothDefault ? { ...defaultCpuSchedulerOptions } : undefined;
  const memory = values.memory || bothDefault ? { ...defaultMemoryOptions } : undefined;
  if (values['cpu-margin'] !== undefined) {
    if (!cpu) throw new UsageError('run: --cpu-margin needs the vCPU scheduler');
    cpu.marginPoints = nonNegativeNumber(values['cpu-margin'], '--cpu-margin');
  }
  if (values['memory-floor'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-floor needs the memory coordinator');
    memory.floorMiB = nonNegativeNumber(values['memory-floor'], '--memory-floor');
  }
  if (values['memory-reserve'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-reserve needs the memory coordinator');
    memory.reserveMiB = nonNegativeNumber(values['memory-reserve'], '--memory-reserve');
  }
  const intervalSeconds = values.interval === undefined ? 2 : positiveNumber(values.interval, '--interval');
  const seed = values.seed === undefined ? 1 : positiveInteger(values.seed, '--seed');
  const target = await openTarget(values.sim !== undefined ? { sim: values.sim, seed } : { uri: values.connect ?? 'qemu:///system' });
  const intervals = values.intervals !== undefined ? positiveInteger(values.intervals, '--intervals') : values.sim !== undefined ? 60 : undefined;
  return executeRun({
    target,
    intervalSeconds,
    cpu,
    memory,
    dryRun: !!values['dry-run'],
    json: !!values.json,
    quiet: !!values.quiet,
    intervals,
    tracePath: values.trace,
  });
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
    const target = await openTarget({ uri: values.connect ?? 'qemu:///system' });
    return executeRun({
      target,
      intervalSeconds,
      cpu: which === 'cpu' ? { ...defaultCpuSchedulerOptions } : undefined,
      memory: which === 'memory' ? { ...defaultMemoryOptions } : undefined,
      dryRun: !!values['dry-run'],
      json: false,
      quiet: false,
      tracePath: values.trace,
    });
  };
}
