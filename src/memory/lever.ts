import type { DomainRef, MemoryDeviceObservation } from '../ground/hypervisor.js';
import { setMemoryReason, type ResizeMemoryDeviceAction, type SetMemoryAction } from '../ground/actions.js';
import { mib } from '../ground/units.js';

// Rule: one target, two levers. For a guest with a virtio-mem device the coordinator decides one
// target for its usable memory (boot + plugged − balloon) exactly as for any other guest; this step
// reaches it with the right lever:
//   - growth above boot + plugged is plugged (the target rounded up to whole blocks, never above the
//     device's size), the balloon deflating to boot + plugged together with it;
//   - growth within boot + plugged is the balloon deflating, as for any guest;
//   - shrinking unplugs what has stayed unneeded for `unplugAfterSeconds` (30 s by default), in
//     whole blocks, down to what the guest needs plus half the band between the plug threshold and
//     the waste threshold (`unplugKeepKiB`: one unplug, not the balloon's halving steps, so what a
//     program freed is back on the host within a minute), never below anonymous use + floor (the
//     Neon veto: a guest cannot give up memory its anonymous pages live in), at most once every
//     RETRY_SECONDS after the previous unplug (a plug in between does not delay it);
//   - an unplug someone else asked for (an operator) that goes below anonymous use + floor is held
//     there at once, never plugged up by this rule;
//   - when the host is short, what is plugged beyond the target is unplugged at once (the balloon
//     cannot take plugged memory), leaving anonymous use + floor beside what the balloon will hold;
//   - the balloon shrinks such a guest only for a squeeze when the host is short, or when nothing is
//     plugged and the boot memory's excess has stayed unneeded for the same while, and never
//     to or below what is plugged;
//   - an unplug that stopped short (plugged stays above requested for STUCK_SECONDS) is accepted
//     where it stopped: the request is set to what is plugged, and tried again only by the unplug
//     rule above, at most once a minute; no unplug while the balloon holds memory it was squeezed of.

/** A plug, with room on the host, adds at least this (one Linux memory block on x86). */
export const PLUG_STEP_KIB = 128 * 1024;
/** At most one unplug (or acceptance of a stopped one) of a device this often. */
export const RETRY_SECONDS = 60;
/** An unplug short of its request for this long has stopped: accepted where it is. */
export const STUCK_SECONDS = 60;

export interface LeverState {
  /** Since when part of what is plugged has been unneeded, host ns. */
  unneededSinceNs?: number;
  /** When we last asked for a new size, host ns. */
  lastResizeNs?: number;
  /** When we last asked for less (an unplug, or a stopped one accepted), host ns. */
  lastUnplugNs?: number;
  /** The size we last asked for, KiB: a different request is someone else's (an operator's). */
  requestedKiB?: number;
  /** Since when plugged has stayed above requested, host ns. */
  shortSinceNs?: number;
}

/** What this rule remembers of a guest with a virtio-mem device: which lever, and since when. */
export interface LeverMemory {
  lever?: LeverState;
}

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyLeverMemory(copy: LeverMemory): void {
  if (typeof copy.lever === 'object' && copy.lever !== null) copy.lever = { ...copy.lever };
}

export interface LeverInput {
  ref: DomainRef;
  nowNs: number;
  device: MemoryDeviceObservation;
  /** Usable memory now (the balloon's current) and boot + plugged (its maximum), KiB. */
  currentKiB: number;
  ceilingKiB: number;
  /** The coordinator's balloon target for it this interval, if any (the one target, in usable memory). */
  proposal?: SetMemoryAction;
  /** Anonymous use + floor: never unplugged below. */
  vetoKiB: number;
  /** What an unplug keeps usable when the host has room (need + half the band above the plug threshold). */
  unplugKeepKiB?: number;
  /** Seconds a target below usable must last before it is unplugged (the memory option of that name). */
  unplugAfterSeconds: number;
  /** The host is short: the balloon may squeeze. */
  hostShort: boolean;
  minChangeKiB: number;
}

