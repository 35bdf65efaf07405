import type { DomainObservation, DomainState, HostObservation } from '../ground/hypervisor.js';
import { domainKey } from '../ground/domain-identity.js';
import { setMemoryReason, type Notice, type ResizeMemoryDeviceAction, type SetMemoryAction, type SetStatsPeriodAction } from '../ground/actions.js';
import { chooseLever } from './lever.js';
import { neededKiB, type GuestAssessment } from './assessment.js';
import { lowestSafeKiB, safeTargetKiB } from './bounds.js';
import { assessFreshness, markActedOn } from './freshness.js';
import { addSample, estimateGrowth, horizonSeconds, type UsageSample } from './growth.js';
import { floorKiBOf, staleAfterSecondsFor, weightOf, type MemoryOptions } from './options.js';
import { assessReclaim, wasteThresholdKiB } from './reclaim.js';
import { growthBudgetKiB, type Commitment } from './reserve.js';
import { shareMemory } from './sharing.js';
import { assessStarvation, plugThresholdKiB, type GrowthProposal, type GrowthVerdict } from './starvation.js';
import { cloneMemoryState, forgetGuests, newGuestState, type GuestMemoryState, type MemoryState } from './state.js';
import { enableStats, hasStats, isBootSnapshot, reviveStats, speedUpStats } from './stats-enabling.js';
import { mib, mibToKiB } from '../ground/units.js';
import { measureUsage } from './usage.js';
import { nextLevelKiB, noiseAllowanceKiB, noiseSigmaKiB, residualsAfter } from './noise.js';
import { cacheFigures, cacheView } from './cache.js';
import { detectRepeatedReads, endEpisodeIfGivenBack, markBurstFit, recordEpisodeShrink, rereadMarginKiB, trackBursts } from './read-bursts.js';
import { detectRefault, dropsCache, learnHotAfterRefault, readBytesOf, readRateKiBps, recordCacheShrink, rememberedHotKiB, trackReads } from './refaults.js';

// The memory coordinator's policy: one pure function from an observation (and what it remembered
// from earlier intervals) to balloon and virtio-mem actions, each with its reason. The rules live in
// the files named after them; this file only runs them, as five named steps:
//   measure  stats-enabling → freshness → usage → cache (anon, hot, cold) → refaults → noise → growth
//   need     starvation (who must grow), the rest left to reclaim
//   budget   reserve → sharing (what the host can give, shared by weight)
//   target   reclaim for the others, grows within the budget → bounds
//   lever    virtio-mem guests only: the target reached by plugging, unplugging or the balloon
// A new lever is one more step after target.

export { defaultMemoryOptions, type MemoryOptions } from './options.js';
export { initialMemoryState, type MemoryState } from './state.js';

export interface GuestMemoryView {
  domain: string;
  actualKiB: number;
  maximumKiB: number;
  /** Upper bound of use, cache included (usage.ts); absent without statistics. */
  usedKiB?: number;
  unusedKiB?: number;
  /** For a guest that reports MemAvailable: what it cannot drop (cache.ts), never ballooned below this + floor. */
  anonKiB?: number;
  /** Page cache it could drop, the hot part of it (remembered from refaults), and its disk read rate. */
  cacheKiB?: number;
  hotKiB?: number;
  readKiBps?: number;
  /** Host resident set of its process, as observed (recorded for the score; decides nothing). */
  rssKiB?: number;
  floorKiB: number;
  /** Statistics present and still updating. */
  fresh: boolean;
}

export interface MemoryDecision {
  actions: (SetMemoryAction | SetStatsPeriodAction | ResizeMemoryDeviceAction)[];
  notices: Notice[];
  state: MemoryState;
  guests: GuestMemoryView[];
  hostFreeKiB: number;
}

/** Balloon actual within this of a target we set counts as having reached it. */
const REACHED_TOLERANCE_KIB = mibToKiB(4);

/** At most this many observations of `actual` are kept for the lag bounds. */
const ACTUAL_HISTORY = 8;

