// The weight keeper's pure functions (src/cpu/weights.ts) behind the small stateful face the
// weight tests were written against: plan, settle, changed. The state between calls is the plain
// data the vCPU scheduler's controller keeps, taken through JSON each time as the controller's state may be.
import type { HostObservation } from '../../src/ground/hypervisor.js';
import type { Action, SetCpuWeightAction } from '../../src/ground/actions.js';
import { changedWeights, initialWeightKeeping, planWeights, settleWeights, type WeightedDomain, type WeightKeeping } from '../../src/cpu/weights.js';

export class CpuWeightKeeper {
  keeping: WeightKeeping = initialWeightKeeping();

  constructor(readonly weights: Readonly<Record<string, number>>) {}

  plan(observation: HostObservation): SetCpuWeightAction[] {
    const { keeping, actions } = planWeights(this.keeping, observation, this.weights);
    this.keeping = JSON.parse(JSON.stringify(keeping)) as WeightKeeping;
    return actions;
  }

  settle(actions: readonly Action[], failures: readonly { action: Action; error: string }[], dryRun: boolean): void {
    this.keeping = JSON.parse(JSON.stringify(settleWeights(this.keeping, actions, failures, dryRun))) as WeightKeeping;
  }

  changed(): WeightedDomain[] {
    return changedWeights(this.keeping);
  }
}
