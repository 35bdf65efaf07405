import type { TraceLine } from '../ground/trace-record.js';
import { defaultCpuScoreOptions, scoreCpu, type CpuScore, type CpuScoreOptions } from './cpu.js';
import { defaultMemoryScoreOptions, scoreMemory, type MemoryScore, type MemoryScoreOptions } from './memory.js';
import { splitTrace } from './read-trace.js';

export type ScoreOptions = Partial<CpuScoreOptions & MemoryScoreOptions>;

export interface Score {
  trace: {
    target: string;
    scenario: string | undefined;
    intervalSeconds: number | undefined;
    pcpus: number | undefined;
    intervals: number;
    durationSeconds: number;
    /** Whether the trace carries the simulator's ground truth. */
    truth: boolean;
  };
  /** Present when the trace has CPU measurements. */
  cpu: CpuScore | undefined;
  /** Present when the trace has memory records. */
  memory: MemoryScore | undefined;
}

export function scoreTrace(lines: TraceLine[], options: ScoreOptions = {}): Score {
  const { header, intervals } = splitTrace(lines);
  const first = intervals[0];
  const last = intervals[intervals.length - 1];
  const cpuOptions: CpuScoreOptions = {
    balanceThresholdPoints: options.balanceThresholdPoints ?? defaultCpuScoreOptions.balanceThresholdPoints,
    equalDemandTolerance: options.equalDemandTolerance ?? defaultCpuScoreOptions.equalDemandTolerance,
  };
  const memoryOptions: MemoryScoreOptions = {
    starvationThresholdKiB: options.starvationThresholdKiB ?? defaultMemoryScoreOptions.starvationThresholdKiB,
    reclaimDropKiB: options.reclaimDropKiB ?? defaultMemoryScoreOptions.reclaimDropKiB,
    reclaimTolerance: options.reclaimTolerance ?? defaultMemoryScoreOptions.reclaimTolerance,
  };
  const cpu = scoreCpu(intervals, header?.pcpus, cpuOptions);
  const memory = scoreMemory(intervals, memoryOptions);
  return {
    trace: {
      target: header?.target ?? 'unknown',
      scenario: header?.scenario,
      intervalSeconds: header?.intervalSeconds,
      pcpus: header?.pcpus,
      intervals: intervals.length,
      durationSeconds: first && last ? (last.timeMs - first.timeMs) / 1000 + (header?.intervalSeconds ?? 0) : 0,
      truth: intervals.some((i) => i.truth !== undefined),
    },
    cpu: cpu.intervals > 0 ? cpu : undefined,
    memory: memory.intervals > 0 ? memory : undefined,
  };
}
