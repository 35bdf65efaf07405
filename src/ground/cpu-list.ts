// pCPU lists as people read them and as sets.

/** `0-3,6` for [0,1,2,3,6] (sorted input); empty for none. */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(j > i ? `${cpus[i]}-${cpus[j]}` : `${cpus[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Whether two pCPU lists name the same pCPUs, whatever their order or repeats. */
export function sameCpuSet(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length === b.length && a.every((x, i) => x === b[i])) return true;
  // Two strictly increasing lists (every normalised affinity) that differ are different sets: no
  // sorting (the scheduler compares 4,000 released vCPUs' 256-pCPU sets per decision).
  if (strictlyIncreasing(a) && strictlyIncreasing(b)) return false;
  const sa = [...new Set(a)].sort((x, y) => x - y);
  const sb = [...new Set(b)].sort((x, y) => x - y);
  return sa.length === sb.length && sa.every((v, k) => v === sb[k]);
}

function strictlyIncreasing(list: readonly number[]): boolean {
  for (let k = 1; k < list.length; k++) if (!(list[k]! > list[k - 1]!)) return false;
  return true;
}
