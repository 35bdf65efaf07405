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
  if (a.length === b.length && a.every((x, i) => x === b[i])) return true;
  const sa = [...new Set(a)].sort((x, y) => x - y);
  const sb = [...new Set(b)].sort((x, y) => x - y);
  return sa.length === sb.length && sa.every((v, k) => v === sb[k]);
}
