import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtbalanceCommand } from '../app/invocation.js';
import { noisyVariantBase, noisyVariantOf, resolveScenarioPath, type Target } from '../app/target.js';
import { executeRun } from '../app/run.js';
import { prepareTracePath } from '../config/run-options.js';
import { cpuOptionsFor, memoryOptionsFor, traceTruth } from '../control/simulate.js';
import { defaultCpuSchedulerOptions } from '../cpu/options.js';
import { UsageError } from '../ground/errors.js';
import { positiveInteger, positiveNumber } from '../ground/numbers.js';
import { loadScenario } from '../host/sim/index.js';
import { needlessPinChanges } from '../score/cpu.js';
import { readTrace } from '../score/index.js';
import { namespaceAvailable, prepareSocketDir, startJudgedProgram, SYSTEM_SOCKET_DIR } from '../serve/judged-program.js';
import { startSimServer } from '../serve/sim-server.js';
import { parseCommandLine } from './options.js';
import { reportScenarioRun } from './sim.js';

const judgeHelp = `usage: virtbalance judge SCENARIO [--speed X] [--seed N] [--out DIR] [--json] [--quiet] [--no-namespace] -- CMD ARGS...

Scores any controller program (in any language, on libvirt's C library, Python binding, ...) on a
scenario's simulated host. Serves the host over libvirt's remote protocol, runs CMD ARGS for the
scenario's length in real time (X times faster with --speed, if the program's own interval allows),
stops it, and prints the same monitor output, trace, plots and score as \`virtbalance sim\`.

How CMD reaches the simulated host:
  - LIBVIRT_DEFAULT_URI=qemu+unix:///system?socket=... is set: programs that open the default URI
    (virConnectOpen(NULL), libvirt.open()) connect to it;
  - as root (with unshare(1)), CMD runs in a private mount namespace in which the server's socket
    directory is bound over ${SYSTEM_SOCKET_DIR}: a program that hard-codes qemu:///system reaches the
    simulated host, and the real daemon is invisible to it. --no-namespace turns this off.
  Interval k of the trace records the changes CMD made since interval k-1.

The grader's CPU cases have noisy variants (cpu-1-balanced-noisy, ...: the noise real guests'
usage shows); judging one also counts the pin changes only noise called for (docs/judge.md).

  --speed X       simulated seconds per real second (default 1)
  --seed N        seed of the simulated host (default: the scenario's)
  --out DIR       writes DIR/<scenario>/trace.jsonl, plots and score (default out/judge)`;