const ACTIVE: ReadonlySet<DomainState> = new Set(['running', 'blocked']);
/** Not acted on, but remembered: they come back as they were. */
const DORMANT: ReadonlySet<DomainState> = new Set(['paused', 'pmsuspended']);

export function decideMemory(
  obs: HostObservation,
  state: MemoryState,
  options: MemoryOptions,
  intervalSeconds: number,
): MemoryDecision {
  const next: MemoryState = cloneMemoryState(forgetGoneDomains(state, obs.domains));
  const notices: Notice[] = [];
  const measured = measure(obs, next, options, intervalSeconds, notices);
  const needs = need(measured.assessed, measured.devices, next, options, notices);
  const budget = budgetFor(needs.growths, measured.commitments, obs, next, options);
  const { shrinks, grows } = target(needs, budget, obs.timeNs, next, options, notices);
  const levers = measured.devices.size === 0 ? [] : leverActions(measured.assessed, measured.devices, [...shrinks, ...grows], next, obs.timeNs, budget.plan.short, options);
  const balloonOnly = (a: SetMemoryAction) => !measured.devices.has(domainKey(a.domain));
  return {
    actions: [...measured.statsActions, ...shrinks.filter(balloonOnly), ...grows.filter(balloonOnly), ...levers],
    notices,
    state: next,
    guests: measured.views,
    hostFreeKiB: obs.host.memoryFreeKiB,
  };
}

/** Step 1, measure: every running guest's readings turned into what it uses, caches and grows by. */
interface Measured {
  assessed: GuestAssessment[];
  commitments: Commitment[];
  views: GuestMemoryView[];
  statsActions: SetStatsPeriodAction[];
  /** Guests with a virtio-mem device, by domainKey: their target is reached by the lever step. */
  devices: Map<string, DomainObservation>;
}

function measure(obs: HostObservation, next: MemoryState, options: MemoryOptions, intervalSeconds: number, notices: Notice[]): Measured {
  const out: Measured = { assessed: [], commitments: [], views: [], statsActions: [], devices: new Map() };
  const staleAfterSeconds = staleAfterSecondsFor(options, intervalSeconds);
  const horizon = horizonSeconds(intervalSeconds, options.statsPeriodSeconds, options.balloonLagSeconds);
  // With room on the host, a hot size learned is kept: testing it again would cost a refault for memory nobody wants.
  const hostHasRoom = obs.host.memoryFreeKiB - mibToKiB(options.reserveMiB) >= mibToKiB(options.roomMiB) &&
    !(next.anonShortAtNs !== undefined && obs.timeNs - next.anonShortAtNs < options.refaultWatchSeconds * 1e9);
  for (const domain of obs.domains) {
    if (!ACTIVE.has(domain.state)) continue;
    const guest = (next.guests[domainKey(domain)] ??= newGuestState());
    measureGuest(domain, guest, { timeNs: obs.timeNs, options, intervalSeconds, staleAfterSeconds, horizon, hostHasRoom }, out, notices);
  }
  return out;
}

interface MeasureContext {
  timeNs: number;
  options: MemoryOptions;
  intervalSeconds: number;
  staleAfterSeconds: number;
  horizon: number;
  hostHasRoom: boolean;
}

