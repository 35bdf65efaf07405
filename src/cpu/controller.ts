import type { Controller } from '../ground/controller.js';
import type { TraceCpu } from '../ground/trace-record.js';
import { defaultCpuSchedulerOptions, validateCpuSchedulerOptions, type CpuSchedulerOptions } from './options.js';
import { decideCpu, initialCpuSchedulerState, type CpuSchedulerState } from './scheduler.js';
import { measureCpu, type CpuMeasurement } from './usage.js';

// The vCPU scheduler as a controller: it measures demand between two observations of one
// connection, so it decides from the second observation on.

export const cpuController: Controller<CpuSchedulerOptions, CpuSchedulerState, CpuMeasurement, TraceCpu> = {
  kind: 'cpu',
  title: 'vCPU scheduler',
  defaultOptions: () => ({ ...defaultCpuSchedulerOptions }),
  validateOptions: validateCpuSchedulerOptions,
  initialState: initialCpuSchedulerState,
  measure: ({ previous, current }) => (previous ? measureCpu(previous, current) : undefined),
  decide(m, state, options) {
    const decision = decideCpu(m, state, options);
    return { state: decision.state, actions: decision.actions, notices: [], trace: traceCpu(m, decision.balanced, decision.spreadPoints) };
  },
  forget(state, domainKey) {
    const prefix = `${domainKey}/`;
    const vcpus = Object.fromEntries(Object.entries(state.vcpus).filter(([key]) => !key.startsWith(prefix)));
    return { ...state, vcpus };
  },
  resynchronise(state) {
    // Demand history and out-of-balance streaks start over; only the counters carry on.
    const { intervals, pinChanges, lastActionInterval } = state;
    return { ...initialCpuSchedulerState(), intervals, pinChanges, lastActionInterval };
  },
};

function traceCpu(m: CpuMeasurement, balanced: boolean, spreadPoints: number): TraceCpu {
  return {
    elapsedNs: m.elapsedNs,
    pcpuUsage: m.pcpuUsage,
    pcpuDemand: m.pcpuDemand,
    ...(m.pcpuOther ? { pcpuOther: m.pcpuOther } : {}),
    vcpus: m.vcpus.map((v) => ({
      domain: v.domain.name,
      vcpu: v.vcpu,
      pcpu: v.pcpu,
      affinity: v.affinity,
      usage: v.usage,
      demand: v.demand,
      ...(v.weight !== undefined ? { weight: v.weight } : {}),
    })),
    balanced,
    spreadPoints,
  };
}