export async function judgeCommand(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  const { values, positionals } = parseCommandLine(own, {
    speed: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    'no-namespace': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, 'judge');
  if (values.help) {
    console.log(judgeHelp);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('judge: give exactly one scenario, then -- and the program to judge (try --help)');
  if (command.length === 0) throw new UsageError('judge: give the program to judge after -- (e.g. judge cpu-2-all-on-pcpu0 -- ./vcpu_scheduler 2)');
  const scenario = loadScenario(resolveScenarioPath(positionals[0]!));
  const speed = values.speed === undefined ? 1 : positiveNumber(values.speed, '--speed');
  const seed = values.seed === undefined ? undefined : positiveInteger(values.seed, '--seed');
  const dir = join(values.out ?? join('out', 'judge'), scenario.name);
  const tracePath = join(dir, 'trace.jsonl');
  prepareTracePath(tracePath);

  const socketDir = mkdtempSync(join(tmpdir(), 'virtbalance-judge-'));
  const log = (line: string) => console.error(line);
  try {
    const socket = prepareSocketDir(socketDir);
    const served = await startSimServer({ scenario, seed, socket, speed, onWarning: (m) => log(`virtbalance judge: server: ${m}`) });
    // The program's first lines wait until it is known to have started, so a failure to start is one line.
    let held: string[] | undefined = [];
    const programLog = (line: string) => (held ? held.push(line) : log(line));
    const program = startJudgedProgram(command, socketDir, { namespace: !values['no-namespace'] && namespaceAvailable(), log: programLog });
    let stopping = false;
    const exitLine = (r: { code: number | null; signal: NodeJS.Signals | null }) =>
      `virtbalance judge: ${command[0]} exited (${r.signal ?? `code ${r.code}`}) at t=${(served.run.hypervisor.timeNs / 1e9).toFixed(1)} s; the scenario runs on without it`;
    // A program that cannot be started at all (not found, not executable) is bad input, said at once.
    const startup = await Promise.race([program.exited, new Promise<undefined>((r) => setTimeout(r, 300))]);
    if (startup && (startup.error || startup.code === 126 || startup.code === 127)) {
      await served.close();
      const said = held.at(-1)?.replace(/^\[[^\]]*\] (.*?: \d+: )?/, '');
      throw new UsageError(`judge: cannot run ${command[0]}: ${startup.error?.message ?? said ?? `exit ${startup.code}`}`);
    }
    for (const line of held) log(line);
    held = undefined;
    if (startup) log(exitLine(startup));
    else void program.exited.then((r) => { if (!stopping) log(exitLine(r)); });
    const run = served.run;
    const target: Target = {
      label: `judge:${scenario.name}`,
      hypervisor: run.hypervisor,
      clock: served.driver.clock,
      pcpus: scenario.host.pcpus,
      scenario: scenario.name,
      scenarioSpec: scenario,
      truth: () => traceTruth(run.truth()),
      pace: speed / scenario.intervalSeconds,
    };
    if (!values.quiet && !values.json) log(`virtbalance judge: ${command.join(' ')} reaches the simulated host through ${program.how}`);
    try {
      await executeRun({
        target,
        intervalSeconds: scenario.intervalSeconds,
        cpu: scenario.controllers.includes('cpu') ? cpuOptionsFor(scenario, defaultCpuSchedulerOptions) : undefined,
        memory: scenario.controllers.includes('memory') ? memoryOptionsFor(scenario) : undefined,
        dryRun: false,
        json: !!values.json,
        quiet: !!values.quiet,
        intervals: scenario.intervals,
        tracePath,
        judged: { description: `judging ${command.join(' ')}`, takeActions: () => served.takeActions() },
      });
    } finally {
      stopping = true;
      await program.stop();
      await served.close();
    }
    await reportScenarioRun({ tracePath, dir, scenarioName: scenario.name, json: !!values.json, what: (ran) => `${ran} intervals of ${scenario.intervalSeconds} s, judging ${command.join(' ')} at ${speed}× real time` });
    await reportNoise(scenario.name, scenario.host.pcpus, tracePath, scenario.controllers.includes('cpu'), !!values.json);
    const failed = [...served.calls].filter(([, c]) => c.failed > 0).map(([n, c]) => `${n} ${c.failed}×`);
    if (!values.json && failed.length > 0) log(`virtbalance judge: calls that failed: ${failed.join(', ')}`);
    return 0;
  } finally {
    rmSync(socketDir, { recursive: true, force: true });
  }
}

/**
 * On a noisy variant: the pin changes that only noise called for. On a grader case that has one:
 * where to see them (the case itself carries less noise than real guests show).
 */
async function reportNoise(name: string, pcpus: number, tracePath: string, cpu: boolean, json: boolean): Promise<void> {
  if (!cpu) return;
  const base = noisyVariantBase(name);
  if (base) {
    const intervals = (await readTrace(tracePath)).filter((l) => l.type === 'interval');
    const needless = needlessPinChanges(intervals, pcpus);
    if (json) {
      console.log(JSON.stringify({ type: 'needless-pin-changes', scenario: name, settledAtInterval: needless.settledAtInterval ?? null, fairFraction: needless.fairFraction, count: needless.changes.length, changes: needless.changes }));
      return;
    }
    const percent = Math.round(needless.fairFraction * 100);
    if (needless.settledAtInterval === undefined) {
      console.log(`needless pin changes           not judged: in no interval did every guest get ${percent} % of its fair share`);
      return;
    }
    const at = [...new Set(needless.changes.map((c) => c.interval))];
    const where = at.length === 0 ? '' : ` (at interval${at.length === 1 ? '' : 's'} ${at.slice(0, 8).join(', ')}${at.length > 8 ? ', ...' : ''})`;
    console.log(`needless pin changes           ${needless.changes.length}${where}: made after interval ${needless.settledAtInterval}, in which every guest already had ${percent} % of its fair share; in ${name} nothing real changes, only the noise of ${base}'s loads${needless.changes.length > 0 ? ': the program re-pins on noise' : ''}`);
    return;
  }
  const variant = noisyVariantOf(name);
  if (variant && !json) {
    console.log(`noise: real guests' usage moves a few points every interval and ${name}'s hardly does; a program that re-pins on noise shows it on ${variant}: ${virtbalanceCommand()} judge ${variant} -- ... (docs/judge.md, "Noisy variants")`);
  }
}