function measureGuest(domain: DomainObservation, guest: GuestMemoryState, ctx: MeasureContext, out: Measured, notices: Notice[]): void {
  const { timeNs, options, intervalSeconds } = ctx;
  trackReads(guest, readBytesOf(domain), timeNs, options.refaultWatchSeconds);
  trackBursts(guest, timeNs, options.refaultMiBps, options.refaultHorizonSeconds);
  const balloon = domain.balloon;
  if (!balloon) {
    if (!guest.reported.noBalloon) {
      guest.reported.noBalloon = true;
      notices.push({ domain: domain.name, message: 'no balloon device: its memory cannot be managed' });
    }
    return;
  }
  // The observations a reading may date from: it is up to one stats period (as the guest really
  // keeps it) old.
  const periodSeconds = Math.max(options.statsPeriodSeconds, guest.readingSpacingSeconds ?? 0);
  const lagObservations = Math.min(ACTUAL_HISTORY, Math.ceil(periodSeconds / intervalSeconds) + 1);
  guest.recentActualKiB = [...guest.recentActualKiB, balloon.currentKiB].slice(-lagObservations);
  if (guest.pendingTargetKiB !== undefined && Math.abs(balloon.currentKiB - guest.pendingTargetKiB) <= REACHED_TOLERANCE_KIB) {
    delete guest.pendingTargetKiB;
  }
  const committedKiB = Math.max(balloon.currentKiB, guest.pendingTargetKiB ?? 0);
  out.commitments.push({ actualKiB: balloon.currentKiB, committedKiB, ...(balloon.rssKiB !== undefined && { rssKiB: balloon.rssKiB }) });
  const floorKiB = floorKiBOf(domain.name, options);
  const view: GuestMemoryView = { domain: domain.name, actualKiB: balloon.currentKiB, maximumKiB: balloon.maximumKiB, floorKiB, fresh: false };
  if (balloon.rssKiB !== undefined) view.rssKiB = balloon.rssKiB;
  out.views.push(view);

  if (!hasStats(balloon) || isBootSnapshot(balloon, guest)) {
    const outcome = enableStats(domain, guest, timeNs, options);
    if (outcome.action) out.statsActions.push(outcome.action);
    if (outcome.notice) notices.push(outcome.notice);
    return;
  }
  const freshness = assessFreshness(guest, balloon.lastUpdate, timeNs, ctx.staleAfterSeconds);
  const speedUp = speedUpStats(domain, guest, timeNs, options, intervalSeconds);
  if (speedUp) out.statsActions.push(speedUp);
  const usage = measureUsage(balloon, guest.recentActualKiB, guest.reservedKiB, guest.memFreeOffsetKiB);
  if (usage.reservedKiB !== undefined) guest.reservedKiB = usage.reservedKiB;
  if (usage.memFreeOffsetKiB) guest.memFreeOffsetKiB = usage.memFreeOffsetKiB;
  const anonKiB = usage.anonKiB ?? usage.usedKiB;
  if (freshness.newReading) recordReading(guest, anonKiB, usage.sample, options);
  const readKiBps = readRateKiBps(guest);
  if (usage.cacheKiB !== undefined && freshness.newReading) learnHotAfterRefault(guest, usage.cacheKiB, timeNs, options.refaultWatchSeconds);
  if (usage.cacheKiB !== undefined) markBurstFit(guest, usage.cacheKiB);
  const hotKiB = rememberedHotKiB(guest, timeNs, options.hotMemorySeconds, ctx.hostHasRoom);
  const cache = usage.cacheKiB === undefined
    ? undefined
    : cacheView(usage.cacheKiB, hotKiB, balloon.unusedKiB, mibToKiB(options.coldReclaimMiBps) * intervalSeconds, readKiBps);
  view.usedKiB = usage.usedKiB;
  view.unusedKiB = balloon.unusedKiB;
  view.fresh = !freshness.stopped;
  if (cache) Object.assign(view, { anonKiB, cacheKiB: cache.cacheKiB, hotKiB: cache.hotKiB, ...(readKiBps !== undefined && { readKiBps }) });

  if (freshness.stopped) {
    const revive = reviveStats(domain, guest, timeNs, options);
    if (revive) out.statsActions.push(revive);
    if (!guest.reported.statsStopped) {
      guest.reported.statsStopped = true;
      notices.push({
        domain: domain.name,
        message: `balloon statistics stopped (last-update unchanged for ${Math.round(freshness.ageSeconds)} s): leaving it at ${mib(balloon.currentKiB)} MiB`,
      });
    }
    return;
  }
  if (!freshness.actionable) return;
  endEpisodeIfGivenBack(guest, balloon.currentKiB);
  const refault = cache ? detectRefault(guest, timeNs, options.refaultMiBps) ?? detectRepeatedReads(guest, timeNs) : undefined;
  if (refault && cache) {
    cache.hotKiB = refault.hotKiB;
    cache.coldKiB = Math.max(0, cache.cacheKiB - refault.hotKiB);
    view.hotKiB = refault.hotKiB;
  }
  const sigmaKiB = noiseSigmaKiB(guest.noiseResiduals);
  const growth = estimateGrowth(guest.samples, mibToKiB(options.minGrowthMiBps), { sigmaKiB, sigmas: options.noiseSigmas });
  out.assessed.push({
    ref: { name: domain.name, uuid: domain.uuid },
    actualKiB: balloon.currentKiB,
    // A virtio-mem guest may grow to boot + its device's size: plugging is the lever (lever.ts).
    maximumKiB: domain.memoryDevice ? Math.max(balloon.maximumKiB, domain.memoryDevice.bootKiB + domain.memoryDevice.sizeKiB) : balloon.maximumKiB,
    // With MemAvailable: sized on anon + hot, and what it could still use is MemAvailable − hot.
    unusedKiB: cache ? cache.freeKiB + cache.cacheKiB - cache.hotKiB : balloon.unusedKiB,
    usedKiB: cache ? anonKiB + cache.hotKiB : usage.usedKiB,
    anonKiB,
    ...(cache && { cache }),
    ...(refault && { refault }),
    noiseAllowanceKiB: noiseAllowanceKiB(anonKiB, guest.levelKiB, sigmaKiB, options.noiseHeadroomSigmas),
    noiseSigmaKiB: sigmaKiB,
    floorKiB,
    minActualKiB: mibToKiB(options.minActualMiB),
    growthKiBps: growth.kibPerSecond,
    growthBasis: growth.basis,
    horizonSeconds: ctx.horizon,
    committedKiB,
    weight: weightOf(domain.name, options),
    reclaiming: guest.reclaiming,
    wasteSeen: guest.wasteSeen,
    settled: Math.max(...guest.recentActualKiB) - Math.min(...guest.recentActualKiB) <= REACHED_TOLERANCE_KIB,
    ...(guest.pendingTargetKiB !== undefined && { movingToKiB: guest.pendingTargetKiB }),
    ...(balloon.freePageReporting && { reportsFreePages: true }),
    ...(balloon.rssKiB !== undefined && { residentKiB: balloon.rssKiB }),
    ...(domain.memoryDevice && { hasMemoryDevice: true }),
    ...(cache && { rereadMarginKiB: rereadMarginKiB(guest, intervalSeconds) }),
  });
  if (domain.memoryDevice) out.devices.set(domainKey(domain), domain);
}

