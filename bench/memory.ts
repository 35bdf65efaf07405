// Memory benchmark: our coordinator side by side with production balloon policies, on every memory
// and page-cache scenario of the simulator (issue #10, part 6).
//   ours     the memory coordinator through the control loop (simulateScenario), default options;
//   MOM      oVirt MOM's balloon policy as vdsm ships it, every 15 s (bench/baselines/mom.ts);
//   Proxmox  Proxmox VE's auto-ballooning, compute_alg1 every 10 s (bench/baselines/proxmox.ts);
//   ChromeOS ChromeOS concierge's LimitCacheBalloonPolicy, every interval (bench/baselines/chromeos.ts);
//   nothing  every guest keeps its boot size (bench/baselines/nothing.ts);
//   nothing at max + reporting  no coordinator, every guest booted at its maximum with free page
//            reporting on (the simulator's `freePageReporting`): freed memory returns by itself;
//   ours + reporting  ours on the same guests with reporting on, against that baseline (last column).
// Baselines are written here from the published rules; they run the same Controller contract over
// the same simulated host (same seed). Per scenario and policy: OOM events, starved intervals, time
// to meet a growing demand (longest run of starved intervals), cold cache held (MiB·s), refaults
// (MiB) and host memory held (the guests' resident set: GiB·s and its peak), all from
// `virtbalance score`'s definitions (src/score/). Ratios are ours / theirs: below 1
// is better for us, `=` both zero, `∞` theirs zero and ours not. One more row per scenario puts every
// policy's host memory held over the least any policy could hold without starving a guest or taking
// its hot cache (scoreNeededGiBSeconds, from the truth of the run that takes nothing).
// Run alone with `node dist/bench/memory.js`; VB_MEMORY_BENCH_SCENARIOS narrows the list (comma-separated names).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Controller } from '../src/ground/controller.js';
import type { Action } from '../src/ground/actions.js';
import type { HostObservation } from '../src/ground/hypervisor.js';
import type { TraceHeader, TraceInterval, TraceLine, TraceMemory } from '../src/ground/trace-record.js';
import { errorText } from '../src/ground/errors.js';
import { createSimulatedHost, loadScenario, type Scenario } from '../src/host/sim/index.js';
import { simulateScenario, traceTruth } from '../src/control/simulate.js';
import { scoreTrace } from '../src/score/index.js';
import { scoreNeededGiBSeconds } from '../src/score/held.js';
import { shippedScenariosDir } from '../src/app/target.js';
import { momController } from './baselines/mom.js';
import { proxmoxController } from './baselines/proxmox.js';
import { nothingController } from './baselines/nothing.js';
import { chromeosController } from './baselines/chromeos.js';
import type { BaselineOptions } from './baselines/options.js';
import type { BaselineState } from './baselines/common.js';
import { refuseArguments } from './no-arguments.js';

type Baseline = Controller<BaselineOptions & { intervalSeconds: number }, BaselineState, HostObservation, TraceMemory>;

const MiB = 1024;

export interface MemoryFigures {
  oom: number;
  starved: number;
  /** Longest run of starved intervals (0 when none). */
  meetIntervals: number;
  coldMiBSeconds: number;
  refaultMiB: number;
  /** Host memory held: ∫ Σ guests' resident set dt, and its peak (src/score/held.ts). */
  heldGiBSeconds: number;
  peakHeldMiB: number;
  /** set-memory actions the policy made. */
  balloonMoves: number;
}

function log(s: string): void {
  console.log(`[bench memory] ${s}`);
}

function baselineOptions(scenario: Scenario, minOf: (d: Scenario['domains'][number]) => number): BaselineOptions & { intervalSeconds: number } {
  return {
    floorsKiB: Object.fromEntries(scenario.domains.map((d) => [d.name, (d.floorMiB ?? 200) * MiB])),
    reserveKiB: scenario.host.reserveMiB * MiB,
    minKiB: Object.fromEntries(scenario.domains.map((d) => [d.name, minOf(d) * MiB])),
    intervalSeconds: scenario.intervalSeconds,
  };
}

