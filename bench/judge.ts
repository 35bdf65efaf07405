// Judge benchmark: our own drop-ins (`vcpu_scheduler`, `memory_coordinator`, the package's bins) run as
// foreign programs through `virtbalance judge` (the simulated host served over libvirt's protocol, in
// real time × VB_BENCH_JUDGE_SPEED) on every shipped grader scenario, scored, and set beside the score
// `sim` gives the same controllers on the virtual clock. The two should agree within the noise of
// real-time pacing (both with the drop-ins' default memory options). The trace's memory record, and so
// the judged score, still uses the scenario's floors and reserve. Needs root (the drop-ins open qemu:///system; judge reaches it in a mount namespace).
// Run alone with `node dist/bench/judge.js`.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { shippedScenariosDir } from '../src/app/target.js';
import { simulateScenario } from '../src/control/simulate.js';
import { defaultMemoryOptions } from '../src/memory/options.js';
import { loadScenario, type Scenario } from '../src/host/sim/index.js';
import { scoreTrace, type Score } from '../src/score/index.js';
import { namespaceAvailable } from '../src/serve/judged-program.js';
import { refuseArguments } from './no-arguments.js';

const run = promisify(execFile);
// Faster than real time distorts programs that measure rates against their own clock (ours do: usage is
// vCPU time over wall time), so the honest comparison is at 1×; the scenarios run side by side instead.
const SPEED = Number(process.env.VB_BENCH_JUDGE_SPEED ?? 1);
const DIST = fileURLToPath(new URL('../src/cli/', import.meta.url));

function log(s: string): void {
  console.log(`[bench judge] ${s}`);
}

function graderScenarios(): Scenario[] {
  return readdirSync(shippedScenariosDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => loadScenario(join(shippedScenariosDir, f)))
    .filter((s) => /Grader case/.test(s.description ?? ''));
}

/**
 * The drop-ins know nothing of a scenario's per-guest floors and host reserve: they run with the default
 * memory options. The sim side of the comparison runs with the same options, so the two differ only in
 * the door (virtual clock in process, or real time over the protocol).
 */
function withDropInOptions(scenario: Scenario): Scenario {
  return {
    ...scenario,
    host: { ...scenario.host, reserveMiB: defaultMemoryOptions.reserveMiB },
    domains: scenario.domains.map((d) => ({ ...d, floorMiB: undefined })),
  };
}

function summary(s: Score): string {
  const parts: string[] = [];
  if (s.cpu) {
    const worst = s.cpu.fairness?.worstFractionOfFairShare;
    parts.push(`balanced from ${s.cpu.balancedAtInterval ?? 'never'}, ${s.cpu.pinChanges.total} pin changes, worst ${worst ? (worst.fraction * 100).toFixed(1) : '-'} % of fair share`);
  }
  if (s.memory) {
    parts.push(`starved ${s.memory.starvedIntervals}, OOM ${s.memory.oom.total}, host low ${s.memory.host ? Math.round(s.memory.host.minFreeKiB / 1024) : '-'} MiB, reclaim open ${s.memory.reclaim.open}`);
  }
  return parts.join('; ');
}

async function judged(scenario: Scenario, out: string): Promise<Score> {
  const controller = scenario.controllers.includes('cpu') ? 'vcpu-scheduler-bin.js' : 'memory-coordinator-bin.js';
  const interval = String(scenario.intervalSeconds / SPEED);
  const { stdout } = await run(process.execPath, [join(DIST, 'bin.js'), 'judge', scenario.name, '--speed', String(SPEED), '--out', out, '--json', '--',
    process.execPath, join(DIST, controller), interval], { maxBuffer: 256 << 20, timeout: (scenario.intervals * scenario.intervalSeconds / SPEED + 60) * 1000 });
  const line = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; score?: Score }).find((l) => l.type === 'score');
  if (!line?.score) throw new Error(`judge ${scenario.name}: no score line`);
  return line.score;
}

export async function runJudgeBench(): Promise<void> {
  if (!namespaceAvailable()) {
    log('skipped: needs root and unshare(1) (the drop-ins open qemu:///system, reached through a mount namespace)');
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'vb-bench-judge-'));
  try {
    // Only the controllers the drop-ins are: one per scenario. All at once: each is mostly waiting.
    const scenarios = graderScenarios().filter((s) => s.controllers.length === 1);
    const t0 = performance.now();
    const results = await Promise.all(scenarios.map(async (scenario) => ({ scenario, viaJudge: await judged(scenario, out), sim: scoreTrace(await simulateScenario(withDropInOptions(scenario))) })));
    log(`${scenarios.length} grader scenarios judged side by side at ${SPEED}× real time in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    for (const { scenario, viaJudge, sim } of results) {
      log(`${scenario.name}: judge: ${summary(viaJudge)}`);
      log(`${scenario.name}: sim  : ${summary(sim)}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  log('done');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  refuseArguments('judge', 'VB_BENCH_JUDGE_SPEED, VB_BENCH_ROUNDS');
  await runJudgeBench();
}
