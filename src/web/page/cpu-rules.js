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

  root.virtbalanceRules = { BALANCE_BAND_POINTS, crowdedPcpus };
})(globalThis);
