import type { Controller } from '../../src/ground/controller.js';
import type { HostObservation } from '../../src/ground/hypervisor.js';
import type { TraceMemory } from '../../src/ground/trace-record.js';
import { enableStats, initialBaselineState, traceMemory, type BaselineState } from './common.js';
import type { BaselineOptions } from './options.js';

// Doing nothing: every guest keeps the memory it booted with (statistics enabled, so the score can
// read the guests).
export const nothingController: Controller<BaselineOptions & { intervalSeconds: number }, BaselineState, HostObservation, TraceMemory> = {
  kind: 'memory',
  title: 'no balloon changes (baseline)',
  defaultOptions: () => ({ floorsKiB: {}, reserveKiB: 0, minKiB: {}, intervalSeconds: 2 }),
  validateOptions: () => {},
  initialState: initialBaselineState,
  measure: ({ current }) => current,
  decide(obs, state, options) {
    const next: BaselineState = { ...state, statsRequested: { ...state.statsRequested } };
    return { state: next, actions: enableStats(obs, next), notices: [], trace: traceMemory(obs, (n) => options.floorsKiB[n] ?? 200 * 1024, options.reserveKiB) };
  },
  forget: (state) => state,
  resynchronise: (state) => state,
};
