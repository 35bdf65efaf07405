import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defaultCpuSchedulerOptions, parseCpuObjective, type CpuSchedulerOptions } from '../cpu/options.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { UsageError } from '../ground/errors.js';
import { nonNegativeNumber, positiveNumber } from '../ground/numbers.js';
import type { RunConfig } from './config-file.js';
import { splitPatterns, type DomainScope } from '../ground/domain-scope.js';

// What `virtbalance run` runs with: built-in defaults, then the configuration file, then the
// command-line flags (each later one wins).

export interface RunFlags {
  cpu?: boolean;
  memory?: boolean;
  interval?: string;
  connect?: string;
  'dry-run'?: boolean;
  restore?: boolean;
  trace?: string;
  'cpu-margin'?: string;
  objective?: string;
  'memory-floor'?: string;
  'memory-reserve'?: string;
  only?: string[];
  exclude?: string[];
}

export interface RunOptions {
  connect: string;
  intervalSeconds: number;
  cpu?: CpuSchedulerOptions;
  memory?: MemoryOptions;
  /**
   * The configured CPU weights (`vms.NAME.cpuWeight`), by domain name. The vCPU scheduler keeps them
   * (its option `weights`, filled from these); a run without it does not.
   */
  cpuWeights?: Record<string, number>;
  /** Re-pin guests whose definition pins their vCPUs too (config `cpu.definitionPins: manage`); otherwise they keep their pins. */
  manageDefinitionPins?: boolean;
  dryRun: boolean;
  restore: boolean;
  tracePath?: string;
  /** The domains this run may see and act on. */
  scope: DomainScope;
}

export const DEFAULT_URI = 'qemu:///system';
export const DEFAULT_INTERVAL_SECONDS = 2;

export function resolveRunOptions(flags: RunFlags, config?: RunConfig): RunOptions {
  const chosen = flags.cpu || flags.memory ? { cpu: !!flags.cpu, memory: !!flags.memory } : (config?.controllers ?? { cpu: true, memory: true });
  const dedicated = Object.entries(config?.vms ?? {}).filter(([, vm]) => vm.dedicated).map(([name]) => name);
  const cpu = chosen.cpu ? { ...defaultCpuSchedulerOptions, ...config?.cpu, dedicated } : undefined;
  let memory: MemoryOptions | undefined;
  if (chosen.memory) {
    memory = { ...defaultMemoryOptions, ...config?.memory, floorsMiB: { ...defaultMemoryOptions.floorsMiB }, weights: { ...defaultMemoryOptions.weights } };
    for (const [name, vm] of Object.entries(config?.vms ?? {})) {
      if (vm.floorMiB !== undefined) memory.floorsMiB[name] = vm.floorMiB;
      if (vm.weight !== undefined) memory.weights[name] = vm.weight;
    }
  }
  if (flags['cpu-margin'] !== undefined) {
    if (!cpu) throw new UsageError('run: --cpu-margin needs the vCPU scheduler');
    cpu.marginPoints = nonNegativeNumber(flags['cpu-margin'], '--cpu-margin');
  }
  if (flags.objective !== undefined) {
    if (!cpu) throw new UsageError('run: --objective needs the vCPU scheduler');
    cpu.objective = parseCpuObjective(flags.objective, 'run: --objective');
  }
  if (flags['memory-floor'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-floor needs the memory coordinator');
    memory.floorMiB = nonNegativeNumber(flags['memory-floor'], '--memory-floor');
  }
  if (flags['memory-reserve'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-reserve needs the memory coordinator');
    memory.reserveMiB = nonNegativeNumber(flags['memory-reserve'], '--memory-reserve');
  }
  const tracePath = flags.trace ?? config?.trace;
  const cpuWeights = Object.fromEntries(Object.entries(config?.vms ?? {}).flatMap(([name, vm]) => (vm.cpuWeight !== undefined ? [[name, vm.cpuWeight]] : [])));
  if (cpu && Object.keys(cpuWeights).length > 0) cpu.weights = cpuWeights;
  const scope = resolveScope(flags, config);
  return {
    connect: flags.connect ?? config?.connect ?? DEFAULT_URI,
    intervalSeconds: flags.interval !== undefined ? positiveNumber(flags.interval, '--interval') : (config?.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS),
    ...(cpu ? { cpu } : {}),
    ...(memory ? { memory } : {}),
    dryRun: !!flags['dry-run'] || !!config?.dryRun,
    restore: !!flags.restore || !!config?.restore,
    ...(tracePath !== undefined ? { tracePath } : {}),
    ...(Object.keys(cpuWeights).length > 0 ? { cpuWeights } : {}),
    ...(cpu && config?.definitionPins === 'manage' ? { manageDefinitionPins: true } : {}),
    scope,
  };
}

/** `--only`/`--exclude` replace the file's `only`/`exclude`; `vms.NAME.manage: false` always holds. */
export function resolveScope(flags: Pick<RunFlags, 'only' | 'exclude'>, config?: RunConfig): DomainScope {
  const only = flags.only !== undefined ? splitPatterns(flags.only) : (config?.only ?? []);
  const exclude = flags.exclude !== undefined ? splitPatterns(flags.exclude) : (config?.exclude ?? []);
  if (flags.only !== undefined && only.length === 0) throw new UsageError('--only: give a domain name, glob or UUID');
  if (flags.exclude !== undefined && exclude.length === 0) throw new UsageError('--exclude: give a domain name, glob or UUID');
  const unmanaged = Object.entries(config?.vms ?? {}).filter(([, vm]) => vm.manage === false).map(([name]) => name);
  return { only, exclude, unmanaged };
}

/**
 * Checks a trace path before anything starts, and creates its missing directories one level at a
 * time (a recursive mkdir under /proc never returns on Node 20). Bad paths are one line, exit 2.
 */
export function prepareTracePath(path: string, flag = `--trace ${path}`): void {
  const target = resolve(path);
  try {
    if (statSync(target).isDirectory()) throw new UsageError(`${flag}: is a directory`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
  const missing: string[] = [];
  let dir = dirname(target);
  while (!existsSync(dir)) {
    missing.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      throw new UsageError(`${flag}: cannot create directory ${d}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    accessSync(dirname(target), constants.W_OK);
    if (existsSync(target)) accessSync(target, constants.W_OK);
  } catch (err) {
    throw new UsageError(`${flag}: not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