export interface LeverDecision {
  actions: (SetMemoryAction | ResizeMemoryDeviceAction)[];
  state: LeverState;
}

export function chooseLever(input: LeverInput, was: LeverState): LeverDecision {
  const { device: dev, ref, nowNs } = input;
  const state: LeverState = { ...was };
  const actions: (SetMemoryAction | ResizeMemoryDeviceAction)[] = [];
  const heldKiB = Math.max(0, input.ceilingKiB - input.currentKiB);
  const target = input.proposal?.targetKiB ?? input.currentKiB;
  const since = (ns: number | undefined) => (ns === undefined ? Infinity : (nowNs - ns) / 1e9);
  const unplugAfter = input.unplugAfterSeconds;
  const resize = (requestedKiB: number, why: string) => {
    actions.push({
      kind: 'resize-memory-device',
      domain: ref,
      fromKiB: dev.requestedKiB,
      requestedKiB,
      reason: `${why}: virtio-mem ${mib(dev.requestedKiB)} → ${mib(requestedKiB)} MiB requested (${mib(dev.currentKiB)} MiB plugged, boot ${mib(dev.bootKiB)} MiB, block ${mib(dev.blockKiB)} MiB, size ${mib(dev.sizeKiB)} MiB)`,
    });
    state.lastResizeNs = nowNs;
    state.requestedKiB = requestedKiB;
  };

  // An unplug short of its request: accepted where it stopped, never fought.
  if (dev.currentKiB > dev.requestedKiB) {
    state.shortSinceNs ??= nowNs;
  } else {
    delete state.shortSinceNs;
  }

  // Growth above boot + plugged: plug, the balloon deflating to boot + plugged with it.
  if (input.proposal && target > input.ceilingKiB) {
    delete state.unneededSinceNs;
    // With room on the host, at least one Linux memory block (128 MiB) at a time: a growth first seen
    // at a low rate is a step ahead of the next reading.
    const aheadKiB = input.hostShort ? 0 : Math.max(0, input.ceilingKiB + PLUG_STEP_KIB - target);
    const requestedKiB = Math.min(dev.sizeKiB, ceilBlock(target + aheadKiB - dev.bootKiB, dev.blockKiB));
    if (requestedKiB > dev.requestedKiB) {
      resize(requestedKiB, `${input.proposal.cause ?? 'grown'}; plugged, the target ${mib(target)} MiB being above boot + plugged ${mib(input.ceilingKiB)} MiB`);
    }
    if (heldKiB >= input.minChangeKiB) {
      actions.push({ ...input.proposal, targetKiB: input.ceilingKiB, reason: `balloon deflated to boot + plugged while plugging: ${mib(input.currentKiB)} → ${mib(input.ceilingKiB)} MiB` });
    }
    return { actions, state };
  }
  // Growth within boot + plugged: the balloon gives it back.
  if (input.proposal && target > input.currentKiB) {
    delete state.unneededSinceNs;
    actions.push(input.proposal);
    return { actions, state };
  }

  // Someone else's request (an operator's) that unplugs below anonymous use + floor: held there at
  // once. What it would go on to take is memory the guest uses; waiting for it to stop short would
  // leave the guest starved meanwhile. Never our own request: it kept anonymous + floor when it was
  // made, and while an unplug is under way the figures disagree (on a real host libvirt's <current>
  // lags the guest's MemTotal by a second or more, so plugged memory already gone still counts in
  // the balloon's size and anonymous use reads high by it: the hold plugged back half of what our
  // unplug had just given back). What the balloon holds is left out: the balloon can give it back.
  if (dev.currentKiB > dev.requestedKiB && dev.requestedKiB !== state.requestedKiB) {
    const holdKiB = Math.min(dev.currentKiB, ceilBlock(Math.max(0, input.vetoKiB - dev.bootKiB), dev.blockKiB));
    if (holdKiB > dev.requestedKiB) {
      resize(holdKiB, `the request would unplug below anonymous + floor ${mib(input.vetoKiB)} MiB: held there, ${mib(holdKiB)} MiB plugged (what it would go on to take is memory the guest uses)`);
      return { actions, state };
    }
  }

  // A squeeze when the host is short: the balloon, above what is plugged.
  if (input.proposal && target < input.currentKiB && input.hostShort) {
    const lowest = dev.currentKiB + input.minChangeKiB;
    const targetKiB = Math.max(target, lowest);
    if (input.currentKiB - targetKiB >= input.minChangeKiB) {
      const tail = targetKiB > target ? ` (held above the ${mib(dev.currentKiB)} MiB plugged: unplugging does the rest)` : '';
      actions.push({ ...input.proposal, targetKiB, reason: `${setMemoryReason(input.proposal.cause ?? 'shrunk', input.proposal.fromKiB, targetKiB)}${tail}` });
    }
  }

  // Accept a stopped unplug where it is.
  if (state.shortSinceNs !== undefined && since(state.shortSinceNs) >= STUCK_SECONDS && since(state.lastResizeNs) >= RETRY_SECONDS) {
    resize(dev.currentKiB, `unplug stopped short for ${Math.round(since(state.shortSinceNs))} s (the guest cannot free more): accepted where it stopped`);
    state.lastUnplugNs = nowNs;
    delete state.shortSinceNs;
    return { actions, state };
  }

  // Shrinking: unplug what has stayed unneeded for a while, never below anonymous use + floor, and
  // not while the balloon holds memory a squeeze took (it is wanted back first).
  // No proposal this interval (e.g. waiting for a fresh reading): the clock runs on as it was.
  if (!input.proposal) return { actions, state };
  // Nothing plugged: the balloon takes the boot memory's excess, once it has stayed unneeded for the
  // same while (a guest booted at its floor + a little that starts growing has that little to grow
  // into while the first plug comes).
  if (dev.currentKiB === 0) {
    if (target >= input.currentKiB) {
      delete state.unneededSinceNs;
    } else {
      state.unneededSinceNs ??= nowNs;
      if (!input.hostShort && since(state.unneededSinceNs) >= unplugAfter) actions.push(input.proposal);
    }
    return { actions, state };
  }
  // Once the while is up the guest's use has stayed below the target that long: one unplug to what
  // it needs (with half a band to spare), not the balloon's halving steps a minute apart.
  const keepKiB = Math.max(Math.min(target, input.unplugKeepKiB ?? target), input.vetoKiB);
  // What the balloon will hold once this interval's squeeze (if any) is done: an unplug in the same
  // interval must leave the guest keepKiB beside it.
  const squeeze = actions.find((a): a is SetMemoryAction => a.kind === 'set-memory');
  const heldAfterKiB = squeeze ? Math.max(heldKiB, input.ceilingKiB - squeeze.targetKiB) : heldKiB;
  const requestedKiB = Math.min(dev.requestedKiB, ceilBlock(Math.max(0, keepKiB + heldAfterKiB - dev.bootKiB), dev.blockKiB));
  if (target >= input.currentKiB || dev.currentKiB - requestedKiB < Math.max(dev.blockKiB, input.minChangeKiB)) {
    delete state.unneededSinceNs;
    return { actions, state };
  }
  state.unneededSinceNs ??= nowNs;
  if ((input.hostShort || since(state.unneededSinceNs) >= unplugAfter) && since(state.lastUnplugNs) >= RETRY_SECONDS && dev.currentKiB <= dev.requestedKiB) {
    resize(
      requestedKiB,
      `${mib(dev.currentKiB - requestedKiB)} MiB unneeded for ${Math.round(since(state.unneededSinceNs))} s: unplugged to keep ${mib(keepKiB)} MiB usable (target ${mib(target)} MiB${input.unplugKeepKiB !== undefined ? `, need + half a band ${mib(input.unplugKeepKiB)} MiB` : ''}, anonymous + floor ${mib(input.vetoKiB)} MiB)`,
    );
    state.lastUnplugNs = nowNs;
    delete state.unneededSinceNs;
  }
  return { actions, state };
}

function ceilBlock(kib: number, blockKiB: number): number {
  return Math.ceil(kib / blockKiB) * blockKiB;
}