/** The control loop's steps, for a controller outside the registry: observe, decide, act, record with the truth. */
export async function runBaseline(scenario: Scenario, controller: Baseline, options: BaselineOptions & { intervalSeconds: number }): Promise<TraceLine[]> {
  const run = createSimulatedHost(scenario, { seed: scenario.seed });
  const header: TraceHeader = {
    type: 'header',
    version: 1,
    target: `sim:${scenario.name}`,
    scenario: scenario.name,
    intervalSeconds: scenario.intervalSeconds,
    controllers: { memory: true },
    pcpus: scenario.host.pcpus,
    startedAt: new Date(0).toISOString(),
    options: { memory: options },
  };
  const lines: TraceLine[] = [header];
  let state = controller.initialState();
  let previous: HostObservation | undefined;
  const startMs = run.clock.nowMs();
  for (let interval = 0; interval < scenario.intervals; interval++) {
    const tickMs = run.clock.nowMs();
    const current = await run.hypervisor.observe();
    const input = { ...(previous && { previous }), current, intervalSeconds: scenario.intervalSeconds };
    const decision = controller.decide(controller.measure(input, state)!, state, options, input);
    state = decision.state;
    const entry: TraceInterval = { type: 'interval', interval, timeMs: tickMs - startMs, domains: current.domains.map((d) => d.name), actions: decision.actions, failures: [], notices: decision.notices };
    if (decision.trace) entry.memory = decision.trace;
    for (const action of decision.actions) await apply(run.hypervisor, action, entry);
    entry.truth = traceTruth(run.truth());
    lines.push(entry);
    previous = current;
    await run.clock.sleep(Math.max(0, scenario.intervalSeconds * 1000 - (run.clock.nowMs() - tickMs)));
  }
  return lines;
}

async function apply(host: ReturnType<typeof createSimulatedHost>['hypervisor'], action: Action, entry: TraceInterval): Promise<void> {
  try {
    if (action.kind === 'set-memory') await host.setMemory(action.domain, action.targetKiB);
    else if (action.kind === 'set-stats-period') await host.setMemoryStatsPeriod(action.domain, action.seconds);
  } catch (err) {
    entry.failures.push({ action, error: errorText(err) });
  }
}

export function figuresOf(lines: TraceLine[]): MemoryFigures {
  const m = scoreTrace(lines).memory!;
  return {
    oom: m.oom.total,
    starved: m.starvedIntervals,
    meetIntervals: m.growth.maxIntervals ?? 0,
    coldMiBSeconds: m.cache?.coldMiBSeconds ?? 0,
    refaultMiB: m.cache?.refaultMiB ?? 0,
    heldGiBSeconds: m.held?.gibSeconds ?? 0,
    peakHeldMiB: (m.held?.peakKiB ?? 0) / MiB,
    balloonMoves: lines.reduce((n, l) => n + (l.type === 'interval' ? l.actions.filter((a) => a.kind === 'set-memory').length : 0), 0),
  };
}

function ratio(ours: number, theirs: number): string {
  if (ours === 0 && theirs === 0) return '=';
  if (theirs === 0) return '∞';
  return (ours / theirs).toFixed(2);
}

function memoryScenarios(): Scenario[] {
  const only = process.env.VB_MEMORY_BENCH_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean);
  return readdirSync(shippedScenariosDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => loadScenario(join(shippedScenariosDir, f)))
    .filter((s) => s.controllers.includes('memory') && (!only || only.includes(s.name)));
}

function withReporting(scenario: Scenario): Scenario {
  return { ...scenario, domains: scenario.domains.map((d) => ({ ...d, freePageReporting: true })) };
}

/** Every guest booted at its maximum with free page reporting on: what KubeVirt does for every VM since v1.0. */
function atMaximumWithReporting(scenario: Scenario): Scenario {
  const s = withReporting(scenario);
  return { ...s, domains: s.domains.map((d) => ({ ...d, memoryMiB: d.maxMemoryMiB })) };
}

