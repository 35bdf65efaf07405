// One mix under every policy the random-mix bench (issue #17) compares, judged by one metric
// (src/score/mix-metric.ts):
//   host    the host's scheduler alone: no controller, every vCPU unpinned;
//   dropin  the assignment's drop-in `vcpu_scheduler` (objective balance, other load not counted);
//   ours    `run --cpu` (objective fairness, default options);
//   oracle  the best static placement found by search (src/control/oracle.ts), small mixes only.
// Each controller starts from the mix's own initial placement; the simulator is the same for all.

import { performance } from 'node:perf_hooks';
import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/options.js';
import type { Scenario } from '../host/sim/scenario.js';
import { mixMetric, type MixMetric } from '../score/mix-metric.js';
import { bestStaticPlacement, type OracleOptions, type OracleResult } from './oracle.js';
import { simulateScenario } from './simulate.js';

/** The drop-in's options, as `vcpu_scheduler <interval>` runs it (src/cli/run.ts assignmentCommand). */
export const dropInCpuOptions: CpuSchedulerOptions = { ...defaultCpuSchedulerOptions, countOtherLoad: false, objective: 'balance' };
/** Ours, as `run --cpu` runs it: the default options (objective fairness). */
export const oursCpuOptions: CpuSchedulerOptions = { ...defaultCpuSchedulerOptions };

export type MixPolicy = 'host' | 'dropin' | 'ours';

export interface MixComparison {
  name: string;
  host: MixMetric;
  dropin: MixMetric;
  ours: MixMetric;
  /** Absent for mixes beyond the oracle's reach (or when not asked). */
  oracle?: OracleResult;
  /** Wall time per policy, ms. */
  ms: Record<MixPolicy | 'oracle', number>;
}

export interface CompareOptions {
  /** Run the oracle (when the mix is within its reach): true, false, or its options. Default true. */
  oracle?: boolean | OracleOptions;
  /** Only these policies (default all three). */
  policies?: MixPolicy[];
}

/** One policy's run of the mix, judged by the metric. */
export async function runPolicy(scenario: Scenario, policy: MixPolicy): Promise<MixMetric> {
  let lines;
  if (policy === 'host') {
    const alone: Scenario = { ...scenario, controllers: [], domains: scenario.domains.map((d) => ({ ...d, pin: d.pin.map(() => null) })) };
    lines = await simulateScenario(alone);
  } else {
    lines = await simulateScenario({ ...scenario, controllers: ['cpu'] }, { cpu: policy === 'dropin' ? dropInCpuOptions : oursCpuOptions });
  }
  return mixMetric(lines, scenario);
}

const ORACLE_PCPUS = 4;
const ORACLE_VCPUS = 8;

/** Whether the oracle can search this mix. */
export function withinOracle(scenario: Scenario): boolean {
  return scenario.host.pcpus <= ORACLE_PCPUS && scenario.domains.reduce((a, d) => a + d.cpu.length, 0) <= ORACLE_VCPUS;
}

export async function compareMix(scenario: Scenario, options: CompareOptions = {}): Promise<MixComparison> {
  const ms = { host: 0, dropin: 0, ours: 0, oracle: 0 };
  const metrics: Partial<Record<MixPolicy, MixMetric>> = {};
  for (const policy of options.policies ?? (['host', 'dropin', 'ours'] as const)) {
    const t0 = performance.now();
    metrics[policy] = await runPolicy(scenario, policy);
    ms[policy] = performance.now() - t0;
  }
  const result: MixComparison = { name: scenario.name, host: metrics.host!, dropin: metrics.dropin!, ours: metrics.ours!, ms };
  const oracle = options.oracle ?? true;
  if (oracle !== false && withinOracle(scenario)) {
    const t0 = performance.now();
    result.oracle = bestStaticPlacement(scenario, oracle === true ? {} : oracle);
    ms.oracle = performance.now() - t0;
  }
  return result;
}