/** Step 2, need: which guests must grow (starving, or short of their hot cache), and the others. */
interface Needs {
  growths: GrowthProposal[];
  others: GuestAssessment[];
}

function need(assessed: readonly GuestAssessment[], devices: ReadonlyMap<string, DomainObservation>, next: MemoryState, options: MemoryOptions, notices: Notice[]): Needs {
  const needs: Needs = { growths: [], others: [] };
  for (const g of assessed) {
    const verdict = withRefault(assessStarvation(g, options, devices.has(domainKey(g.ref))), g, options);
    const guest = next.guests[domainKey(g.ref)]!;
    if (verdict.kind === 'grow') {
      needs.growths.push(verdict.proposal);
    } else if (verdict.kind === 'covered') {
      if (g.committedKiB >= g.maximumKiB && !guest.reported.atMaximum) {
        guest.reported.atMaximum = true;
        notices.push({ domain: g.ref.name, message: verdict.why });
      }
    } else {
      guest.reported.atMaximum = false;
      needs.others.push(g);
    }
  }
  return needs;
}

/** Step 3, budget: what the host can give above its reserve, shared among the guests that must grow. */
interface Budget {
  budgetKiB: number;
  anonPlan: ReturnType<typeof shareMemory>;
  hotPlan: ReturnType<typeof shareMemory>;
  plan: { short: boolean; wantedKiB: number; grants: Map<string, number> };
  /** Hot cache taken to feed a starving guest is not handed back yet. */
  holdHot: boolean;
  shortBecause: string;
}

