import type { Controller } from '../ground/controller.js';
import type { TraceCpu } from '../ground/trace-record.js';
import { defaultCpuSchedulerOptions, validateCpuSchedulerOptions, type CpuSchedulerOptions } from './options.js';
import { decideCpu, initialCpuSchedulerState, type CpuSchedulerState } from './scheduler.js';
import { measureCpu, vcpuKey, type CpuMeasurement } from './usage.js';
import { PreviousByKey } from './vcpu-lists.js';

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
    return { state: decision.state, actions: decision.actions, notices: decision.notices ?? [], trace: { ...traceCpu(m, decision.balanced, decision.spreadPoints, state.predicted && new PreviousByKey(state.vcpuKeys, state.predicted)), ...traceDedicated(decision.state) } };
  },
  forget(state, domainKey) {
    const prefix = `${domainKey}/`;
    const kept = state.vcpuKeys.map((key) => !key.startsWith(prefix));
    const vcpuKeys = state.vcpuKeys.filter((_, j) => kept[j]);
    const vcpus = state.vcpus.filter((_, j) => kept[j]);
    const dedicated = state.dedicated && Object.fromEntries(Object.entries(state.dedicated).filter(([key]) => key !== domainKey));
    const predicted = state.predicted?.filter((_, j) => kept[j]);
    return { ...state, vcpuKeys, vcpus, ...(dedicated ? { dedicated } : {}), ...(predicted ? { predicted } : {}) };
  },
  resynchronise(state) {
    // Demand history and out-of-balance streaks start over; the counters and dedicated pCPUs (still pinned on the host) carry on.
    const { intervals, pinChanges, lastActionInterval, dedicated } = state;
    return { ...initialCpuSchedulerState(), intervals, pinChanges, lastActionInterval, ...(dedicated ? { dedicated } : {}) };
  },
};

/** Who holds dedicated pCPUs after the decision, and whose request cannot be met (absent when no domain is dedicated). */
function traceDedicated(state: CpuSchedulerState): Pick<TraceCpu, 'dedicated' | 'dedicatedRefused'> {
  const guests = Object.values(state.dedicated ?? {});
  if (guests.length === 0) return {};
  return {
    dedicated: guests.filter((g) => g.pcpus).map((g) => ({ domain: g.name, pcpus: [...g.pcpus!] })),
    dedicatedRefused: guests.filter((g) => g.refused && !g.pcpus).map((g) => g.name),
  };
}

/**
 * The interval's measurement for the trace, each vCPU with the share the model predicted for it last
 * interval (`predicted`) beside what it received (`usage`); `predictionError` is their mean
 * absolute difference over the vCPUs that had a prediction.
 */
function traceCpu(m: CpuMeasurement, balanced: boolean, spreadPoints: number, predicted?: PreviousByKey<number>): TraceCpu {
  let errorSum = 0;
  let predictedCount = 0;
  const predictionOf = (v: CpuMeasurement['vcpus'][number], i: number): number | undefined => {
    const p = predicted?.get(vcpuKey(v.domain, v.vcpu), i);
    if (p !== undefined) {
      errorSum += Math.abs(v.usage - p);
      predictedCount++;
    }
    return p;
  };
  const vcpus = m.vcpus.map((v, i) => {
    const p = predictionOf(v, i);
    return {
      domain: v.domain.name,
      vcpu: v.vcpu,
      pcpu: v.pcpu,
      affinity: v.affinity,
      usage: v.usage,
      demand: v.demand,
      ...(v.weight !== undefined ? { weight: v.weight } : {}),
      ...(p !== undefined ? { predicted: p } : {}),
    };
  });
  return {
    elapsedNs: m.elapsedNs,
    pcpuUsage: m.pcpuUsage,
    pcpuDemand: m.pcpuDemand,
    ...(m.pcpuOther ? { pcpuOther: m.pcpuOther } : {}),
    vcpus,
    ...(predictedCount > 0 ? { predictionError: errorSum / predictedCount } : {}),
    balanced,
    spreadPoints,
  };
}
