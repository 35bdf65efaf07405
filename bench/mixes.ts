// Random-mix benchmark (issue #17): is the vCPU scheduler right on mixes nobody showed it?
// Runs seeded random CPU mixes (src/host/sim/mixes.ts) on the simulated host under the host's
// scheduler alone (nothing pinned), the drop-in `vcpu_scheduler` (objective balance), ours (`run`,
// objective fairness) and, on mixes of at most 4 pCPUs and 8 vCPUs, the oracle (the best static
// placement found by search, src/control/oracle.ts). Each is judged by one metric: the worst guest's
// median fraction of its max-min fair share over the second half of the run (src/score/mix-metric.ts).
// Prints a row per mix and a summary against the issue's targets:
//   ours ≥ host alone − 1 point on every mix;
//   on the oracle's mixes, median ours/oracle ≥ 95 % and none below 85 %;
//   no pin change after interval 20 on ≥ 99 % of the steady mixes;
//   the oracle within its time budget.
//
//   node dist/bench/mixes.js [--count 200] [--small 60] [--seed 1] [--small-only] [--budget-ms 3000] [--jobs N] [--quiet]
// --count mixes in all (the issue's fixed case comes on top), --small of them in the small mode (the
// oracle's), seeds from --seed on; --jobs worker threads (default: the cores, at most 4). Also part of `npm run bench` (bench/run.ts).
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { generateMix, issueMix, type MixScenario } from '../src/host/sim/mixes.js';
import { compareMix, type MixComparison } from '../src/control/mix-compare.js';
import { median } from '../src/score/mix-metric.js';

export interface MixBenchOptions {
  count: number;
  small: number;
  seed: number;
  smallOnly: boolean;
  budgetMs: number;
  quiet: boolean;
  /** Worker threads running mixes side by side (results do not depend on it). */
  jobs: number;
}

export const defaultMixBenchOptions: MixBenchOptions = { count: 200, small: 60, seed: 1, smallOnly: false, budgetMs: 3000, quiet: false, jobs: Math.max(1, Math.min(4, availableParallelism())) };

