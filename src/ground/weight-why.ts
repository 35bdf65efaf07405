// Why a guest's CPU weight is set, as data made where it is decided (cpu/weights.ts): the rule, the
// weights from and to, and the figures that justify it. The reason text of a set-cpu-weight action
// is made from it here, by renderWeightReason, and nowhere else; no reason text is parsed.

/** Why a configured weight is set (again): first seen in scope, running again after it was gone, restarted (vCPU time from zero), or its cpu_shares changed by someone. */
export type WeightTrigger =
  | { event: 'first-seen' }
  | { event: 'running-again' }
  | { event: 'restarted' }
  | { event: 'changed-elsewhere'; wanted: number; observed: number };

export type WeightWhy =
  /** A lever above the weight fair shares count; `lever`: the requester's reason (cpu/weights.ts requestLever). */
  | { rule: 'lever'; from: number; to: number; figures: { floor: number; lever: string } }
  /** The lever released: back to the configured weight, or to the weight it had before. */
  | { rule: 'lever-released'; from: number; to: number; figures: { configured: boolean } }
  /** The configured weight (vms.NAME.cpuWeight); `leverAskedNoMore` when a lever in force asks no more than it. */
  | { rule: 'configured'; from: number; to: number; figures: { trigger?: WeightTrigger; leverAskedNoMore: boolean } }
  /** A lever in force that asks no more than the weight fair shares count, on an unconfigured guest. */
  | { rule: 'lever-no-more'; from: number; to: number; figures: Record<string, never> }
  /** --restore: back to what it had before the run set it. */
  | { rule: 'restore'; from: number; to: number; figures: Record<string, never> };

const fmt = (w: number): string => String(Math.round(w * 1000) / 1000);
const shares = (w: number): number => Math.round(w * 1024);

function triggerText(t: WeightTrigger): string {
  switch (t.event) {
    case 'first-seen':
      return 'first seen in scope';
    case 'running-again':
      return 'running again after it was gone';
    case 'restarted':
      return 'restarted (its vCPU time began again from zero)';
    case 'changed-elsewhere':
      return `its cpu_shares went from ${shares(t.wanted)} to ${shares(t.observed)} (restarted, or changed by someone else)`;
  }
}

/** What --restore did, without the domain's name: `CPU weight 3 → 1 (cpu_shares 3072 → 1024), as found before the run set it`. */
export function renderRestoredWeight(why: WeightWhy): string {
  return `CPU weight ${why.from} → ${why.to} (cpu_shares ${shares(why.from)} → ${shares(why.to)}), as found before the run set it`;
}

/** The reason text of a set-cpu-weight action: the one renderer of WeightWhy. */
export function renderWeightReason(name: string, why: WeightWhy): string {
  if (why.rule === 'restore') return `restore: ${renderRestoredWeight(why)}`;
  const change = `${name}: CPU weight ${fmt(why.from)} → ${fmt(why.to)} (cpu_shares ${shares(why.from)} → ${shares(why.to)})`;
  switch (why.rule) {
    case 'lever':
      return `${change}, lever (fair shares still count weight ${fmt(why.figures.floor)}): ${why.figures.lever}`;
    case 'lever-released':
      return `${change}, lever released: back to ${why.figures.configured ? `vms.${name}.cpuWeight` : 'the weight it had before'}`;
    case 'configured': {
      const f = why.figures;
      return `${change}, vms.${name}.cpuWeight; ${f.trigger ? triggerText(f.trigger) : f.leverAskedNoMore ? 'configured (the lever asked no more)' : 'configured'}`;
    }
    case 'lever-no-more':
      return `${change}, lever asked no more than its weight`;
  }
}
