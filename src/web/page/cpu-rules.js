// Rules the dashboard page shares with the rest of virtbalance, in a plain script (no build step):
// loaded before dashboard.js, and evaluated by test/web/cpu-rules.test.ts in node:vm.
(function (root) {
  'use strict';

  /**
   * Width of the balance band in percentage points: a spread at or below it counts as balanced,
   * drawn as mean ± half of it. The same figure as the score and the report's plot
   * (src/score/cpu.ts, defaultCpuScoreOptions.balanceThresholdPoints); a test holds them equal.
   */
  const BALANCE_BAND_POINTS = 5;

  /**
   * Which pCPUs are crowded: their vCPUs want more than the pCPU runs them AND more than its fair
   * part of all the demand (the total over the pCPUs, divided evenly). When every pCPU is
   * overcommitted alike, as in a normal steady state of more busy vCPUs than pCPUs, none is
   * singled out. Fractions of a pCPU in, one entry per pCPU out.
   */
  function crowdedPcpus(usage, demand) {
    const n = Math.max(usage.length, demand.length);
    let total = 0;
    for (let p = 0; p < n; p++) total += demand[p] ?? usage[p] ?? 0;
    const fair = n > 0 ? total / n : 0;
    const out = [];
    for (let p = 0; p < n; p++) {
      const u = usage[p] ?? 0;
      const d = demand[p] ?? u;
      out.push({ crowded: d > u + 0.05 && d > fair + 0.05, demand: d, fair });
    }
    return out;
  }

  /**
   * Where a vCPU allowed on several pCPUs counts: the measured usage per pCPU pours such a vCPU over
   * its set, the least loaded pCPUs first; this replays that pour and gives each vCPU what its pour
   * added to each pCPU, so a pCPU's parts add up to its figure (scaled to it, should they differ).
   * The same rule as src/control/shared-split.ts (the monitor's); a test holds them equal. Per
   * vCPU: a Map pCPU → usage counted there, or undefined for a single-pinned vCPU.
   */
  function sharedSplit(vcpus, pcpuUsage) {
    const pcpus = pcpuUsage.length;
    const levels = new Array(pcpus).fill(0);
    const flexible = [];
    vcpus.forEach((v, index) => {
      const affinity = v.affinity.filter((p) => p >= 0 && p < pcpus);
      if (affinity.length === 1) levels[affinity[0]] = levels[affinity[0]] + v.usage;
      else if (affinity.length > 1) flexible.push({ index, affinity, usage: v.usage });
    });
    const pinned = [...levels];
    flexible.sort((a, b) => a.affinity.length - b.affinity.length || b.usage - a.usage);
    const out = vcpus.map(() => undefined);
    for (let k = 0; k < flexible.length; ) {
      const affinity = flexible[k].affinity;
      let next = k + 1;
      while (next < flexible.length && flexible[next].affinity.join(',') === affinity.join(',')) next++;
      const run = flexible.slice(k, next);
      const amount = run.reduce((sum, v) => sum + v.usage, 0);
      const before = affinity.map((p) => levels[p]);
      pourLevel(levels, affinity, amount);
      for (const v of run) {
        const share = amount > 0 ? Math.max(0, v.usage) / amount : 0;
        out[v.index] = new Map(affinity.map((p, j) => [p, (levels[p] - before[j]) * share]));
      }
      k = next;
    }
    const sums = new Array(pcpus).fill(0);
    for (const parts of out) for (const [p, part] of parts ?? []) sums[p] = sums[p] + part;
    for (const parts of out) {
      for (const [p, part] of parts ?? []) {
        const left = Math.max(0, pcpuUsage[p] - pinned[p]);
        if (sums[p] > 0 && Math.abs(sums[p] - left) > 1e-12) parts.set(p, (part * left) / sums[p]);
      }
    }
    return out;
  }

  /** Adds `amount` over the pCPUs in `where`, raising the lowest to a common level (src/cpu/usage.ts, pourLevel). */
  function pourLevel(levels, where, amount) {
    if (amount <= 0) return;
    const order = [...where].sort((a, b) => (levels[a] ?? 0) - (levels[b] ?? 0));
    let sum = 0;
    let count = 0;
    let level = 0;
    for (let k = 0; k < order.length; k++) {
      sum += levels[order[k]] ?? 0;
      count = k + 1;
      level = (sum + amount) / count;
      const next = order[k + 1];
      if (next === undefined || level <= (levels[next] ?? 0)) break;
    }
    for (let k = 0; k < count; k++) levels[order[k]] = level;
  }

  root.virtbalanceRules = { BALANCE_BAND_POINTS, crowdedPcpus, sharedSplit };
})(globalThis);
