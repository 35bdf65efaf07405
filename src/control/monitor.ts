import type { Action } from '../ground/actions.js';
import type { TraceInterval } from '../ground/trace-record.js';
import { abandonedBecause, fairPercent, replacesLostTrial } from '../score/trials.js';
import { formatCpuList } from '../ground/cpu-list.js';
import { sharedSplit } from './shared-split.js';

// The assignment's monitor output, so graders and students see what they expect:
//   CPU:    `0 - usage: 48.7 | mapping ['aos_vm1', 'aos_vm5']`
//           `0 - usage: n/a (window 0.11 s too short) | mapping ['aos_vm1', 'aos_vm5']` on a short window (TraceCpu.shortWindow)
//           `1 - usage: 55.0 | mapping ['aos_vm2 [0-1] 40.0', 'aos_vm3']`: a vCPU allowed on pCPUs 0-1, 40.0 of it counted here
//   memory: `Memory (VM: aos_vm1)  Actual [512.0], Unused: [301.4]`
// and one line when a trial of the vCPU scheduler starts, is kept, reverted or abandoned (not while it is measured):
//           `  trial kept: worst 88 % of fair share (before 55 %)`

const MiB = 1024;

export function formatCpuMonitor(entry: TraceInterval): string[] {
  if (!entry.cpu) return [];
  const cpu = entry.cpu;
  const lines: string[] = [];
  // A short window's usage is noise (a 112 ms window once read 139.9): it is not shown.
  const short = cpu.shortWindow ? `n/a (window ${(cpu.elapsedNs / 1e9).toFixed(2)} s too short)` : undefined;
  // A vCPU allowed on several pCPUs is listed where its usage counts, with its set and that part,
  // so each line's names add up to its usage; an idle one is listed where it is now.
  const split = sharedSplit(cpu.vcpus, cpu.pcpuUsage);
  const names: string[][] = cpu.pcpuUsage.map(() => []);
  cpu.vcpus.forEach((v, i) => {
    const label = vcpuLabel(v.domain, v.vcpu, entry);
    const parts = [...(split[i] ?? [])].filter(([, part]) => part >= SHOWN_PART);
    if (split[i] === undefined || parts.length === 0) {
      if (v.pcpu !== undefined) names[v.pcpu]?.push(`'${label}'`);
      return;
    }
    for (const [pcpu, part] of parts) names[pcpu]?.push(`'${label} [${formatCpuList(v.affinity)}] ${(part * 100).toFixed(1)}'`);
  });
  cpu.pcpuUsage.forEach((usage, pcpu) => {
    lines.push(`${pcpu} - usage: ${short ?? (usage * 100).toFixed(1)} | mapping [${names[pcpu]!.join(', ')}]`);
  });
  return lines;
}

/** Below this part of a pCPU (0.1 %), a shared vCPU is not listed on that pCPU. */
const SHOWN_PART = 0.001;

/** One-vCPU domains show as their name (as the grader's monitor does); others as name:vcpu. */
function vcpuLabel(domain: string, vcpu: number, entry: TraceInterval): string {
  const multi = entry.cpu!.vcpus.some((v) => v.domain === domain && v.vcpu > 0);
  return multi ? `${domain}:${vcpu}` : domain;
}

/** One line per trial event worth a person's eye: started, kept, reverted, abandoned (cpu.trial, src/cpu/trials.ts). */
export function formatTrialMonitor(entry: TraceInterval): string[] {
  const trial = entry.cpu?.trial;
  const lines: string[] = [];
  // A trial abandoned in the interval a new one starts shows in the decision line only.
  const why = abandonedBecause(entry.cpu?.trial);
  if (trial?.event === 'abandoned' || why !== undefined) lines.push(`  trial abandoned: ${why ?? 'demands changed before it was measured'}`);
  if (!trial) return lines;
  const before = fairPercent(trial.baseline?.worstFraction);
  const tried = fairPercent(trial.measured?.worstFraction);
  if (replacesLostTrial(trial)) lines.push(`  trial measured worse: worst ${tried} of fair share (before ${before}): another placement tried instead of going back`);
  if (trial.event === 'started') lines.push(`  trial started (demand epoch ${trial.epoch}): the placement left delivered worst ${before} of fair share`);
  else if (trial.event === 'kept') lines.push(`  trial kept: worst ${tried} of fair share (before ${before})`);
  else if (trial.event === 'reverted') lines.push(`  trial reverted: worst ${tried} of fair share (before ${before}), measured worse: the moved vCPUs go back`);
  return lines;
}

export function formatMemoryMonitor(entry: TraceInterval): string[] {
  if (!entry.memory) return [];
  return entry.memory.guests.map((g) => {
    const unused = g.unusedKiB === undefined ? 'n/a' : (g.unusedKiB / MiB).toFixed(1);
    return `Memory (VM: ${g.domain})  Actual [${(g.actualKiB / MiB).toFixed(1)}], Unused: [${unused}]`;
  });
}

export function formatAction(action: Action): string {
  switch (action.kind) {
    case 'pin':
      return `pin ${action.domain.name} vCPU${action.vcpu} [${action.previous.join(',')}] -> [${action.pcpus.join(',')}]: ${action.reason}`;
    case 'set-memory':
      return `balloon ${action.domain.name} ${(action.fromKiB / MiB).toFixed(0)} -> ${(action.targetKiB / MiB).toFixed(0)} MiB: ${action.reason}`;
    case 'set-stats-period':
      return `stats period ${action.domain.name} = ${action.seconds} s: ${action.reason}`;
    case 'set-cpu-weight':
      return `CPU weight ${action.domain.name} ${action.previous} -> ${action.weight}: ${action.reason}`;
    case 'resize-memory-device':
      return `virtio-mem ${action.domain.name} ${(action.fromKiB / MiB).toFixed(0)} -> ${(action.requestedKiB / MiB).toFixed(0)} MiB requested: ${action.reason}`;
  }
}

/** Everything a person watching the terminal should see for one interval. */
export function formatInterval(entry: TraceInterval, dryRun = false): string[] {
  const lines = [`--- interval ${entry.interval} (t=${(entry.timeMs / 1000).toFixed(1)} s)`];
  lines.push(...formatCpuMonitor(entry), ...formatTrialMonitor(entry), ...formatMemoryMonitor(entry));
  const prefix = dryRun ? '  [dry-run] ' : '  > ';
  for (const action of entry.actions) lines.push(prefix + formatAction(action));
  for (const failure of entry.failures) lines.push(`  ! ${formatAction(failure.action)} failed: ${failure.error}`);
  for (const notice of entry.notices) lines.push(`  ~ ${notice.domain ? notice.domain + ': ' : ''}${notice.message}`);
  for (const oom of entry.truth?.oomEvents ?? []) lines.push(`  !! OOM in ${oom.domain}: wanted ${(oom.demandKiB / MiB).toFixed(0)} MiB, had ${(oom.actualKiB / MiB).toFixed(0)} MiB`);
  return lines;
}
