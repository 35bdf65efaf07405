import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/options.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { createSimulatedHost, type Scenario, type TruthInterval } from '../host/sim/index.js';
import { runControlLoop } from './loop.js';
import { controllersForTrace } from './controllers.js';
import type { TraceCacheTruth, TraceHeader, TraceLine, TraceMemoryDeviceTruth, TraceTruth } from '../ground/trace-record.js';

/** The memory coordinator's options for a scenario: its host reserve and per-guest floors. */
export function memoryOptionsFor(scenario: Scenario, base: MemoryOptions = defaultMemoryOptions): MemoryOptions {
  const floorsMiB: Record<string, number> = { ...base.floorsMiB };
  for (const d of scenario.domains) if (d.floorMiB !== undefined) floorsMiB[d.name] = d.floorMiB;
  return { ...base, reserveMiB: scenario.host.reserveMiB, floorsMiB };
}

/** The vCPU scheduler's options for a scenario: its dedicated guests (by name, or as `rename` calls them). */
export function cpuOptionsFor(scenario: Scenario, base: CpuSchedulerOptions = defaultCpuSchedulerOptions, rename: (name: string) => string = (n) => n): CpuSchedulerOptions {
  const dedicated = scenario.domains.filter((d) => d.dedicated).map((d) => rename(d.name));
  return { ...base, dedicated: [...(base.dedicated ?? []), ...dedicated] };
}

export interface SimulateOptions {
  seed?: number;
  intervals?: number;
  cpu?: CpuSchedulerOptions;
  memory?: MemoryOptions;
  noise?: { cpuSd?: number; usedSdMiB?: number };
}

/** Runs a scenario with the controllers it names, entirely in memory, and returns its trace. */
export async function simulateScenario(scenario: Scenario, options: SimulateOptions = {}): Promise<TraceLine[]> {
  const run = createSimulatedHost(scenario, { seed: options.seed, noise: options.noise });
  const cpu = scenario.controllers.includes('cpu') ? cpuOptionsFor(scenario, options.cpu) : undefined;
  const memory = scenario.controllers.includes('memory') ? memoryOptionsFor(scenario, options.memory) : undefined;
  const ran = controllersForTrace({ cpu, memory });
  const header: TraceHeader = {
    type: 'header',
    version: 1,
    target: `sim:${scenario.name}`,
    scenario: scenario.name,
    intervalSeconds: scenario.intervalSeconds,
    controllers: ran.controllers,
    pcpus: scenario.host.pcpus,
    startedAt: new Date(0).toISOString(),
    options: ran.options,
  };
  const lines: TraceLine[] = [header];
  await runControlLoop(
    run.hypervisor,
    run.clock,
    { intervalSeconds: scenario.intervalSeconds, cpu, memory, intervals: options.intervals ?? scenario.intervals, truth: () => traceTruth(run.truth()) },
    { record: (entry) => void lines.push(entry) },
  );
  return lines;
}

/** The simulator's ground truth in the trace's terms. */
export function traceTruth(t: TruthInterval): TraceTruth {
  const truth: TraceTruth = {
    vcpus: t.vcpus.map((v) => ({ domain: v.domain, vcpu: v.vcpu, demand: v.demand, received: v.received })),
    memoryDemandKiB: Object.fromEntries(t.domains.map((d) => [d.name, d.usedDemandMiB * 1024])),
    oomEvents: t.oomEvents.map((e) => ({ domain: e.domain, timeMs: e.timeNs / 1e6, demandKiB: e.demandMiB * 1024, actualKiB: e.actualMiB * 1024 })),
    ...(t.otherLoad ? { otherLoad: t.otherLoad } : {}),
  };
  const cache: Record<string, TraceCacheTruth> = {};
  for (const d of t.domains) {
    const c = d.cache;
    if (c.hotMiB + c.coldMiB + c.coldMiBSeconds + c.droppedMiB + c.diskReadMiB === 0) continue;
    cache[d.name] = {
      hotMiB: c.hotMiB,
      coldMiB: c.coldMiB,
      coldMiBSeconds: c.coldMiBSeconds,
      refaultMiB: c.refaultMiB,
      coordinatorRefaultMiB: c.coordinatorRefaultMiB,
      readStallSeconds: c.readStallSeconds,
    };
  }
  if (Object.keys(cache).length > 0) truth.cache = cache;
  const devices: Record<string, TraceMemoryDeviceTruth> = {};
  for (const d of t.domains) {
    const m = d.memoryDevice;
    if (m) devices[d.name] = { bootKiB: m.bootMiB * 1024, sizeKiB: m.sizeMiB * 1024, requestedKiB: m.requestedMiB * 1024, pluggedKiB: m.pluggedMiB * 1024, blockedUnplugs: m.blockedUnplugs };
  }
  if (Object.keys(devices).length > 0) truth.memoryDevices = devices;
  return truth;
}
