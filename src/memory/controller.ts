import type { Controller } from '../ground/controller.js';
import type { HostObservation } from '../ground/hypervisor.js';
import type { TraceMemory } from '../ground/trace-record.js';
import { decideMemory, initialMemoryState, type MemoryState } from './coordinator.js';
import { defaultMemoryOptions, validateMemoryOptions, type MemoryOptions } from './options.js';
import { forgetGuests } from './state.js';

// The memory coordinator as a controller: it decides on every observation (its growth and noise
// estimates work from the guests' own statistics, not from the difference of two observations),
// and keeps its per-guest history across reconnections for domains with the same UUID.

export const memoryController: Controller<MemoryOptions, MemoryState, HostObservation, TraceMemory> = {
  kind: 'memory',
  title: 'memory coordinator',
  defaultOptions: () => ({ ...defaultMemoryOptions, floorsMiB: { ...defaultMemoryOptions.floorsMiB }, weights: { ...defaultMemoryOptions.weights } }),
  validateOptions: validateMemoryOptions,
  initialState: initialMemoryState,
  measure: ({ current }) => current,
  decide(observation, state, options, { intervalSeconds }) {
    const d = decideMemory(observation, state, options, intervalSeconds);
    return { state: d.state, actions: d.actions, notices: d.notices, trace: { guests: d.guests, hostFreeKiB: d.hostFreeKiB, reserveKiB: options.reserveMiB * 1024 } };
  },
  forget: (state, domainKey) => forgetGuests(state, (key) => key === domainKey),
  resynchronise: (state) => state,
};
