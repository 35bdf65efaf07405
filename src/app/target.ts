import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Clock, Hypervisor } from '../ground/hypervisor.js';
import { LibvirtHost } from '../host/libvirt-host.js';
import { realClock } from '../host/real-clock.js';
import { createSimulatedHost, loadScenario, type Scenario } from '../host/sim/index.js';
import type { TraceTruth } from '../ground/trace-record.js';
import { traceTruth } from '../control/simulate.js';
import { FatalError, UsageError } from '../ground/errors.js';

/** Where the controllers run: a libvirt daemon or a simulated host, with the clock that paces them. */
export interface Target {
  label: string;
  hypervisor: Hypervisor;
  clock: Clock;
  pcpus: number;
  scenario?: string;
  /** The scenario, on a simulated host. */
  scenarioSpec?: Scenario;
  truth?: () => TraceTruth | undefined;
  /** On a simulated host: intervals per real second when paced; undefined: as fast as it computes. */
  pace?: number;
}

export const shippedScenariosDir = fileURLToPath(new URL('../../../scenarios/', import.meta.url));

/**
 * The grader's cases carry less noise than real guests' usage readings show; each has a shipped
 * variant `<name>-noisy` with that noise and nothing else changed (docs/judge.md, "Noisy variants").
 */
export const NOISY_SUFFIX = '-noisy';

/** The shipped noisy variant of a shipped scenario, if there is one. */
export function noisyVariantOf(name: string): string | undefined {
  const variant = `${name}${NOISY_SUFFIX}`;
  return !name.endsWith(NOISY_SUFFIX) && existsSync(`${shippedScenariosDir}${variant}.yaml`) ? variant : undefined;
}

/** The shipped scenario a shipped noisy variant was made from, if `name` is one. */
export function noisyVariantBase(name: string): string | undefined {
  const base = name.slice(0, -NOISY_SUFFIX.length);
  return name.endsWith(NOISY_SUFFIX) && existsSync(`${shippedScenariosDir}${name}.yaml`) && existsSync(`${shippedScenariosDir}${base}.yaml`) ? base : undefined;
}

/** A scenario given as a path, or as the name of a shipped one (`cpu-2-all-on-pcpu0`). */
export function resolveScenarioPath(nameOrPath: string): string {
  if (existsSync(nameOrPath)) return nameOrPath;
  for (const candidate of [`${shippedScenariosDir}${nameOrPath}`, `${shippedScenariosDir}${nameOrPath}.yaml`]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new UsageError(`no scenario '${nameOrPath}' (neither a file nor a shipped scenario in ${shippedScenariosDir})`);
}

export async function openTarget(spec: { sim: string; seed?: number } | { uri: string }): Promise<Target> {
  if ('sim' in spec) {
    const scenario = loadScenario(resolveScenarioPath(spec.sim));
    const run = createSimulatedHost(scenario, { seed: spec.seed });
    return {
      label: `sim:${scenario.name}`,
      hypervisor: run.hypervisor,
      clock: run.clock,
      pcpus: scenario.host.pcpus,
      scenario: scenario.name,
      scenarioSpec: scenario,
      truth: () => traceTruth(run.truth()),
    };
  }
  let host: LibvirtHost;
  try {
    host = await LibvirtHost.connect(spec.uri);
  } catch (err) {
    throw new FatalError((err as Error).message.split('\n')[0] ?? String(err));
  }
  const node = await host.client.cachedNodeInfo();
  return { label: spec.uri, hypervisor: host, clock: realClock, pcpus: node.cpus };
}
