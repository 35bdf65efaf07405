import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCpuSchedulerOptions } from '../cpu/options.js';
import { writePlots } from '../plot/index.js';
import { formatScore, readTrace, scoreTrace, type Score } from '../score/index.js';
import { cpuOptionsFor, memoryOptionsFor } from '../control/simulate.js';
import { UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveInteger } from '../ground/numbers.js';
import { executeRun } from '../app/run.js';
import { prepareTracePath } from '../config/run-options.js';
import { openTarget } from '../app/target.js';
import { virtbalanceCommand } from '../app/invocation.js';
import { dashboardFlags, dashboardHelp, dashboardRequest, withLiveRun } from '../web/live-run.js';

const simHelp = `usage: virtbalance sim SCENARIO [--intervals N] [--seed N] [--out DIR] [--json] [--quiet] [--http [HOST:]PORT]

Runs a scenario (a file, or a shipped name such as cpu-2-all-on-pcpu0; see scenarios/) on the
simulated host with the controllers the scenario names. It prints the scenario's description, the
monitor output of every interval and the score, and writes into DIR/<scenario>/ (replacing what an
earlier run left there): trace.jsonl, score.txt and the plots (SVG). Simulated time does not wait:
a whole scenario takes about a second unless --pace or --http slows it to watch.

  SCENARIO              a scenario file, or the name of a shipped one
  --intervals N         run N intervals instead of the scenario's own count
  --seed N              seed of the simulated host's noise (default: the scenario's, else 1)
  --out DIR             where DIR/<scenario>/ is written (default: out)
  --json                one JSON line per interval on stdout, then the score as JSON
  --quiet               print no monitor output, only the score and the files written
${dashboardHelp}
  -h, --help            this text

Afterwards: \`virtbalance report DIR/<scenario>/trace.jsonl\` writes one HTML page (score, summary,
plots, decision log); \`virtbalance score FILE\` prints the score again.`;

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
  // Every flag is checked before the scenario is described, so bad input is one line on its own.
  const seed = values.seed === undefined ? undefined : positiveInteger(values.seed, '--seed');
  const intervalsFlag = values.intervals === undefined ? undefined : positiveInteger(values.intervals, '--intervals');
  const dashboard = await dashboardRequest(values, true, 'sim');
  const target = await openTarget({ sim: positionals[0]!, seed });
  const scenario = target.scenarioSpec!;
  const dir = join(values.out ?? 'out', scenario.name);
  const tracePath = join(dir, 'trace.jsonl');
  prepareTracePath(tracePath, `--out ${values.out ?? 'out'}`);
  const replacing = existsSync(tracePath);
  const talk = !values.quiet && !values.json;
  if (talk) {
    console.log(wrap(`scenario ${scenario.name}: ${scenario.description.replace(/\s+/g, ' ') || '(no description)'}`, 100));
    if (replacing) console.log(`replacing the earlier run in ${dir}/`);
  }
  const intervals = intervalsFlag ?? scenario.intervals;
  return withLiveRun(dashboard, target, { intervalSeconds: scenario.intervalSeconds, dryRun: false, plannedIntervals: intervals }, async (live) => {
    await executeRun({
      target: live.target,
      intervalSeconds: scenario.intervalSeconds,
      cpu: scenario.controllers.includes('cpu') ? cpuOptionsFor(scenario, defaultCpuSchedulerOptions) : undefined,
      memory: scenario.controllers.includes('memory') ? memoryOptionsFor(scenario) : undefined,
      dryRun: false,
      json: !!values.json,
      quiet: !!values.quiet,
      intervals,
      tracePath,
      onHeader: live.onHeader,
      onInterval: live.onInterval,
    });
    await reportScenarioRun({
      tracePath, dir, scenarioName: scenario.name, json: !!values.json,
      what: (ran) => `${ran} intervals of ${scenario.intervalSeconds} s, simulated`,
      rerun: dashboard.listen ? undefined : `${virtbalanceCommand()} sim ${positionals[0]} --http 8080`,
    });
    return 0;
  });
}

/** After a scenario run: plots next to the trace, the score printed (a JSON line with --json) and
 *  written to score.txt, and where to look next. Returns the score. */
export async function reportScenarioRun(run: { tracePath: string; dir: string; scenarioName: string; json: boolean; what: (intervalsRan: number) => string; rerun?: string }): Promise<Score> {
  const lines = await readTrace(run.tracePath);
  const plots = await writePlots(lines, run.dir, run.scenarioName);
  const score = scoreTrace(lines);
  const scorePath = join(run.dir, 'score.txt');
  const scoreText = formatScore(score);
  writeFileSync(scorePath, scoreText + '\n');
  if (run.json) console.log(JSON.stringify({ type: 'score', score }));
  else {
    console.log(`\n=== score of ${run.scenarioName} (${run.what(lines.length - 1)})`);
    console.log(scoreText);
    console.log(`trace: ${run.tracePath}`);
    console.log(`score: ${scorePath}`);
    for (const p of plots) console.log(`plot:  ${p}`);
    console.log(`next:  ${virtbalanceCommand()} report ${run.tracePath}   (one HTML page: score, plots, decisions)`);
    if (run.rerun) console.log(`       ${run.rerun}   (watch it live in a browser)`);
  }
  return score;
}

/** Words wrapped into lines of at most `width` characters. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}