function budgetFor(growths: readonly GrowthProposal[], commitments: readonly Commitment[], obs: HostObservation, next: MemoryState, options: MemoryOptions): Budget {
  const reserveKiB = mibToKiB(options.reserveMiB);
  const budgetKiB = growthBudgetKiB(obs.host.memoryFreeKiB, reserveKiB, commitments);
  // Guests whose anonymous memory is running out are served first; guests short of their hot cache
  // from what is left (when the host is short, the hot cache of others waits: sharing.ts).
  const request = (p: GrowthProposal) => ({ name: p.guest.ref.name, weight: p.guest.weight, currentKiB: p.guest.committedKiB, requestKiB: p.requestKiB });
  const anonPlan = shareMemory(growths.filter((p) => p.priority === 'anon').map(request), budgetKiB);
  const grantedKiB = [...anonPlan.grants.values()].reduce((a, b) => a + b, 0);
  if (anonPlan.short) next.anonShortAtNs = obs.timeNs;
  // Hot cache taken to feed a starving guest is not handed back while guests still starve (or did
  // within the refault watch): it would be taken again next interval, a refault each time.
  const holdHot = next.anonShortAtNs !== undefined && obs.timeNs - next.anonShortAtNs < options.refaultWatchSeconds * 1e9;
  const hotPlan = shareMemory(growths.filter((p) => p.priority === 'hot').map(request), holdHot ? 0 : Math.max(0, budgetKiB) - grantedKiB);
  const plan = {
    short: anonPlan.short || hotPlan.short,
    wantedKiB: anonPlan.wantedKiB + hotPlan.wantedKiB,
    grants: new Map([...anonPlan.grants, ...hotPlan.grants]),
  };
  const shortBecause = plan.short
    ? `host short: ${anonPlan.short ? 'starving guests' : 'guests short of their hot cache'} want ${mib(plan.wantedKiB)} MiB, host free ${mib(obs.host.memoryFreeKiB)} MiB allows ${mib(Math.max(0, budgetKiB))} MiB above its ${mib(reserveKiB)} MiB reserve`
    : '';
  return { budgetKiB, anonPlan, hotPlan, plan, holdHot, shortBecause };
}

/** Step 4, target: a balloon target for each guest, shrinks from the others and grows within the budget. */
function target(needs: Needs, budget: Budget, nowNs: number, next: MemoryState, options: MemoryOptions, notices: Notice[]): { shrinks: SetMemoryAction[]; grows: SetMemoryAction[] } {
  const { growths, others } = needs;
  const { anonPlan, hotPlan, plan, holdHot, shortBecause } = budget;
  const takeHot = anonPlan.short ? guestsGivingHotCache(others, anonPlan.wantedKiB - Math.max(0, budget.budgetKiB)) : new Map<GuestAssessment, number>();
  const shrinks: SetMemoryAction[] = [];
  for (const g of others) {
    const guest = next.guests[domainKey(g.ref)]!;
    const verdict = assessReclaim(g, options, plan.short ? 'idle-tax' : 'gradual', shortBecause, takeHot.get(g) ?? 0);
    guest.reclaiming = verdict.reclaiming;
    guest.wasteSeen = verdict.wasteSeen;
    if (!verdict.proposal) continue;
    const action = setMemory(g, verdict.proposal.targetKiB, verdict.proposal.why, options);
    if (action) {
      shrinks.push(action);
      record(guest, action);
      // The guest must drop page cache to meet it: watch its reads for refaults.
      if (g.cache && dropsCache(action.targetKiB, g.anonKiB, g.cache.cacheKiB)) {
        recordCacheShrink(guest, nowNs, g.actualKiB, g.cache.cacheKiB);
        recordEpisodeShrink(guest, nowNs, g.actualKiB, g.cache.cacheKiB, action.targetKiB);
      }
    } else {
      guest.reclaiming = false;
    }
  }

  const grows: SetMemoryAction[] = [];
  for (const p of growths) {
    const guest = next.guests[domainKey(p.guest.ref)]!;
    guest.reclaiming = false;
    guest.wasteSeen = false;
    const grantKiB = plan.grants.get(p.guest.ref.name) ?? 0;
    const tier = p.priority === 'anon' ? anonPlan : hotPlan;
    const why = p.priority === 'hot' && holdHot
      ? `${p.why}; held back: guests starved within the last ${options.refaultWatchSeconds} s`
      : tier.short
        ? `${p.why}; ${shortBecause}, shared by weight (${p.guest.weight} of ${totalWeight(growths.filter((q) => q.priority === p.priority))}: its share ${mib(p.guest.weight * (tier.levelKiB ?? 0))} MiB)`
        : p.why;
    const action = grantKiB > 0 ? setMemory(p.guest, p.guest.committedKiB + grantKiB, why, options) : undefined;
    if (action) {
      grows.push(action);
      record(guest, action);
      guest.reported.hostShort = false;
    } else if (tier.short && !guest.reported.hostShort) {
      guest.reported.hostShort = true;
      notices.push({ domain: p.guest.ref.name, message: `starving but not grown: ${why}` });
    }
  }
  return { shrinks, grows };
}

