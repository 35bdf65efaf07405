export { scoreTrace, type Score, type ScoreOptions } from './score.js';
export { readTrace, parseTrace, splitTrace, TraceFormatError } from './read-trace.js';
export { formatScore } from './format.js';
export type { CpuScore, CpuFairness, CpuTrials, PinChange } from './cpu.js';
export type { MemoryScore, Episode, EpisodeSummary } from './memory.js';
export type { CacheScore, GuestCacheScore } from './cache.js';
