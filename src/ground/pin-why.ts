// Why a vCPU was pinned, as data made where the decision is made (cpu/scheduler.ts, cpu/trials.ts,
// cpu/dedicated.ts): the rule, where the vCPU was and goes, and the figures that justify it. The
// prose of a pin's reason is made from it here, by renderPinReason, and nowhere else; no reason
// text is parsed. pCPUs are the host's numbers (a dedicated pass renumbers the shared part back).
import type { PinAction } from './actions.js';
import { formatCpuList } from './cpu-list.js';
import { fixed2, oneDecimal, wholePercent } from './figures-text.js';

/** Where a vCPU was allowed: its pCPUs, and the one it was seen on (when known). */
export interface PinFrom {
  pcpus: number[];
  on?: number;
}

/** A number before and after the pin(s). */
export interface Change {
  before: number;
  after: number;
}

/** One pCPU's demand (other load included) before and after, in pCPUs. */
export interface PcpuLoadChange extends Change {
  pcpu: number;
}

/** A pCPU the vCPU had to leave: dedicated to another guest. */
export interface OffDedicated {
  pcpu: number;
  owner: string;
}

/** What a placement delivered, measured (cpu/trials.ts): its worst vCPU's fraction of fair share, the usage spread in points, over how many intervals. */
export interface MeasuredFigures {
  worstFraction: number;
  usageSpreadPoints: number;
  samples: number;
}

/** What the scheduler's proposal says of every pin it makes. `objective` only when some vCPU is learned clock-bound; `off` when a dedicated pass moved it off a dedicated pCPU too. */
export interface ProposalFigures {
  /** The candidate that won (cpu/candidates.ts): from-current, sticky-lpt, lpt, share, release, segregate, groups, guests. */
  strategy: string;
  /** The vCPU's smoothed demand, pCPUs. */
  demand: number;
  /** Demand spread of the whole placement, points. */
  spread: Change;
  objective?: string;
  off?: OffDedicated[];
}

export type PinWhy =
  /** To one pCPU by the optimiser: its old and new pCPU's demand. */
  | { rule: 'pins'; from: PinFrom; to: number[]; figures: ProposalFigures & { loads: PcpuLoadChange[] } }
  /** To a shared set, because one-pCPU pins leave someone short of its fair share: worst fraction of fair share pinned, and shared. */
  | { rule: 'shared'; from: PinFrom; to: number[]; figures: ProposalFigures & { sharedBy: number; worst: { pinned: number; after: number } } }
  /** To one pCPU, learned clock-bound vCPUs kept apart from busy ones. */
  | { rule: 'segregate'; from: PinFrom; to: number[]; figures: ProposalFigures & { worst: Change } }
  /** To one pCPU, by the climb for the worst-served guest (cpu/guest-climb.ts): its guest-level fraction of fair share now and after. */
  | { rule: 'guests'; from: PinFrom; to: number[]; figures: ProposalFigures & { worstGuest: Change } }
  /** To a group's pCPU set, learned clock-bound vCPUs grouped apart from the others. */
  | { rule: 'groups'; from: PinFrom; to: number[]; figures: ProposalFigures & { sharedBy: number; worst: Change } }
  /** Back where it was: the trial was measured worse (trials.ts). */
  | { rule: 'revert'; from: PinFrom; to: number[]; figures: { tried: MeasuredFigures; baseline: MeasuredFigures } }
  /** To every pCPU: a trial of the host scheduler alone (trials.ts). */
  | { rule: 'probe'; from: PinFrom; to: number[]; figures: { delivered: MeasuredFigures } }
  /** To its dedicated pCPU (dedicated.ts): busy for this many intervals. */
  | { rule: 'dedicated'; from: PinFrom; to: number[]; figures: { demand: number; busyIntervals: number } }
  /** Off pCPUs dedicated to others (dedicated.ts). */
  | { rule: 'off-dedicated'; from: PinFrom; to: number[]; figures: { demand: number; off: OffDedicated[] } };

export type PinRule = PinWhy['rule'];

/** A measured outcome in words (the trial loop's summaries say it the same way). */
export const renderMeasured = (o: MeasuredFigures): string => `worst ${wholePercent(o.worstFraction)} of fair share, usage spread ${Math.round(o.usageSpreadPoints)} pts over ${o.samples} interval(s)`;

/** Where it was, as the proposal says it: its one pCPU, or unpinned (and where seen), or its set. */
function fromText(from: PinFrom): string {
  if (from.pcpus.length === 1) return `pCPU${from.pcpus[0]!}`;
  return from.on !== undefined ? `unpinned (on pCPU${from.on})` : `pCPUs ${formatCpuList(from.pcpus)}`;
}

/** A pCPU list as the dedicated pass says it. */
const pcpuText = (pcpus: readonly number[]): string => (pcpus.length === 1 ? `pCPU${pcpus[0]!}` : `pCPUs ${formatCpuList(pcpus)}`);
/** The pCPUs left because dedicated to others, in words. */
const renderOff = (off: readonly OffDedicated[]): string => off.map((o) => `pCPU${o.pcpu} (dedicated to ${o.owner})`).join(', ');