function log(s: string): void {
  console.log(`[bench mixes] ${s}`);
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(1)}`);

/** The mixes of a run: the issue's case, then `small` small ones and the rest full-size, seeds from `seed` on. */
export function benchMixes(o: MixBenchOptions): MixScenario[] {
  const small = o.smallOnly ? o.count : Math.min(o.small, o.count);
  const mixes: MixScenario[] = [issueMix()];
  for (let k = 0; k < o.count; k++) mixes.push(generateMix(o.seed + k, { small: k < small }));
  return mixes;
}

interface Row {
  mix: MixScenario;
  c: MixComparison;
}

function vcpusOf(m: MixScenario): number {
  return m.domains.reduce((a, d) => a + d.cpu.length, 0);
}

function rowText(r: Row): string {
  const { mix: m, c } = r;
  const oracle = c.oracle?.worstFraction;
  const ratio = oracle !== undefined && oracle > 0 ? c.ours.worstFraction / oracle : undefined;
  const cells = [
    m.name.padEnd(14),
    String(m.host.pcpus).padStart(2),
    String(vcpusOf(m)).padStart(3),
    pct(c.host.worstFraction).padStart(6),
    pct(c.dropin.worstFraction).padStart(6),
    pct(c.ours.worstFraction).padStart(6),
    (oracle === undefined ? '–' : `${pct(oracle)}${c.oracle!.complete ? '' : '*'}`).padStart(7),
    pct(ratio).padStart(6),
    String(c.ours.pinChangesAfter).padStart(4),
    m.steady ? 'steady' : 'phased',
    m.summary,
  ];
  return cells.join(' ');
}

export async function runMixBench(options: Partial<MixBenchOptions> = {}): Promise<{ rows: Row[]; ok: boolean }> {
  const o = { ...defaultMixBenchOptions, ...options };
  const mixes = benchMixes(o);
  const started = performance.now();
  log(`start: ${mixes.length} mixes (the issue's case + ${o.count} from seed ${o.seed}, ${mixes.filter((m) => m.small).length} within the oracle's reach), oracle budget ${o.budgetMs} ms, ${loadavg()[0]!.toFixed(1)} load average`);
  log('fractions of fair share in % (worst guest\'s median, second half); * = oracle stopped by its budget');
  log(`${'mix'.padEnd(14)} ${'pC'.padStart(2)} ${'vC'.padStart(3)} ${'host'.padStart(6)} ${'dropin'.padStart(6)} ${'ours'.padStart(6)} ${'oracle'.padStart(7)} ${'o/orc'.padStart(6)} ${'pin>20'.padStart(4)} phase  shapes`);
  const rows: Row[] = [];
  const results = await compareAll(mixes, o, (k, c) => {
    // Printed in order as soon as every earlier mix is done.
    rows[k] = { mix: mixes[k]!, c };
  }, (k) => {
    if (!o.quiet) log(rowText(rows[k]!));
  });
  results.forEach((c, k) => (rows[k] = { mix: mixes[k]!, c }));
  const seconds = (performance.now() - started) / 1000;

  // The targets.
  const belowHost = rows.filter((r) => r.c.ours.worstFraction < r.c.host.worstFraction - 0.01);
  const withOracle = rows.filter((r) => r.c.oracle !== undefined);
  const ratios = withOracle.map((r) => (r.c.oracle!.worstFraction > 0 ? r.c.ours.worstFraction / r.c.oracle!.worstFraction : 1));
  const medianRatio = median(ratios);
  const lowRatios = withOracle.filter((_, k) => ratios[k]! < 0.85);
  const steady = rows.filter((r) => r.mix.steady);
  const quiet = steady.filter((r) => r.c.ours.pinChangesAfter === 0);
  const oracleMs = withOracle.map((r) => r.c.oracle!.ms);
  const budgetHits = withOracle.filter((r) => r.c.oracle!.budgetHit).length;
  const oracleBelowHost = withOracle.filter((r) => r.c.oracle!.worstFraction < r.c.host.worstFraction - 1e-9);
  const dropBelowHost = rows.filter((r) => r.c.dropin.worstFraction < r.c.host.worstFraction - 0.01);
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  const q = (xs: number[], p: number): number => sorted(xs)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const yes = (b: boolean): string => (b ? 'MET' : 'MISSED');

  log(`done: ${rows.length} mixes in ${seconds.toFixed(0)} s (${loadavg()[0]!.toFixed(1)} load average)`);
  log(`worst guest's median fraction of fair share, mean over all mixes: host ${pct(mean(rows.map((r) => r.c.host.worstFraction)))} %, drop-in ${pct(mean(rows.map((r) => r.c.dropin.worstFraction)))} %, ours ${pct(mean(rows.map((r) => r.c.ours.worstFraction)))} %; on the oracle's ${withOracle.length}: oracle ${pct(mean(withOracle.map((r) => r.c.oracle!.worstFraction)))} %`);
  log(`target 1, ours ≥ host alone − 1 point on every mix: ${yes(belowHost.length === 0)} — below on ${belowHost.length} of ${rows.length}${belowHost.length ? ` (worst: ${[...belowHost].sort((a, b) => (a.c.ours.worstFraction - a.c.host.worstFraction) - (b.c.ours.worstFraction - b.c.host.worstFraction)).slice(0, 5).map((r) => `${r.mix.name} ${pct(r.c.ours.worstFraction)} vs ${pct(r.c.host.worstFraction)}`).join(', ')})` : ''}; the drop-in below on ${dropBelowHost.length}`);
  log(`target 2, on the oracle's ${withOracle.length} mixes median ours/oracle ≥ 95 % and none below 85 %: ${yes(medianRatio >= 0.95 && lowRatios.length === 0)} — median ${pct(medianRatio)} %, p10 ${pct(q(ratios, 0.1))} %, min ${pct(Math.min(...ratios))} %, ${lowRatios.length} below 85 %${lowRatios.length ? ` (${lowRatios.slice(0, 6).map((r) => r.mix.name).join(', ')}${lowRatios.length > 6 ? ', ...' : ''})` : ''}`);
  log(`target 3, no pin change after interval 20 on ≥ 99 % of steady mixes: ${yes(quiet.length >= 0.99 * steady.length)} — ${quiet.length} of ${steady.length} (${pct(quiet.length / Math.max(1, steady.length))} %); phased mixes quiet: ${rows.filter((r) => !r.mix.steady && r.c.ours.pinChangesAfter === 0).length} of ${rows.filter((r) => !r.mix.steady).length}`);
  log(`target 4, the oracle within its ${o.budgetMs} ms budget: ${yes(budgetHits === 0)} — ${withOracle.length - budgetHits} of ${withOracle.length} searches complete, ms median ${q(oracleMs, 0.5).toFixed(0)}, p90 ${q(oracleMs, 0.9).toFixed(0)}, max ${Math.max(...oracleMs).toFixed(0)} (search + whole-run judging), evaluations median ${q(withOracle.map((r) => r.c.oracle!.evaluated), 0.5)}`);
  log(`check: the oracle ≥ host alone on ${withOracle.length - oracleBelowHost.length} of ${withOracle.length} (release is always among its candidates)`);
  const ok = belowHost.length === 0 && medianRatio >= 0.95 && lowRatios.length === 0 && quiet.length >= 0.99 * steady.length && budgetHits === 0;
  return { rows, ok };
}

