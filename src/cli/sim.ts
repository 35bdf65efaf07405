import { join } from 'node:path';
import { defaultCpuSchedulerOptions } from '../cpu/options.js';
import { writePlots } from '../plot/index.js';
import { formatScore, readTrace, scoreTrace, type Score } from '../score/index.js';
import { memoryOptionsFor } from '../control/simulate.js';
import { UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveInteger } from '../ground/numbers.js';
import { executeRun } from '../app/run.js';
import { prepareTracePath } from '../config/run-options.js';
import { openTarget } from '../app/target.js';
import { dashboardFlags, dashboardHelp, dashboardRequest, withLiveRun } from '../web/live-run.js';

const simHelp = `usage: virtbalance sim SCENARIO [--intervals N] [--seed N] [--out DIR] [--json] [--quiet] [--http [HOST:]PORT]

Runs a scenario (a file, or a shipped name such as cpu-2-all-on-pcpu0) on the simulated host with
the controllers the scenario names, prints the monitor output every interval, and writes
DIR/<scenario>/trace.jsonl, its plots (SVG) and its score (default DIR: out).

${dashboardHelp}`;

export async function simCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(
    argv,
    {
      intervals: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      ...dashboardFlags,
      help: { type: 'boolean', short: 'h' },
    },
    'sim',
  );
  if (values.help) {
    console.log(simHelp);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('sim: give exactly one scenario (try --help)');
  const seed = values.seed === undefined ? undefined : positiveInteger(values.seed, '--seed');
  const dashboard = await dashboardRequest(values, true, 'sim');
  const target = await openTarget({ sim: positionals[0]!, seed });
  const scenario = target.scenarioSpec!;
  const dir = join(values.out ?? 'out', scenario.name);
  const tracePath = join(dir, 'trace.jsonl');
  prepareTracePath(tracePath);
  const intervals = values.intervals === undefined ? scenario.intervals : positiveInteger(values.intervals, '--intervals');
  return withLiveRun(dashboard, target, { intervalSeconds: scenario.intervalSeconds, dryRun: false, plannedIntervals: intervals }, async (live) => {
    await executeRun({
      target: live.target,
      intervalSeconds: scenario.intervalSeconds,
      cpu: scenario.controllers.includes('cpu') ? { ...defaultCpuSchedulerOptions } : undefined,
      memory: scenario.controllers.includes('memory') ? memoryOptionsFor(scenario) : undefined,
      dryRun: false,
      json: !!values.json,
      quiet: !!values.quiet,
      intervals,
      tracePath,
      onHeader: live.onHeader,
      onInterval: live.onInterval,
    });
    await reportScenarioRun({ tracePath, dir, scenarioName: scenario.name, json: !!values.json, what: `${intervals} intervals of ${scenario.intervalSeconds} s, simulated` });
    return 0;
  });
}

/** After a scenario run: plots next to the trace, then the score (a JSON line with --json). Returns the score. */
export async function reportScenarioRun(run: { tracePath: string; dir: string; scenarioName: string; json: boolean; what: string }): Promise<Score> {
  const lines = await readTrace(run.tracePath);
  const plots = await writePlots(lines, run.dir, run.scenarioName);
  const score = scoreTrace(lines);
  if (run.json) console.log(JSON.stringify({ type: 'score', score }));
  else {
    console.log(`\n=== score of ${run.scenarioName} (${run.what})`);
    console.log(formatScore(score));
    console.log(`trace: ${run.tracePath}`);
    for (const p of plots) console.log(`plot:  ${p}`);
  }
  return score;
}
