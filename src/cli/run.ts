import { defaultCpuSchedulerOptions, parseCpuObjective } from '../cpu/options.js';
import { defaultMemoryOptions } from '../memory/options.js';
import { UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveInteger, positiveNumber } from '../ground/numbers.js';
import { openTarget } from '../app/target.js';
import { executeRun } from '../app/run.js';
import { openServiceTarget } from '../app/service.js';
import { announceEveryDomain, scopeTarget } from '../app/scope.js';
import { packageVersion } from '../app/version.js';
import { loadConfig } from '../config/config-file.js';
import { prepareTracePath, resolveRunOptions, resolveScope } from '../config/run-options.js';
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
  objective: { type: 'string' },
  'memory-floor': { type: 'string' },
  'memory-reserve': { type: 'string' },
  config: { type: 'string' },
  restore: { type: 'boolean' },
  only: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  ...dashboardFlags,
  help: { type: 'boolean', short: 'h' },
} as const;

const scopeHelp = `  --only PATTERN        manage only these domains: a name, a glob (web*, vm?) or a UUID; repeat
                        it or give a comma list. Every other domain is neither observed nor touched
  --exclude PATTERN     never observe or touch these domains (same forms; wins over --only)`;

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
  --objective O         what the vCPU scheduler places for: fairness (default: the worst guest's
                        fraction of its fair share first, then the pCPU usage spread) or balance
                        (balanced pCPU demand, the fairer among equally balanced placements)
  --memory-floor MiB    headroom above a guest's used memory it always keeps
  --memory-reserve MiB  host memory never given to guests
  --config FILE         read settings from FILE (e.g. /etc/virtbalance/config.yaml); flags override it
  --restore             on exit, put back the vCPU pins and balloon sizes found at start,
                        and the CPU weights (cpu_shares) the run changed
${scopeHelp}
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
  const { connect, intervalSeconds, cpu, memory, dryRun, restore, tracePath, scope, cpuWeights, manageDefinitionPins } = resolveRunOptions(values, config);
  const seed = values.seed === undefined ? 1 : positiveInteger(values.seed, '--seed');
  // The CPU weights are the vCPU scheduler's to keep: a run without it leaves them as they are, and says so.
  if (cpuWeights && !cpu) logLine(`vms.*.cpuWeight (${Object.keys(cpuWeights).join(', ')}): not set: the vCPU scheduler keeps the CPU weights, and this run does not run it`);
  const intervals = values.intervals !== undefined ? positiveInteger(values.intervals, '--intervals') : values.sim !== undefined ? 60 : undefined;
  if (tracePath !== undefined) prepareTracePath(tracePath);
  const dashboard = await dashboardRequest(values, values.sim !== undefined, 'run', config);
  // A real host is locked per controller and reconnected to when libvirtd restarts; a simulated one needs neither.
  const service = values.sim === undefined ? await openServiceTarget(connect, controllersOf(cpu, memory), logLine) : undefined;
  const target = scopeTarget(service?.target ?? (await openTarget({ sim: values.sim!, seed })), scope, logLine);
  return withLiveRun(dashboard, target, { intervalSeconds, dryRun, plannedIntervals: intervals }, (live) =>
    executeRun({
      target: live.target,
      intervalSeconds,
      cpu,
      memory,
      dryRun,
      manageDefinitionPins,
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

function assignmentHelp(which: 'cpu' | 'memory', prog: string): string {
  const what = which === 'cpu'
    ? 'Every interval, re-pins the vCPUs of the running domains so the pCPUs carry equal demand.'
    : 'Every interval, moves memory between the running domains with the virtio balloon: a guest short of\nfree memory gets more, an idle one gives back, never below used + floor, host reserve kept.';
  return `usage: ${prog} <interval seconds> [--connect URI] [--only PATTERN] [--exclude PATTERN] [--dry-run] [--trace FILE]${which === 'cpu' ? ' [--other-load] [--objective balance|fairness]' : ''}

${what}
Runs until Ctrl-C (SIGINT) or SIGTERM.

  <interval seconds>    time between decisions (a positive number)
  --connect URI         libvirt URI (default qemu:///system)
${scopeHelp}
  --dry-run             decide and log, change nothing
  --trace FILE          write the trace (JSON lines) to FILE${which === 'cpu' ? `
  --other-load          also count what else keeps the pCPUs busy (host processes), as
                        \`virtbalance run\` does; by default the guests' usage is balanced (the
                        assignment's objective; docs/cpu-scheduler.md)
  --objective O         balance (default: the assignment's objective, balanced pCPU usage with no
                        needless moves; among equally balanced placements the fairer) or fairness
                        (the worst guest's fraction of its fair share first, as \`virtbalance run\`)` : ''}
  --version             the version of virtbalance it belongs to
  -h, --help            this text`;
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
    const flags = {
      connect: { type: 'string' },
      'dry-run': { type: 'boolean' },
      trace: { type: 'string' },
      only: { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    } as const;
    const { values, positionals } = parseCommandLine(
      argv,
      which === 'cpu' ? { ...flags, 'other-load': { type: 'boolean' }, objective: { type: 'string' } } : flags,
      prog,
    );
    const cpuFlags = values as { 'other-load'?: boolean; objective?: string };
    if (values.help) {
      console.log(assignmentHelp(which, prog));
      return 0;
    }
    if (values.version) {
      console.log(`${prog} (virtbalance ${packageVersion()})`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`usage: ${prog} <interval seconds> (try --help)`);
    const intervalSeconds = positiveNumber(positionals[0], 'interval');
    // The assignment's objective unless told otherwise.
    const objective = cpuFlags.objective === undefined ? 'balance' : parseCpuObjective(cpuFlags.objective, `${prog}: --objective`);
    const scope = resolveScope(values);
    if (values.trace !== undefined) prepareTracePath(values.trace);
    const service = await openServiceTarget(values.connect ?? 'qemu:///system', [which], logLine);
    return executeRun({
      target: announceEveryDomain(scopeTarget(service.target, scope, logLine), scope, prog, logLine),
      intervalSeconds,
      // The assignment's objective: the guests' usage balanced; other load only when asked.
      cpu: which === 'cpu' ? { ...defaultCpuSchedulerOptions, countOtherLoad: !!cpuFlags['other-load'], objective } : undefined,
      memory: which === 'memory' ? { ...defaultMemoryOptions } : undefined,
      dryRun: !!values['dry-run'],
      json: false,
      quiet: false,
      tracePath: values.trace,
    }).finally(() => service.release());
  };
}