/** Runs compareMix on every mix, in `jobs` worker threads (each takes the next mix when free); `printed(k)` in mix order. */
async function compareAll(mixes: MixScenario[], o: MixBenchOptions, done: (k: number, c: MixComparison) => void, printed: (k: number) => void): Promise<MixComparison[]> {
  const results: MixComparison[] = new Array(mixes.length);
  let next = 0;
  let shown = 0;
  const finish = (k: number, c: MixComparison): void => {
    results[k] = c;
    done(k, c);
    while (shown < mixes.length && results[shown] !== undefined) printed(shown++);
  };
  if (o.jobs <= 1) {
    for (let k = 0; k < mixes.length; k++) {
      finish(k, await compareMix(mixes[k]!, { oracle: { budgetMs: o.budgetMs } }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return results;
  }
  const file = fileURLToPath(import.meta.url);
  await Promise.all(Array.from({ length: Math.min(o.jobs, mixes.length) }, () => new Promise<void>((resolve, reject) => {
    const worker = new Worker(file, { workerData: { budgetMs: o.budgetMs } });
    let current = -1;
    const feed = (): void => {
      if (next >= mixes.length) {
        void worker.terminate().then(() => resolve());
        return;
      }
      current = next++;
      worker.postMessage({ k: current, mix: mixes[current] });
    };
    worker.on('message', (m: { k: number; c: MixComparison }) => {
      finish(m.k, m.c);
      feed();
    });
    worker.on('error', reject);
    worker.on('online', feed);
  })));
  return results;
}

function flags(argv: string[]): MixBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string' },
      small: { type: 'string' },
      seed: { type: 'string' },
      'small-only': { type: 'boolean' },
      'budget-ms': { type: 'string' },
      quiet: { type: 'boolean' },
      jobs: { type: 'string' },
    },
  });
  const int = (v: string | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a whole number ≥ 0, got ${v}`);
    return n;
  };
  return {
    count: int(values.count, defaultMixBenchOptions.count, 'count'),
    small: int(values.small, defaultMixBenchOptions.small, 'small'),
    seed: int(values.seed, defaultMixBenchOptions.seed, 'seed'),
    smallOnly: values['small-only'] ?? false,
    budgetMs: int(values['budget-ms'], defaultMixBenchOptions.budgetMs, 'budget-ms'),
    quiet: values.quiet ?? false,
    jobs: Math.max(1, int(values.jobs, defaultMixBenchOptions.jobs, 'jobs')),
  };
}

if (!isMainThread && parentPort) {
  // A worker of compareAll: compares the mixes it is sent, one at a time.
  const port = parentPort;
  const { budgetMs } = workerData as { budgetMs: number };
  port.on('message', (m: { k: number; mix: MixScenario }) => {
    void compareMix(m.mix, { oracle: { budgetMs } }).then((c) => port.postMessage({ k: m.k, c }));
  });
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let options: MixBenchOptions;
  try {
    options = flags(process.argv.slice(2));
  } catch (err) {
    console.error(`bench mixes: ${err instanceof Error ? err.message : String(err)} (flags: --count N --small N --seed N --small-only --budget-ms N --quiet --jobs N)`);
    process.exit(2);
  }
  await runMixBench(options);
}
