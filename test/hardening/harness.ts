// Shared by the hardening tests: run the control loop on a (wrapped) simulated host and collect
// what it recorded and what it told the operator.
import { join } from 'node:path';
import { runControlLoop, type LoopOptions } from '../../src/control/loop.js';
import { memoryOptionsFor } from '../../src/control/simulate.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { createSimulatedHost, loadScenario, type Scenario, type SimOptions, type SimulatedRun } from '../../src/host/sim/index.js';
import type { DomainSpec } from '../../src/host/sim/scenario.js';
import { uuidFromName } from '../../src/host/sim/random.js';
import type { Hypervisor } from '../../src/ground/hypervisor.js';
import type { TruthInterval } from '../../src/host/sim/truth.js';
import { shippedScenariosDir } from '../../src/app/target.js';
import { FaultyHost, seededRandom, type FaultRates } from './faulty-host.js';

export function shipped(name: string): Scenario {
  return loadScenario(join(shippedScenariosDir, `${name}.yaml`));
}

export interface LoopRun {
  entries: TraceInterval[];
  logs: string[];
  truths: TruthInterval[];
  sim: SimulatedRun;
}

export interface HarnessOptions {
  seed?: number;
  noise?: SimOptions['noise'];
  intervals?: number;
  /** Wraps the simulated host (e.g. in a FaultyHost). */
  wrap?: (sim: SimulatedRun) => Hypervisor;
  /** Called before each interval's observation with its number (after the previous one was recorded). */
  beforeInterval?: (interval: number) => void;
  loop?: Partial<LoopOptions>;
  keepTruth?: boolean;
}

/** Runs the scenario's controllers through the real control loop; nothing is mocked but the host. */
export async function runScenario(scenario: Scenario, options: HarnessOptions = {}): Promise<LoopRun> {
  const sim = createSimulatedHost(scenario, { seed: options.seed, noise: options.noise });
  const hypervisor = options.wrap ? options.wrap(sim) : sim.hypervisor;
  const entries: TraceInterval[] = [];
  const logs: string[] = [];
  const truths: TruthInterval[] = [];
  const cpu = scenario.controllers.includes('cpu') ? { ...defaultCpuSchedulerOptions } : undefined;
  const memory = scenario.controllers.includes('memory') ? memoryOptionsFor(scenario) : undefined;
  options.beforeInterval?.(0);
  await runControlLoop(
    hypervisor,
    sim.clock,
    { intervalSeconds: scenario.intervalSeconds, cpu, memory, intervals: options.intervals ?? scenario.intervals, ...options.loop },
    {
      record: (entry) => {
        entries.push(entry);
        const truth = sim.truth();
        if (options.keepTruth !== false) truths.push(truth);
        options.beforeInterval?.(entry.interval + 1);
      },
      log: (message) => void logs.push(message),
    },
  );
  return { entries, logs, truths, sim };
}

export function faulty(rates: FaultRates, seed: number): (sim: SimulatedRun) => FaultyHost {
  return (sim) => new FaultyHost(sim.hypervisor, rates, seededRandom(seed), (ms) => sim.hypervisor.advance(ms));
}

/**
 * A large host built in code: `domains` guests with one or two vCPUs, mixed CPU and memory
 * workloads (constant, on/off, ramps, noise), balloons with statistics, on `pcpus` pCPUs.
 */
export function largeScenario(domains: number, pcpus: number, seed = 7): Scenario {
  const random = seededRandom(seed);
  const specs: DomainSpec[] = [];
  let memoryMiB = 0;
  for (let i = 0; i < domains; i++) {
    const name = `g${String(i).padStart(4, '0')}`;
    const vcpus = random() < 0.2 ? 2 : 1;
    const base = 0.05 + random() * 0.5;
    const cpu = random() < 0.3
      ? { kind: 'onOff' as const, periodSeconds: 60 + Math.floor(random() * 240), onSeconds: 30, on: Math.min(1, base + 0.4), off: 0.05, phaseSeconds: Math.floor(random() * 60), noise: { sd: 0.05, everySeconds: 1 } }
      : { kind: 'constant' as const, value: base, noise: { sd: 0.05, everySeconds: 1 } };
    const startMiB = 512 + 256 * Math.floor(random() * 4);
    const usedBase = 100 + Math.floor(random() * 200);
    const usedMiB = random() < 0.25
      ? { kind: 'ramp' as const, points: [[0, usedBase], [300 + random() * 2000, usedBase + 600], [4000, usedBase]] as Array<[number, number]>, noise: { sd: 5, everySeconds: 5 } }
      : { kind: 'constant' as const, value: usedBase, noise: { sd: 5, everySeconds: 5 } };
    memoryMiB += startMiB;
    specs.push({
      name,
      uuid: uuidFromName(name),
      vcpus,
      memoryMiB: startMiB,
      maxMemoryMiB: 2048,
      floorMiB: 200,
      // Pinned from the start: the simulator shares pinned vCPUs per pCPU (fast); unpinned ones over 64 pCPUs need its general max-flow solver.
      pin: Array.from({ length: vcpus }, () => [Math.floor(random() * pcpus)]),
      startSeconds: 0,
      stopSeconds: null,
      statsPeriod: 1,
      statsStopSeconds: null,
      balloon: true,
      weight: 1,
      cpu: Array.from({ length: vcpus }, () => cpu),
      usedMiB,
      cachesMiB: 30,
      reads: [],
    });
  }
  return {
    name: `large-${domains}`,
    description: 'built in code for the soak test',
    source: `large-${domains}`,
    controllers: ['cpu', 'memory'],
    intervalSeconds: 2,
    intervals: 10_000,
    seed,
    stepMs: 2000,
    host: { hostname: 'soak', pcpus, memoryMiB: memoryMiB + 100 * 1024, overheadMiB: 4096, reserveMiB: 2048, balloonRateMiBps: 400, diskReadMiBps: 200 },
    domains: specs,
  };
}
