// Placement benchmark: how long one scheduling decision takes on a big host, and how close the
// chosen placement comes to the best one.
//   speed    decideCpu on 1,000 domains × 4 vCPUs over 256 pCPUs, randomly pinned and balanced: median / p95 ms,
//            pin changes beside what the one-pCPU placement alone would change;
//   loop     the whole control loop per interval at that size on the simulated host (its physics excluded);
//   small    exact optimum by exhaustive search (≤ 9 vCPUs, ≤ 4 pCPUs): spread excess and makespan ratio;
//   large    1,000 × 4 on 256: makespan against the lower bound max(largest demand, total / pCPUs).
// Run alone with `node dist/bench/placement.js`; VB_BENCH_ROUNDS scales the number of runs.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { decideCpu } from '../src/cpu/decide.js';
import { initialCpuSchedulerState } from '../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions } from '../src/cpu/options.js';
import { makespanLowerBound, planPlacement, spreadOf, type PlacementItem } from '../src/cpu/placement.js';
import { pcpuDemandOf, pcpuUsageOf, type CpuMeasurement, type VcpuLoad } from '../src/cpu/usage.js';
import { seededRandom as seeded, uuidFromName } from '../src/host/sim/random.js';
import { createSimulatedHost } from '../src/host/sim/index.js';
import type { DomainSpec, Scenario } from '../src/host/sim/scenario.js';
import type { Clock } from '../src/ground/hypervisor.js';
import { runControlLoop } from '../src/control/loop.js';
import { refuseArguments } from './no-arguments.js';

const ROUNDS = Math.max(1, Number(process.env.VB_BENCH_ROUNDS ?? 3));

function log(s: string): void {
  console.log(`[bench placement] ${s}`);
}

/** A mixed population: a third nearly idle, a third medium, a third busy. */
function randomDemand(random: () => number): number {
  const kind = random();
  if (kind < 0.3) return random() * 0.05;
  if (kind < 0.7) return 0.1 + random() * 0.5;
  return 0.8 + random() * 0.2;
}

