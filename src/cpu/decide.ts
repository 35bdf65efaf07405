// The vCPU scheduler's decision, in the order its rules run: dedicated pCPUs are carved out first
// (dedicated.ts, a pool pass: the scheduler then sees only the shared pCPUs), the model proposes a
// placement (scheduler.ts), and measurement decides (trials.ts). Nothing here decides anything itself.
import { decideWithDedicated, dedicatedInPlay } from './dedicated.js';
import { validateCpuSchedulerOptions, type CpuSchedulerOptions } from './options.js';
import { proposeCpu, type CpuDecision, type CpuSchedulerState } from './scheduler.js';
import { judgeByTrials } from './trials.js';
import type { CpuMeasurement } from './usage.js';
/**
 * The vCPU scheduler's decision: the model proposes (proposeCpu), measurement decides (trials.ts):
 * every change is a trial, kept or reverted on what it delivered, at most one per demand epoch.
 * Dedicated pCPUs are granted by rule, not by trial.
 */
export function decideCpu(m: CpuMeasurement, state: CpuSchedulerState, options: CpuSchedulerOptions): CpuDecision {
  validateCpuSchedulerOptions(options);
  if (dedicatedInPlay(state, options)) return decideWithDedicated(m, state, options, proposeCpu);
  const proposal = proposeCpu(m, state, options);
  if (options.trials === false || !proposal.proposal) return proposal;
  const { keys, demands, sigmas, labels, other, otherSigmas, heldState, guestWorst, waitedGain } = proposal.proposal;
  const otherPart = other ? { other, otherSigmas: otherSigmas ?? [] } : {};
  const judged = judgeByTrials(state.trials, { m, keys, demands, sigmas, labels, ...otherPart, interval: proposal.state.intervals, proposed: proposal.actions, content: proposal.balanced, releases: proposal.strategy === 'release', predictedWorst: guestWorst?.before ?? proposal.before.worstFractionOfFairShare, predictedWorstAfter: guestWorst?.after ?? proposal.after.worstFractionOfFairShare, ...(guestWorst ? { forGuests: true } : {}), ...(waitedGain !== undefined ? { waitedGain } : {}), objective: proposal.objective }, options);
  const { proposal: _, ...decision } = proposal;
  const trialPart = judged.event ? { trial: judged.summary ? { ...judged.event, text: judged.summary } : judged.event } : {};
  if (!judged.overridden) {
    return { ...decision, ...trialPart, state: { ...decision.state, trials: judged.state }, summary: judged.summary ? `${decision.summary}; ${judged.summary}` : decision.summary };
  }
  // The proposal is not applied: the state is the one it would have had without acting, plus any revert or probe.
  const reverted = judged.actions;
  return {
    ...decision,
    ...trialPart,
    actions: reverted,
    state: {
      ...heldState,
      trials: judged.state,
      ...(reverted.length > 0 ? { lastActionInterval: heldState.intervals, pinChanges: heldState.pinChanges + reverted.length } : {}),
    },
    after: decision.before,
    bestSpreadPoints: decision.before.spreadPoints,
    gainPoints: 0,
    strategy: judged.strategy ?? 'none',
    summary: `${judged.summary ?? 'held'}; proposed: ${decision.summary}`,
  };
}
