import type { Controller } from '../ground/controller.js';
import type { TraceCpu } from '../ground/trace-record.js';
import { defaultCpuSchedulerOptions, validateCpuSchedulerOptions, type CpuSchedulerOptions } from './options.js';
import { decideCpu } from './decide.js';
import { initialCpuSchedulerState, type CpuSchedulerState, type PredictedShares } from './scheduler.js';
import { measureCpu, vcpuKey, type CpuMeasurement } from './usage.js';
import type { LearnedSharing } from './learned-sharing.js';
import { PreviousByKey } from './vcpu-lists.js';
import { initialTrialState } from './trials.js';
import { shortWindowSummary } from './window.js';
import { initialWeightKeeping, planWeights, restoreWeights, settleWeights, weightLogLines, withFairWeights, type WeightKeeping } from './weights.js';

// The vCPU scheduler as a controller: it measures demand between two observations of one
// connection, so it decides from the second observation on. It also keeps the CPU weights
// (weights.ts) from the first observation on: configured ones as domains appear, and room for
// weights set as a lever; it hears how those sets went (settle) and puts them back on exit (restore).

/** The scheduler's state and the weight keeper's bookkeeping (plain data, like the rest). */
export type CpuControllerState = CpuSchedulerState & { weights?: WeightKeeping };

export const cpuController: Controller<CpuSchedulerOptions, CpuControllerState, CpuMeasurement, TraceCpu> = {
  kind: 'cpu',
  title: 'vCPU scheduler',
  defaultOptions: () => ({ ...defaultCpuSchedulerOptions }),
  validateOptions: validateCpuSchedulerOptions,
  initialState: initialCpuSchedulerState,
  measure: ({ previous, current }) => (previous ? measureCpu(previous, current) : undefined),
  decide(observed, state, options, input) {
    // Fair shares (the decision's, the trace's and so the score's) count configured weights, never a weight set as a lever (weights.ts).
    const m = withFairWeights(observed, state.weights, options.weights ?? {});
    // A window much shorter than the interval measures noise: decided on by no one, its demand fed to no history (window.ts).
    const short = shortWindowSummary(m.elapsedNs, input.intervalSeconds);
    if (short !== undefined) {
      return { state, actions: [], notices: [{ message: short }], trace: { ...traceCpu(m, false, 0, undefined, state.learned), ...traceDedicated(state), shortWindow: true } };
    }
    const decision = decideCpu(m, state, options);
    return {
      state: withWeights(decision.state, state.weights),
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
  prepare(state, options, { current }) {
    // Nothing configured and nothing kept: nothing to do (and no bookkeeping in the state).
    if (!options.weights && !state.weights) return { state, actions: [], notices: [] };
    const { keeping, actions } = planWeights(state.weights ?? initialWeightKeeping(), current, options.weights ?? {});
    return { state: { ...state, weights: keeping }, actions, notices: [] };
  },
  settle(state, actions, failures, dryRun) {
    if (!state.weights) return { state, log: [] };
    return { state: { ...state, weights: settleWeights(state.weights, actions, failures, dryRun) }, log: weightLogLines(actions, failures, dryRun) };
  },
  restore: (state, now) => (state.weights ? restoreWeights(state.weights, now) : { actions: [], notes: [] }),
  forget(state, domainKey) {
    // The weight keeper keeps what --restore needs of a gone domain, and notices it going itself (weights.ts).
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
    // The weights kept carry on too: they are on the host, whatever the connection.
    const { intervals, pinChanges, lastActionInterval, dedicated, learned, trials, weights } = state;
    return {
      ...initialCpuSchedulerState(),
      ...(weights ? { weights } : {}),
      intervals,
      pinChanges,
      lastActionInterval,
      ...(dedicated ? { dedicated } : {}),
      ...(learned ? { learned } : {}),
      ...(trials ? { trials: { ...initialTrialState(), counts: trials.counts } } : {}),
    };
  },
};

/** The scheduler's new state with the weight keeper's bookkeeping carried over. */
function withWeights(state: CpuSchedulerState, weights: WeightKeeping | undefined): CpuControllerState {
  if (weights) return { ...state, weights };
  const { weights: _none, ...rest } = state as CpuControllerState;
  return rest;
}

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