/** Step 5, lever: the one target decided for each virtio-mem guest, reached with the right lever (lever.ts). */
function leverActions(
  assessed: readonly GuestAssessment[],
  devices: ReadonlyMap<string, DomainObservation>,
  proposals: readonly SetMemoryAction[],
  next: MemoryState,
  nowNs: number,
  hostShort: boolean,
  options: MemoryOptions,
): (SetMemoryAction | ResizeMemoryDeviceAction)[] {
  const out: (SetMemoryAction | ResizeMemoryDeviceAction)[] = [];
  for (const g of assessed) {
    const key = domainKey(g.ref);
    const domain = devices.get(key);
    if (!domain?.memoryDevice || !domain.balloon) continue;
    const guest = next.guests[key]!;
    const proposal = proposals.find((a) => domainKey(a.domain) === key);
    const d = chooseLever({
      ref: g.ref,
      nowNs,
      device: domain.memoryDevice,
      currentKiB: domain.balloon.currentKiB,
      ceilingKiB: domain.balloon.maximumKiB,
      ...(proposal && { proposal }),
      vetoKiB: g.anonKiB + g.floorKiB,
      unplugKeepKiB: Math.max(lowestSafeKiB(g), neededKiB(g)) + Math.max(0, wasteThresholdKiB(g, options) - plugThresholdKiB(g, options)) / 2,
      unplugAfterSeconds: options.unplugAfterSeconds,
      hostShort,
      minChangeKiB: mibToKiB(options.minChangeMiB),
    }, guest.lever ?? {});
    guest.lever = d.state;
    out.push(...d.actions);
    // What is pending is what was sent: a balloon target, or the target a plug is to reach; a
    // proposal the lever held back is not pending (it would read as covering later growth).
    const balloonTarget = d.actions.find((a): a is SetMemoryAction => a.kind === 'set-memory');
    const plugs = d.actions.some((a) => a.kind === 'resize-memory-device' && a.requestedKiB > a.fromKiB);
    if (proposal && plugs) guest.pendingTargetKiB = Math.max(proposal.targetKiB, balloonTarget?.targetKiB ?? 0);
    else if (balloonTarget) guest.pendingTargetKiB = balloonTarget.targetKiB;
    else if (proposal && guest.pendingTargetKiB === proposal.targetKiB) delete guest.pendingTargetKiB;
  }
  return out;
}

/** Builds a set-memory action through the safety clamp; undefined when the change is too small to be worth it. */
function setMemory(g: GuestAssessment, proposedKiB: number, why: string, options: MemoryOptions): SetMemoryAction | undefined {
  const targetKiB = safeTargetKiB(proposedKiB, g);
  const reference = targetKiB > g.actualKiB ? g.committedKiB : g.actualKiB;
  if (Math.abs(targetKiB - reference) < mibToKiB(options.minChangeMiB)) return undefined;
  return {
    kind: 'set-memory',
    domain: g.ref,
    fromKiB: g.actualKiB,
    targetKiB,
    reason: setMemoryReason(why, g.actualKiB, targetKiB),
    cause: why,
  };
}

