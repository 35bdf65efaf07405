// `virtbalance report TRACE [-o FILE]`: one self-contained HTML file of a run (plots, score, decision log).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readTrace, type ScoreOptions } from '../score/index.js';
import { renderReport } from '../web/report.js';
import { FatalError, UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { nonNegativeNumber } from '../ground/numbers.js';

const HELP = `usage: virtbalance report TRACE [-o FILE] [--threshold POINTS] [--starvation MIB]

Writes one self-contained HTML file for a trace written by run or sim: the pCPU and memory
plots (inline SVG), the score as tables, and every decision with its reason. It needs no
network and no other file to open.

  -o, --output FILE       where to write it (default: the trace's name with .html; - for stdout)
      --threshold POINTS  spread at or below which pCPUs count as balanced (default 5)
      --starvation MIB    spare memory below which a guest counts as starved (default 100)
  -h, --help              show this help`;

export function defaultReportPath(tracePath: string): string {
  return /\.jsonl?$/i.test(tracePath) ? tracePath.replace(/\.jsonl?$/i, '.html') : `${tracePath}.html`;
}

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    output: { type: 'string', short: 'o' },
    threshold: { type: 'string' },
    starvation: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, 'report');
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`report: expected one trace file, got ${positionals.length === 0 ? 'none' : positionals.length} (try --help)`);
  const tracePath = positionals[0]!;
  const options: ScoreOptions = {};
  if (values.threshold !== undefined) options.balanceThresholdPoints = nonNegativeNumber(values.threshold, '--threshold');
  if (values.starvation !== undefined) options.starvationThresholdKiB = nonNegativeNumber(values.starvation, '--starvation') * 1024;

  const html = renderReport(await readTrace(tracePath), { ...options, source: tracePath });
  const output = values.output ?? defaultReportPath(tracePath);
  if (output === '-') {
    process.stdout.write(html);
    return 0;
  }
  try {
    await mkdir(dirname(output), { recursive: true });
    await writeFile(output, html);
  } catch (err) {
    throw new FatalError(`report: cannot write ${output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  console.log(`report: ${output} (${Math.ceil(Buffer.byteLength(html) / 1024)} KiB)`);
  return 0;
}
