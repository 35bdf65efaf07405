import type { Controller } from '../ground/controller.js';
import type { TraceCpu } from '../ground/trace-record.js';
import { defaultCpuSchedulerOptions, validateCpuSchedulerOptions, type CpuSchedulerOptions } from './options.js';
import { decideCpu, initialCpuSchedulerState, type CpuSchedulerState, type PredictedShares } from './scheduler.js';
import { measureCpu, vcpuKey, type CpuMeasurement } from './usage.js';
import type { LearnedSharing } from './learned-sharing.js';
import { PreviousByKey } from './vcpu-lists.js';
import { initialTrialState } from './trials.js';
import { shortWindowSummary } from './window.js';

// The vCPU scheduler as a controller: it measures demand between two observations of one
// connection, so it decides from the second observation on.

export const cpuController: Controller<CpuSchedulerOptions, CpuSchedulerState, CpuMeasurement, TraceCpu> = {
  kind: 'cpu',
  title: 'vCPU scheduler',
  defaultOptions: () => ({ ...defaultCpuSchedulerOptions }),
  validateOptions: validateCpuSchedulerOptions,
  initialState: initialCpuSchedulerState,
  measure: ({ previous, current }) => (previous ? measureCpu(previous, current) : undefined),
  decide(m, state, options, input) {
    // A window much shorter than the interval measures noise: decided on by no one, its demand fed to no history (window.ts).
    const short = shortWindowSummary(m.elapsedNs, input.intervalSeconds);
    if (short !== undefined) {
      return { state, actions: [], notices: [{ message: short }], trace: { ...traceCpu(m, false, 0, undefined, state.learned), ...traceDedicated(state), shortWindow: true } };
    }
    const decision = decideCpu(m, state, options);
    return {
      state: decision.state,
      actions: decision.actions,
      notices: decision.notices ?? [],
      trace: {
        ...traceCpu(m, decision.balanced, decision.spreadPoints, state.predicted && new PreviousByKey(state.predicted.keys, state.predicted.shares), decision.state.learned),
        ...traceDedicated(decision.state),
        decision: decision.summary,
        ...(decision.trial ? { trial: decision.trial } : {}),
        ...(decision.state.trials?.epoch ? { epoch: decision.state.trials.epoch.id } : {}),
      },
    };
  },
  forget(state, domainKey) {
    const prefix = `${domainKey}/`;
    const kept = state.vcpuKeys.map((key) => !key.startsWith(prefix));
    const vcpuKeys = state.vcpuKeys.filter((_, j) => kept[j]);
    const vcpus = state.vcpus.filter((_, j) => kept[j]);
    const dedicated = state.dedicated && Object.fromEntries(Object.entries(state.dedicated).filter(([key]) => key !== domainKey));
    const predicted = state.predicted && keepWhere(state.predicted, (key) => !key.startsWith(prefix));
    const learned = state.learned && Object.fromEntries(Object.entries(state.learned).filter(([key]) => !key.startsWith(prefix)));
    return {
      ...state,
      vcpuKeys,
      vcpus,
      ...(dedicated ? { dedicated } : {}),
      ...(predicted ? { predicted } : {}),
      learned: learned && Object.keys(learned).length > 0 ? learned : undefined,
    };
  },
  resynchronise(state) {
    // Demand history and out-of-balance streaks start over; the counters, dedicated pCPUs (still pinned on the host)
    // and what was learned about how each vCPU shares (a property of its guest, not of the connection) carry on.
    // Trials start over too (the placement may have been changed meanwhile); their counters carry on.
    const { intervals, pinChanges, lastActionInterval, dedicated, learned, trials } = state;
    return {
      ...initialCpuSchedulerState(),
      intervals,
      pinChanges,
      lastActionInterval,
      ...(dedicated ? { dedicated } : {}),
      ...(learned ? { learned } : {}),
      ...(trials ? { trials: { ...initialTrialState(), counts: trials.counts } } : {}),
    };
  },
};

function keepWhere(predicted: PredictedShares, keep: (key: string) => boolean): PredictedShares {
  const kept = predicted.keys.map(keep);
  return { keys: predicted.keys.filter((_, j) => kept[j]), shares: predicted.shares.filter((_, j) => kept[j]) };
}

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
 * absolute difference over the vCPUs that had a prediction; `clockBound` marks the vCPUs learned
 * clock-bound after this interval (learned-sharing.ts), whose next predictions follow that model.
 */
function traceCpu(m: CpuMeasurement, balanced: boolean, spreadPoints: number, predicted?: PreviousByKey<number>, learned?: LearnedSharing): TraceCpu {
  let errorSum = 0;
  let predictedCount = 0;
  const predictionOf = (key: string, usage: number, i: number): number | undefined => {
    const p = predicted?.get(key, i);
    if (p !== undefined) {
      errorSum += Math.abs(usage - p);
      predictedCount++;
    }
    return p;
  };
  const vcpus = m.vcpus.map((v, i) => {
    const key = vcpuKey(v.domain, v.vcpu);
    const p = predictionOf(key, v.usage, i);
    const clockBound = learned !== undefined && learned[key]?.clockBound === true;
    return {
      domain: v.domain.name,
      vcpu: v.vcpu,
      pcpu: v.pcpu,
      affinity: v.affinity,
      usage: v.usage,
      demand: v.demand,
      ...(v.weight !== undefined ? { weight: v.weight } : {}),
      ...(p !== undefined ? { predicted: p } : {}),
      ...(clockBound ? { clockBound } : {}),
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
