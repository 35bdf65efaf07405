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
   * Where a vCPU allowed on several pCPUs counts: its usage split over its set so that, with the
   * single-pinned vCPUs, every pCPU's parts add up to its measured usage (which pours such a vCPU
   * over its set). The same rule as src/control/shared-split.ts (the monitor's); a test holds them
   * equal. Per vCPU: a Map pCPU → usage counted there, or undefined for a single-pinned vCPU.
   */
  function sharedSplit(vcpus, pcpuUsage) {
    const left = pcpuUsage.map((u) => u);
    for (const v of vcpus) if (v.affinity.length === 1 && left[v.affinity[0]] !== undefined) left[v.affinity[0]] -= v.usage;
    const groups = new Map();
    vcpus.forEach((v, i) => {
      if (v.affinity.length < 2) return;
      const key = v.affinity.join(',');
      const g = groups.get(key) ?? { pcpus: v.affinity.filter((p) => p >= 0 && p < pcpuUsage.length), total: 0, members: [] };
      g.total += Math.max(0, v.usage);
      g.members.push(i);
      groups.set(key, g);
    });
    const list = [...groups.values()].filter((g) => g.pcpus.length > 0);
    const parts = list.map((g) => g.pcpus.map(() => g.total / g.pcpus.length));
    const scaleColumns = () => {
      const sums = new Map();
      list.forEach((g, k) => g.pcpus.forEach((p, j) => sums.set(p, (sums.get(p) ?? 0) + parts[k][j])));
      list.forEach((g, k) => g.pcpus.forEach((p, j) => {
        const sum = sums.get(p);
        parts[k][j] = sum > 0 ? (parts[k][j] * Math.max(0, left[p])) / sum : 0;
      }));
    };
    for (let round = 0; round < 30; round++) {
      scaleColumns();
      list.forEach((g, k) => {
        const sum = parts[k].reduce((a, b) => a + b, 0);
        if (sum > 0) parts[k] = parts[k].map((x) => (x * g.total) / sum);
      });
    }
    scaleColumns();
    const out = vcpus.map(() => undefined);
    list.forEach((g, k) => {
      for (const i of g.members) {
        const share = g.total > 0 ? Math.max(0, vcpus[i].usage) / g.total : 0;
        out[i] = new Map(g.pcpus.map((p, j) => [p, parts[k][j] * share]));
      }
    });
    return out;
  }

  root.virtbalanceRules = { BALANCE_BAND_POINTS, crowdedPcpus, sharedSplit };
})(globalThis);