/** CPU time (user + system) of this process since `since`, ms. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

/** The 1-minute load average: on a shared machine wall time also counts waiting for a core, so every figure says how busy it was. */
function load(): string {
  return `load average ${loadavg()[0]!.toFixed(1)}`;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function bigHost(seed: number, domains: number, vcpusEach: number, pcpus: number): CpuMeasurement {
  const random = seeded(seed);
  const vcpus: VcpuLoad[] = [];
  for (let d = 0; d < domains; d++) {
    for (let v = 0; v < vcpusEach; v++) {
      const demand = randomDemand(random);
      const pcpu = Math.floor(random() * pcpus);
      vcpus.push({ domain: { name: `vm${d}`, uuid: `uuid-${d}` }, vcpu: v, affinity: [pcpu], pcpu, usage: demand / 2, demand });
    }
  }
  return { elapsedNs: 1e9, pcpus, vcpus, pcpuUsage: pcpuUsageOf(vcpus, pcpus), pcpuDemand: pcpuDemandOf(vcpus, pcpus) };
}

export async function benchSpeed(): Promise<void> {
  const runs = 10 * ROUNDS;
  log(`speed: decideCpu, 1,000 domains × 4 vCPUs on 256 pCPUs, randomly pinned, ${runs} runs (+2 warm-up)`);
  const options = { ...defaultCpuSchedulerOptions, persistIntervals: 1 };
  const times: number[] = [];
  // CPU time of this process beside wall time: on a shared machine the wall clock also counts waiting for a core.
  const cpuTimes: number[] = [];
  let actions = 0;
  let placementChanges = 0;
  for (let r = 0; r < runs + 2; r++) {
    const m = bigHost(1000 + r, 1000, 4, 256);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const decision = decideCpu(m, initialCpuSchedulerState(), options);
    const ms = performance.now() - t0;
    if (r >= 2) {
      times.push(ms);
      cpuTimes.push(cpuMs(c0));
      actions += decision.actions.length;
      // What one-pCPU pins alone would change (the decision may share pCPU sets or release instead).
      const items: PlacementItem[] = m.vcpus.map((v) => ({ demand: v.demand, home: v.affinity[0], pinned: true }));
      placementChanges += planPlacement(items, 256, options.tolerancePoints / 100).best.changes;
    }
    if ((r + 1) % 5 === 0) log(`  ${r + 1}/${runs + 2} runs, last ${ms.toFixed(1)} ms, ${decision.actions.length} pin changes by ${decision.strategy}, spread ${decision.before.spreadPoints.toFixed(0)} → ${decision.after.spreadPoints.toFixed(1)} pts`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  log(
    `speed: re-pinning host: median ${quantile(times, 0.5).toFixed(1)} ms, p95 ${quantile(times, 0.95).toFixed(1)} ms per decision ` +
      `(CPU time median ${quantile(cpuTimes, 0.5).toFixed(1)} ms, min ${quantile(cpuTimes, 0).toFixed(1)} ms); ` +
      `${(actions / runs).toFixed(0)} of 4,000 vCPUs re-pinned on average (one-pCPU placement alone: ${(placementChanges / runs).toFixed(0)}); ${load()}`,
  );

  // A balanced host of the same size: 15–16 vCPUs of 0.5 on every pCPU (no placement gains more than 50 points, so nothing moves).
  const balanced = bigHost(7, 1000, 4, 256);
  const flat = balanced.vcpus.map((v, i) => ({ ...v, demand: 0.5, affinity: [i % 256], pcpu: i % 256 }));
  const m: CpuMeasurement = { ...balanced, vcpus: flat, pcpuUsage: pcpuUsageOf(flat, 256), pcpuDemand: pcpuDemandOf(flat, 256) };
  const balancedTimes: number[] = [];
  let balancedActions = 0;
  const balancedCpu: number[] = [];
  for (let r = 0; r < runs + 2; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const d = decideCpu(m, initialCpuSchedulerState(), options);
    const ms = performance.now() - t0;
    if (r >= 2) {
      balancedTimes.push(ms);
      balancedCpu.push(cpuMs(c0));
      balancedActions += d.actions.length;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  balancedTimes.sort((a, b) => a - b);
  balancedCpu.sort((a, b) => a - b);
  log(
    `speed: balanced host of the same size: median ${quantile(balancedTimes, 0.5).toFixed(1)} ms, p95 ${quantile(balancedTimes, 0.95).toFixed(1)} ms per decision ` +
      `(CPU time median ${quantile(balancedCpu, 0.5).toFixed(1)} ms, min ${quantile(balancedCpu, 0).toFixed(1)} ms), ${balancedActions} pin changes in ${runs} runs; ${load()}`,
  );
}

/** A scenario of `domains` guests × `vcpusEach` constant-demand vCPUs, randomly pinned, CPU controller only. */
function bigScenario(seed: number, domains: number, vcpusEach: number, pcpus: number): Scenario {
  const random = seeded(seed);
  const specs: DomainSpec[] = Array.from({ length: domains }, (_, d) => {
    const name = `vm${d}`;
    return {
      name,
      uuid: uuidFromName(name),
      vcpus: vcpusEach,
      memoryMiB: 512,
      maxMemoryMiB: 512,
      pin: Array.from({ length: vcpusEach }, () => [Math.floor(random() * pcpus)]),
      startSeconds: 0,
      stopSeconds: null,
      statsPeriod: 0,
      statsStopSeconds: null,
      balloon: false,
      weight: 1,
      cpu: Array.from({ length: vcpusEach }, () => ({ kind: 'constant' as const, value: randomDemand(random), noise: { sd: 0.02, everySeconds: 1 } })),
      usedMiB: { kind: 'constant' as const, value: 200 },
      cachesMiB: 0,
      reads: [],
    };
  });
  return {
    name: 'bench-big',
    description: 'built in code for the placement bench',
    source: 'bench-big',
    controllers: ['cpu'],
    intervalSeconds: 1,
    intervals: 20,
    seed,
    stepMs: 1000,
    host: { hostname: 'bench', pcpus, memoryMiB: domains * 1024, overheadMiB: 0, reserveMiB: 0, balloonRateMiBps: 400, diskReadMiBps: 200 },
    domains: specs,
  };
}

/** The whole control loop (observe, measure, decide, apply, record) on the simulated host, without the simulator's own physics. */
export async function benchLoop(): Promise<void> {
  const intervals = 10 * ROUNDS;
  log(`loop: control loop on a simulated host, 1,000 domains × 4 vCPUs on 256 pCPUs, randomly pinned, ${intervals} intervals`);
  const run = createSimulatedHost(bigScenario(3, 1000, 4, 256));
  let simMs = 0;
  const clock: Clock = {
    nowMs: () => run.clock.nowMs(),
    sleep: async (ms) => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await run.clock.sleep(ms);
      simMs += performance.now() - t0;
      simCpuMs += cpuMs(c0);
    },
  };
  const observe = run.hypervisor.observe.bind(run.hypervisor);
  let observeMs = 0;
  run.hypervisor.observe = async () => {
    const t0 = performance.now();
    const observation = await observe();
    observeMs += performance.now() - t0;
    return observation;
  };
  const perInterval: number[] = [];
  const perIntervalCpu: number[] = [];
  let lastCpu = process.cpuUsage();
  let simCpuMs = 0;
  const observeTimes: number[] = [];
  let lastObserve = 0;
  const pins: number[] = [];
  let last = performance.now();
  let lastSim = 0;
  let lastSimCpu = 0;
  await runControlLoop(run.hypervisor, clock, { intervalSeconds: 1, cpu: { ...defaultCpuSchedulerOptions }, intervals }, {
    record: (entry) => {
      const now = performance.now();
      // The first interval only observes; the simulator's sleep between intervals is not the loop's cost.
      if (entry.interval > 0) {
        perInterval.push(now - last - (simMs - lastSim));
        perIntervalCpu.push(cpuMs(lastCpu) - (simCpuMs - lastSimCpu));
        observeTimes.push(observeMs - lastObserve);
      }
      lastObserve = observeMs;
      pins.push(entry.actions.length);
      last = now;
      lastSim = simMs;
      lastCpu = process.cpuUsage();
      lastSimCpu = simCpuMs;
    },
  });
  const sorted = [...perInterval].sort((a, b) => a - b);
  const observeSorted = [...observeTimes].sort((a, b) => a - b);
  const cpuSorted = [...perIntervalCpu].sort((a, b) => a - b);
  log(
    `loop: median ${quantile(sorted, 0.5).toFixed(1)} ms, p95 ${quantile(sorted, 0.95).toFixed(1)} ms per interval (observe + measure + decide + apply + record; ` +
      `simulated physics excluded; CPU time median ${quantile(cpuSorted, 0.5).toFixed(1)} ms), of which the simulator's observe ${quantile(observeSorted, 0.5).toFixed(1)} ms median; ` +
      `pin changes per interval: ${pins.join(' ')}; ${load()}`,
  );
}

/** Exact minimum spread and minimum makespan by exhaustive search (vCPU 0 fixed on pCPU 0 by symmetry). */
function exact(demands: readonly number[], pcpus: number): { spread: number; makespan: number } {
  const loads = new Array<number>(pcpus).fill(0);
  let spread = Infinity;
  let makespan = Infinity;
  const visit = (i: number, used: number): void => {
    if (i === demands.length) {
      spread = Math.min(spread, spreadOf(loads));
      makespan = Math.min(makespan, Math.max(...loads));
      return;
    }
    // pCPUs beyond the first unused one are interchangeable: try only one of them.
    const limit = Math.min(pcpus, used + 1);
    for (let p = 0; p < limit; p++) {
      loads[p]! += demands[i]!;
      visit(i + 1, Math.max(used, p + 1));
      loads[p]! -= demands[i]!;
    }
  };
  visit(0, 0);
  return { spread, makespan };
}

async function benchSmall(): Promise<void> {
  const instances = 100 * ROUNDS;
  log(`small: ${instances} random instances (4–9 vCPUs, 2–4 pCPUs), exact optimum by exhaustive search`);
  const random = seeded(42);
  let optimal = 0;
  let excessSum = 0;
  let excessMax = 0;
  let ratioSum = 0;
  let ratioMax = 1;
  for (let k = 0; k < instances; k++) {
    const pcpus = 2 + Math.floor(random() * 3);
    const n = 4 + Math.floor(random() * 6);
    const items: PlacementItem[] = Array.from({ length: n }, () => ({ demand: randomDemand(random), home: Math.floor(random() * pcpus), pinned: true }));
    const best = exact(items.map((i) => i.demand), pcpus);
    const plan = planPlacement(items, pcpus, defaultCpuSchedulerOptions.tolerancePoints / 100).best;
    const excess = (plan.spread - best.spread) * 100;
    const ratio = best.makespan > 0 ? Math.max(...plan.loads) / best.makespan : 1;
    if (excess < 1e-6) optimal++;
    excessSum += excess;
    excessMax = Math.max(excessMax, excess);
    ratioSum += ratio;
    ratioMax = Math.max(ratioMax, ratio);
    if ((k + 1) % 100 === 0) log(`  ${k + 1}/${instances} instances`);
    if ((k + 1) % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  log(`small: optimal spread in ${((100 * optimal) / instances).toFixed(0)} %; spread above optimum mean ${(excessSum / instances).toFixed(2)} pts, max ${excessMax.toFixed(2)} pts ` +
    `(tolerance ${defaultCpuSchedulerOptions.tolerancePoints} pts trades spread for fewer moves)`);
  log(`small: busiest pCPU / optimum: mean ${(ratioSum / instances).toFixed(4)}, max ${ratioMax.toFixed(4)}`);
}

async function benchLarge(): Promise<void> {
  const runs = 3 * ROUNDS;
  log(`large: ${runs} instances of 1,000 × 4 vCPUs on 256 pCPUs against the makespan lower bound`);
  let ratioMax = 1;
  let spreadMax = 0;
  let changes = 0;
  for (let r = 0; r < runs; r++) {
    const m = bigHost(5000 + r, 1000, 4, 256);
    const items: PlacementItem[] = m.vcpus.map((v) => ({ demand: v.demand, home: v.affinity[0], pinned: true }));
    const plan = planPlacement(items, 256, defaultCpuSchedulerOptions.tolerancePoints / 100).best;
    const bound = makespanLowerBound(items.map((i) => i.demand), 256);
    const ratio = Math.max(...plan.loads) / bound;
    ratioMax = Math.max(ratioMax, ratio);
    spreadMax = Math.max(spreadMax, plan.spread * 100);
    changes += plan.changes;
    log(`  ${r + 1}/${runs}: busiest/bound ${ratio.toFixed(4)}, spread ${(spreadOf(m.pcpuDemand) * 100).toFixed(0)} → ${(plan.spread * 100).toFixed(2)} pts, ${plan.changes} pin changes by ${plan.strategy}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  log(`large: busiest pCPU / lower bound: max ${ratioMax.toFixed(4)}; spread max ${spreadMax.toFixed(2)} pts; ${(changes / runs).toFixed(0)} pin changes on average`);
}

export async function runPlacementBench(): Promise<void> {
  log('start');
  await benchSpeed();
  await benchLoop();
  await benchSmall();
  await benchLarge();
  log('done');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  refuseArguments('placement');
  await runPlacementBench();
}
