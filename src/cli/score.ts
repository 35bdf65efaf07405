// `virtbalance score TRACE`: scores a trace file (balance, fairness, starvation, reclaim) and optionally plots it.
import { basename } from 'node:path';
import { writePlots } from '../plot/index.js';
import { formatScore, readTrace, scoreTrace, type ScoreOptions } from '../score/index.js';
import { parseCommandLine } from './options.js';
import { nonNegativeNumber } from '../ground/numbers.js';
import { UsageError } from '../ground/errors.js';

const HELP = `usage: virtbalance score TRACE [--json] [--plots DIR] [--threshold POINTS] [--starvation MIB]

Scores a trace written by run or sim (JSON lines). CPU: pCPU usage spread, the interval from
which it stays balanced, pin changes (in all and after balance), Jain's fairness of
received/demand over all VMs and within groups of equal demand, and the share of its fair
share each VM got. Memory: starved intervals, OOM kills (simulated runs), the host's lowest
free memory against its reserve, time to meet a growing demand and to reclaim after a load
stops, each guest's lowest and highest balloon.

      --json              print the score as JSON
      --plots DIR         also write <name>-cpu.svg / <name>-memory.svg into DIR
      --threshold POINTS  spread at or below which pCPUs count as balanced (default 5)
      --starvation MIB    spare memory below which a guest counts as starved (default 100)
  -h, --help              show this help`;

/** Plot file name from the trace path: run1.jsonl → run1; a generic trace.jsonl takes the scenario's name. */
function plotBasename(path: string, scenario: string | undefined): string {
  const name = basename(path).replace(/\.jsonl?$/i, '');
  return name === 'trace' && scenario ? scenario.replace(/[^\w.-]+/g, '-') : name;
}

export async function scoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    json: { type: 'boolean' },
    plots: { type: 'string' },
    threshold: { type: 'string' },
    starvation: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, 'score');
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`score: expected one trace file, got ${positionals.length === 0 ? 'none' : positionals.length} (try --help)`);
  const path = positionals[0]!;
  const options: ScoreOptions = {};
  if (values.threshold !== undefined) options.balanceThresholdPoints = nonNegativeNumber(values.threshold, '--threshold');
  if (values.starvation !== undefined) options.starvationThresholdKiB = nonNegativeNumber(values.starvation, '--starvation') * 1024;

  const lines = await readTrace(path);
  const score = scoreTrace(lines, options);
  let plots: string[] = [];
  if (values.plots !== undefined) {
    const header = lines[0]?.type === 'header' ? lines[0] : undefined;
    plots = await writePlots(lines, values.plots, plotBasename(path, header?.scenario), {
      thresholdPoints: options.balanceThresholdPoints,
      starvationThresholdKiB: options.starvationThresholdKiB,
    });
  }
  if (values.json) {
    console.log(JSON.stringify(values.plots !== undefined ? { ...score, plots } : score, null, 2));
  } else {
    process.stdout.write(formatScore(score));
    if (values.plots !== undefined) {
      console.log('');
      if (plots.length === 0) console.log('plots: none (no CPU or memory records in this trace)');
      for (const p of plots) console.log(`plot:  ${p}`);
    }
  }
  return 0;
}