function proposalTail(f: ProposalFigures): string {
  return (f.objective !== undefined ? `; objective ${f.objective}` : '') + (f.off ? `; off ${renderOff(f.off)}` : '');
}

/** The reason text of a pin: the one renderer of PinWhy. */
export function renderPinReason(who: { domain: { name: string }; vcpu: number }, why: PinWhy): string {
  const name = `${who.domain.name} vCPU${who.vcpu}`;
  switch (why.rule) {
    case 'pins': {
      const f = why.figures;
      const loads = f.loads.map((l) => `pCPU${l.pcpu} demand ${fixed2(l.before)} → ${fixed2(l.after)}`).join(', ');
      return `${name} (demand ${fixed2(f.demand)}): ${fromText(why.from)} → pCPU${why.to[0]!}; ${loads}, ${spreadText(f.spread)}${proposalTail(f)}`;
    }
    case 'segregate': {
      const f = why.figures;
      return (
        `${name} (demand ${fixed2(f.demand)}): ${fromText(why.from)} → pCPU${why.to[0]!}; learned clock-bound vCPUs kept apart from busy ones: ` +
        `the worst-served vCPU gets ${wholePercent(f.worst.before)} of its fair share now, ${wholePercent(f.worst.after)} after; ${spreadText(f.spread)}${proposalTail(f)}`
      );
    }
    case 'guests': {
      const f = why.figures;
      return (
        `${name} (demand ${fixed2(f.demand)}): ${fromText(why.from)} → pCPU${why.to[0]!}; placed for the worst-served guest: ` +
        `it gets ${wholePercent(f.worstGuest.before)} of its fair share now, ${wholePercent(f.worstGuest.after)} after; ${spreadText(f.spread)}${proposalTail(f)}`
      );
    }
    case 'groups': {
      const f = why.figures;
      return (
        `${name} (demand ${fixed2(f.demand)}): ${fromText(why.from)} → pCPUs ${formatCpuList(why.to)}, shared by ${f.sharedBy} vCPUs; ` +
        `learned clock-bound vCPUs grouped apart from the others: the worst-served vCPU gets ${wholePercent(f.worst.before)} of its fair share now, ${wholePercent(f.worst.after)} after; ` +
        `${spreadText(f.spread)}${proposalTail(f)}`
      );
    }
    case 'shared': {
      const f = why.figures;
      return (
        `${name} (demand ${fixed2(f.demand)}): ${fromText(why.from)} → pCPUs ${formatCpuList(why.to)}, shared by ${f.sharedBy} vCPUs; ` +
        `pinned one per pCPU the worst-served vCPU would get ${wholePercent(f.worst.pinned)} of its fair share, sharing gives ${wholePercent(f.worst.after)}; ` +
        `${spreadText(f.spread)}${proposalTail(f)}`
      );
    }
    case 'revert':
      return `${name}: back to pCPUs ${why.to.join(',')} (trial reverted): the tried placement delivered ${renderMeasured(why.figures.tried)}, the one before ${renderMeasured(why.figures.baseline)}`;
    case 'probe':
      return `${name}: pCPUs ${why.from.pcpus.join(',')} → every pCPU (trial of the host scheduler alone): the placement in force delivered ${renderMeasured(why.figures.delivered)}`;
    case 'dedicated':
      return `${name} (demand ${fixed2(why.figures.demand)}): ${pcpuText(why.from.pcpus)} → pCPU${why.to[0]!}, dedicated: busy for ${why.figures.busyIntervals} intervals; no other vCPU may run there until it idles`;
    case 'off-dedicated':
      return `${name} (demand ${fixed2(why.figures.demand)}): ${pcpuText(why.from.pcpus)} → ${pcpuText(why.to)}; off ${renderOff(why.figures.off)}`;
  }
}

/**
 * A pin action whose reason text is rendered from `why` when first read (the log, the trace, the
 * dashboard), not when decided: a decision that re-pins 4,000 vCPUs would otherwise make 4,000
 * strings most runs never read (half its time on the placement bench, in garbage collection).
 * `reason` is a getter of the class, so a copy by spread leaves it out: copy with pinAction;
 * JSON (the trace) has it, through toJSON.
 */
class RenderedWhenRead implements PinAction {
  readonly kind = 'pin';
  #text: string | undefined;

  constructor(
    readonly domain: PinAction['domain'],
    readonly vcpu: number,
    readonly pcpus: number[],
    readonly previous: number[],
    readonly why: PinWhy,
  ) {}

  get reason(): string {
    return (this.#text ??= renderPinReason(this, this.why));
  }

  toJSON(): PinAction {
    return { kind: this.kind, domain: this.domain, vcpu: this.vcpu, pcpus: this.pcpus, previous: this.previous, reason: this.reason, why: this.why };
  }
}

export function pinAction(who: { domain: PinAction['domain']; vcpu: number }, pcpus: number[], previous: number[], why: PinWhy): PinAction & { why: PinWhy } {
  return new RenderedWhenRead(who.domain, who.vcpu, pcpus, previous, why);
}

const spreadText = (s: Change): string => `spread ${oneDecimal(s.before)} → ${oneDecimal(s.after)} pts`;
