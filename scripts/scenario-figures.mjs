// Prints the score of every shipped scenario as Markdown tables (for docs/results.md).
// Usage: npm run build && node scripts/scenario-figures.mjs
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../dist/src/host/sim/index.js';
import { simulateScenario } from '../dist/src/control/simulate.js';
import { scoreTrace } from '../dist/src/score/index.js';
import { shippedScenariosDir } from '../dist/src/app/target.js';

const fmt = (v, digits = 1) => (v === undefined || v === null ? '–' : typeof v === 'number' ? v.toFixed(digits) : String(v));
const cpuRows = [];
const memRows = [];
const cacheRows = [];
for (const file of readdirSync(shippedScenariosDir).filter((f) => f.endsWith('.yaml')).sort()) {
  const scenario = loadScenario(join(shippedScenariosDir, file));
  process.stderr.write(`scoring ${scenario.name} ...\n`);
  const score = scoreTrace(await simulateScenario(scenario));
  if (score.cpu) {
    const c = score.cpu;
    const f = c.fairness;
    cpuRows.push(`| ${scenario.name} | ${fmt(c.spread?.mean)} | ${fmt(c.spread?.final)} | ${c.balancedAtInterval ?? 'never'} | ${c.pinChanges.total} | ${c.pinChanges.afterBalance ?? '–'} | ${fmt(f?.jainWithinGroupsMin, 3)} | ${fmt((f?.meanFractionOfFairShare ?? NaN) * 100)} % | ${fmt((f?.worstFractionOfFairShare?.fraction ?? NaN) * 100)} % |`);
  }
  if (score.memory) {
    const m = score.memory;
    memRows.push(`| ${scenario.name} | ${m.starvedIntervals} / ${m.intervals} | ${m.oom.total} | ${fmt(m.host ? m.host.minFreeKiB / 1024 : undefined, 0)} MiB | ${m.host?.belowReserve ? 'yes' : 'no'} | ${m.growth.count ? fmt(m.growth.maxIntervals, 0) : '–'} | ${m.reclaim.count ? fmt(m.reclaim.maxIntervals, 0) : '–'} |`);
    // Page cache figures for the scenarios whose guests read files.
    const c = m.cache;
    if (c && scenario.domains.some((d) => d.reads.length > 0)) {
      const worst = [...c.guests].sort((a, b) => b.coldMiBSeconds - a.coldMiBSeconds)[0];
      cacheRows.push(`| ${scenario.name} | ${fmt(c.coldMiBSeconds, 0)} | ${worst ? `${worst.domain} ${fmt(worst.coldMiBSeconds, 0)}` : '–'} | ${fmt(c.refaultMiB, 0)} | ${fmt(c.coordinatorRefaultMiB, 0)} | ${fmt(c.readStallSeconds)} |`);
    }
  }
}
console.log('| scenario | spread mean (pts) | spread final | balanced at interval | pin changes | after balance | Jain, equal-demand groups (min) | mean of fair share | worst of fair share |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
console.log(cpuRows.join('\n'));
console.log('');
console.log('| scenario | intervals starved | OOM events | host free, lowest | below reserve | growth met within (max intervals) | reclaimed within (max intervals) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(memRows.join('\n'));
console.log('');
console.log('| scenario | cold cache held (MiB·s) | most held by | refaults (MiB) | caused by the coordinator (MiB) | read stall (s) |');
console.log('| --- | --- | --- | --- | --- | --- |');
console.log(cacheRows.join('\n'));