/** A fresh reading feeds the growth window, the noise estimate and the level of use. */
function recordReading(guest: GuestMemoryState, usedKiB: number, sample: UsageSample | undefined, options: MemoryOptions): void {
  let sigmaKiB = noiseSigmaKiB(guest.noiseResiduals);
  if (sample) {
    guest.samples = addSample(guest.samples, sample, options.growthWindow);
    const residuals = residualsAfter(guest.noiseResiduals, sigmaKiB, guest.samples, mibToKiB(options.minChangeMiB), options.noiseSigmas, options.noiseWindow);
    if (residuals !== guest.noiseResiduals) {
      guest.noiseResiduals = residuals;
      sigmaKiB = noiseSigmaKiB(guest.noiseResiduals);
    }
  }
  guest.levelKiB = nextLevelKiB(guest.levelKiB, usedKiB, sigmaKiB, options.levelSmoothing);
}

function record(guest: GuestMemoryState, action: SetMemoryAction): void {
  if (guest.lastUpdate !== undefined) markActedOn(guest, guest.lastUpdate);
  guest.pendingTargetKiB = action.targetKiB;
}

/**
 * A refault is answered at once: the guest gets back what the shrinks that caused it took (and at
 * least its need, now with the hot cache learned), through the same host budget as every grow.
 */
function withRefault(verdict: GrowthVerdict, g: GuestAssessment, options: MemoryOptions): GrowthVerdict {
  const refault = g.refault;
  if (!refault || !g.cache) return verdict;
  const desiredKiB = Math.min(g.maximumKiB, Math.ceil(Math.max(refault.giveBackToKiB, neededKiB(g))));
  if (verdict.kind === 'grow' && verdict.proposal.desiredKiB >= desiredKiB) {
    return { kind: 'grow', proposal: { ...verdict.proposal, why: `${refault.why}; ${verdict.proposal.why}` } };
  }
  const requestKiB = desiredKiB - g.committedKiB;
  if (requestKiB < mibToKiB(options.minChangeMiB)) return verdict;
  const why = `${refault.why} [${cacheFigures(g.anonKiB, g.cache)}]`;
  return { kind: 'grow', proposal: { guest: g, desiredKiB, requestKiB, why, priority: verdict.kind === 'grow' ? verdict.proposal.priority : 'hot' } };
}

/**
 * When the host is still short after every other guest's idle memory and cold cache, the hot cache
 * of the guests with the lowest weight goes next, lowest first, as much as the shortfall needs.
 * Returns the hot cache each gives, KiB.
 */
function guestsGivingHotCache(others: readonly GuestAssessment[], shortfallKiB: number): Map<GuestAssessment, number> {
  const idleKiB = others.reduce((sum, g) => sum + Math.max(0, g.actualKiB - Math.max(lowestSafeKiB(g), neededKiB(g))), 0);
  let missingKiB = shortfallKiB - idleKiB;
  const taken = new Map<GuestAssessment, number>();
  const withHot = others.filter((g) => g.cache && g.cache.hotKiB > 0).sort((a, b) => a.weight - b.weight);
  for (const weight of [...new Set(withHot.map((g) => g.weight))]) {
    if (missingKiB <= 0) break;
    // Guests of equal weight give their hot cache together, each the same share of what is missing.
    const group = withHot.filter((g) => g.weight === weight);
    const share = missingKiB / group.length;
    for (const g of group) {
      const takeKiB = Math.min(g.cache!.hotKiB, share);
      taken.set(g, takeKiB);
      missingKiB -= takeKiB;
    }
  }
  return taken;
}

function totalWeight(growths: readonly GrowthProposal[]): number {
  return growths.reduce((sum, p) => sum + p.guest.weight, 0);
}

/** Domains gone from the host (or shut off) are forgotten, so a domain that comes back is new again. */
function forgetGoneDomains(state: MemoryState, domains: readonly DomainObservation[]): MemoryState {
  const keep = new Set(domains.filter((d) => ACTIVE.has(d.state) || DORMANT.has(d.state)).map(domainKey));
  return forgetGuests(state, (key) => !keep.has(key));
}
