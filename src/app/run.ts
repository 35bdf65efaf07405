import { stopRequests, stopWasRequested } from './stop-requests.js';
import { controllers, controllersForTrace, enabledKinds, type ControllerOptions } from '../control/controllers.js';
import { runControlLoop, type ControllersRestore } from '../control/loop.js';
import { formatInterval } from '../control/monitor.js';
import { TraceWriter } from '../control/trace-writer.js';
import type { TraceHeader, TraceInterval } from '../ground/trace-record.js';
import type { Action } from '../ground/actions.js';
import type { Target } from './target.js';
import { captureStartState, restoreStartState, type StartState } from '../control/restore.js';

/** A control run: where, how often, and the options of each controller that runs (see src/control/controllers.ts). */
export interface RunSettings extends ControllerOptions {
  target: Target;
  intervalSeconds: number;
  dryRun: boolean;
  /** Re-pin guests whose definition pins their vCPUs too (config `cpu.definitionPins: manage`). */
  manageDefinitionPins?: boolean;
  json: boolean;
  quiet: boolean;
  intervals?: number;
  tracePath?: string;
  /** Put back the pins and balloon sizes found at start, and what the controllers changed besides (the CPU weights), when the run ends. */
  restore?: boolean;
  /**
   * Judging another program (virtbalance judge): the controllers only measure and change nothing, and
   * each interval records the changes the judged program made instead of their decisions.
   */
  judged?: { description: string; takeActions: () => Action[] };
  /** Extra consumers of the header and of each interval (dashboard, tests). */
  onHeader?: (header: TraceHeader) => void;
  onInterval?: (entry: TraceInterval) => void;
}

/** How often the controllers run: real seconds on a real host, simulated ones on a simulated host. */
function pacing(target: Target, intervalSeconds: number): string {
  if (!target.scenarioSpec) return `every ${intervalSeconds} s`;
  if (target.pace === undefined) return `interval ${intervalSeconds} s simulated (no waiting: as fast as it computes)`;
  return `interval ${intervalSeconds} s simulated, ${target.pace} interval${target.pace === 1 ? '' : 's'} per real second`;
}

/** Runs the control loop until the interval count is reached or SIGINT/SIGTERM; flushes the trace. */
export async function executeRun(settings: RunSettings): Promise<number> {
  const { target } = settings;
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  stopRequests.once('stop', stop);
  if (stopWasRequested()) stop();
  const kinds = enabledKinds(settings);
  const trace = settings.tracePath ? new TraceWriter(settings.tracePath) : undefined;
  const ran = controllersForTrace(settings);
  const header: TraceHeader = {
    type: 'header',
    version: 1,
    target: target.label,
    scenario: target.scenario,
    intervalSeconds: settings.intervalSeconds,
    controllers: ran.controllers,
    pcpus: target.pcpus,
    startedAt: new Date().toISOString(),
    options: ran.options,
  };
  trace?.write(header);
  settings.onHeader?.(header);
  if (!settings.quiet && !settings.json) {
    const which = settings.judged?.description ?? kinds.map((kind) => controllers[kind].title).join(' + ');
    console.log(`virtbalance: ${which} on ${target.label}, ${pacing(target, settings.intervalSeconds)}${settings.dryRun ? ' (dry run: nothing is changed)' : ''}`);
  }
  let start: StartState | undefined;
  /** Whether the last interval saw no domain: the line saying so is printed once per such stretch. */
  let sawNoDomains = false;
  let exitCode = 0;
  let controllersRestore: ControllersRestore | undefined;
  try {
    await runControlLoop(
      target.hypervisor,
      target.clock,
      {
        intervalSeconds: settings.intervalSeconds,
        ...Object.fromEntries(kinds.map((kind) => [kind, settings[kind]])),
        dryRun: settings.dryRun || settings.judged !== undefined,
        ...(settings.manageDefinitionPins ? { manageDefinitionPins: true } : {}),
        intervals: settings.intervals,
        signal: abort.signal,
        truth: target.truth,
      },
      {
        record(entry) {
          if (settings.judged) {
            entry.actions = settings.judged.takeActions();
            entry.failures = [];
          }
          trace?.write(entry);
          const empty = entry.domains.length === 0 && !entry.notices.some((n) => n.message.startsWith('observe failed') || n.message.startsWith('stop requested'));
          if (empty && !sawNoDomains) console.error(`virtbalance: no running domains to manage on ${target.label}; waiting for one to start`);
          sawNoDomains = empty;
          settings.onInterval?.(entry);
          if (settings.json) console.log(JSON.stringify(entry));
          else if (!settings.quiet) console.log(formatInterval(entry, settings.dryRun).join('\n'));
        },
        log(message, recorded) {
          // The monitor output already shows what the interval recorded; otherwise each line goes to stderr, even with --quiet.
          if (recorded && !settings.quiet && !settings.json) return;
          // When judging, the controllers' own thoughts are about decisions they do not make.
          if (recorded && settings.judged) return;
          console.error(`virtbalance: ${message}`);
        },
        observed(observation) {
          if (settings.restore) start ??= captureStartState(observation);
        },
        ended(restore) {
          controllersRestore = restore;
        },
      },
    );
    if (settings.restore && start) {
      const outcome = await restoreStartState(
        target.hypervisor,
        start,
        { pins: !!settings.cpu, balloons: !!settings.memory, memory: settings.memory ?? controllers.memory.defaultOptions(), controllers: controllersRestore },
        (line) => console.error(`virtbalance: ${line}`),
      );
      if (outcome.failed > 0) exitCode = 1;
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    stopRequests.removeListener('stop', stop);
    await trace?.close();
    await target.hypervisor.close();
  }
  return exitCode;
}
