import { join } from 'node:path';
import { defaultCpuSchedulerOptions } from '../cpu/options.js';
import { writePlots } from '../plot/index.js';
import { formatScore, readTrace, scoreTrace } from '../score/index.js';
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
    const lines = await readTrace(tracePath);
    const plots = await writePlots(lines, dir, scenario.name);
    const score = scoreTrace(lines);
    if (values.json) console.log(JSON.stringify({ type: 'score', score }));
    else {
      console.log(`\n=== score of ${scenario.name} (${intervals} intervals of ${scenario.intervalSeconds} s, simulated)`);
      console.log(formatScore(score));
      console.log(`trace: ${tracePath}`);
      for (const p of plots) console.log(`plot:  ${p}`);
    }
    return 0;
  });
}