const BASELINES: { name: string; controller: Baseline; minOf: (d: Scenario['domains'][number]) => number; scenario?: (s: Scenario) => Scenario }[] = [
  // MOM's balloon minimum is the guest's guaranteed memory; the grader's lowest size stands in for it.
  { name: 'MOM', controller: momController, minOf: () => 200 },
  // Proxmox moves a guest between its configured minimum ("balloon") and its memory: the boot size here.
  { name: 'Proxmox', controller: proxmoxController, minOf: (d) => d.memoryMiB },
  // Concierge sets no minimum of its own; the floor every policy gets stands in for it.
  { name: 'ChromeOS LimitCache', controller: chromeosController, minOf: (d) => d.floorMiB ?? 200 },
  { name: 'nothing', controller: nothingController, minOf: (d) => d.memoryMiB },
  // No coordinator: the host takes back what guests free through free page reporting alone.
  { name: 'nothing at max + reporting', controller: nothingController, minOf: (d) => d.maxMemoryMiB, scenario: atMaximumWithReporting },
];

const COLUMNS: { key: keyof MemoryFigures; title: string; digits: number }[] = [
  { key: 'oom', title: 'OOM', digits: 0 },
  { key: 'starved', title: 'starved intervals', digits: 0 },
  { key: 'meetIntervals', title: 'growth met within (intervals)', digits: 0 },
  { key: 'coldMiBSeconds', title: 'cold cache held (MiB·s)', digits: 0 },
  { key: 'refaultMiB', title: 'refaults (MiB)', digits: 0 },
  { key: 'heldGiBSeconds', title: 'host memory held (GiB·s)', digits: 1 },
  { key: 'peakHeldMiB', title: 'host memory held, peak (MiB)', digits: 0 },
  { key: 'balloonMoves', title: 'balloon moves', digits: 0 },
];

export async function runMemoryBench(): Promise<void> {
  const rows: string[] = [];
  for (const scenario of memoryScenarios()) {
    const ours = figuresOf(await simulateScenario(scenario));
    // Ours on the same guests with reporting on (boot sizes as the scenario says), against the reporting baseline.
    const oursReporting = figuresOf(await simulateScenario(withReporting(scenario)));
    const theirs: MemoryFigures[] = [];
    let neededGiBSeconds: number | undefined;
    for (const b of BASELINES) {
      const played = b.scenario ? b.scenario(scenario) : scenario;
      const lines = await runBaseline(played, b.controller, baselineOptions(played, b.minOf));
      theirs.push(figuresOf(lines));
      // Nothing is taken from any guest in this run: its hot caches are whole (scoreNeededGiBSeconds).
      if (b.scenario === atMaximumWithReporting) neededGiBSeconds = scoreNeededGiBSeconds(lines.filter((l): l is TraceInterval => l.type === 'interval'));
    }
    for (const c of COLUMNS) {
      const cells = theirs.map((t, i) => `${BASELINES[i]!.name} ${t[c.key].toFixed(c.digits)} (${ratio(ours[c.key], t[c.key])})`);
      const reporting = theirs[BASELINES.findIndex((b) => b.scenario === atMaximumWithReporting)]!;
      cells.push(`${oursReporting[c.key].toFixed(c.digits)} (${ratio(oursReporting[c.key], reporting[c.key])})`);
      rows.push(`| ${scenario.name} | ${c.title} | ${ours[c.key].toFixed(c.digits)} | ${cells.join(' | ')} |`);
    }
    if (neededGiBSeconds) {
      const overNeeded = (f: MemoryFigures): string => (f.heldGiBSeconds / neededGiBSeconds!).toFixed(2);
      rows.push(`| ${scenario.name} | held / the least any policy could hold (${neededGiBSeconds.toFixed(1)} GiB·s) | ${overNeeded(ours)} | ${theirs.map((t, i) => `${BASELINES[i]!.name} ${overNeeded(t)}`).join(' | ')} | ${overNeeded(oursReporting)} |`);
    }
    log(`${scenario.name}: ours ${JSON.stringify(ours)}; ours + reporting ${JSON.stringify(oursReporting)}; ${theirs.map((t, i) => `${BASELINES[i]!.name} ${JSON.stringify(t)}`).join('; ')}`);
  }
  console.log('');
  console.log(`| scenario | figure | ours | ${BASELINES.map((b) => `${b.name} (ours / theirs)`).join(' | ')} | ours + reporting (/ nothing at max + reporting) |`);
  console.log(`| --- | --- | --- | ${BASELINES.map(() => '---').join(' | ')} | --- |`);
  for (const r of rows) console.log(r);
  console.log('');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  refuseArguments('memory', 'VB_MEMORY_BENCH_SCENARIOS');
  await runMemoryBench();
}
