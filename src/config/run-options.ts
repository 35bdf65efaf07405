import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/scheduler.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { UsageError } from '../cli/errors.js';
import { nonNegativeNumber, positiveNumber } from '../cli/options.js';
import type { RunConfig } from './config-file.js';

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
  'memory-floor'?: string;
  'memory-reserve'?: string;
}

export interface RunOptions {
  connect: string;
  intervalSeconds: number;
  cpu?: CpuSchedulerOptions;
  memory?: MemoryOptions;
  dryRun: boolean;
  restore: boolean;
  tracePath?: string;
}

export const DEFAULT_URI = 'qemu:///system';
export const DEFAULT_INTERVAL_SECONDS = 2;

export function resolveRunOptions(flags: RunFlags, config?: RunConfig): RunOptions {
  const chosen = flags.cpu || flags.memory ? { cpu: !!flags.cpu, memory: !!flags.memory } : (config?.controllers ?? { cpu: true, memory: true });
  const cpu = chosen.cpu ? { ...defaultCpuSchedulerOptions, ...config?.cpu } : undefined;
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
  if (flags['memory-floor'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-floor needs the memory coordinator');
    memory.floorMiB = nonNegativeNumber(flags['memory-floor'], '--memory-floor');
  }
  if (flags['memory-reserve'] !== undefined) {
    if (!memory) throw new UsageError('run: --memory-reserve needs the memory coordinator');
    memory.reserveMiB = nonNegativeNumber(flags['memory-reserve'], '--memory-reserve');
  }
  const tracePath = flags.trace ?? config?.trace;
  return {
    connect: flags.connect ?? config?.connect ?? DEFAULT_URI,
    intervalSeconds: flags.interval !== undefined ? positiveNumber(flags.interval, '--interval') : (config?.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS),
    ...(cpu ? { cpu } : {}),
    ...(memory ? { memory } : {}),
    dryRun: !!flags['dry-run'] || !!config?.dryRun,
    restore: !!flags.restore || !!config?.restore,
    ...(tracePath !== undefined ? { tracePath } : {}),
  };
}
