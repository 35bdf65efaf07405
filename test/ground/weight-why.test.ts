import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRestoredWeight, renderWeightReason, type WeightWhy } from '../../src/ground/weight-why.js';

// The one place CPU weight reason prose is asserted: everywhere else tests read the why's data.
const cases: [string, WeightWhy, string][] = [
  ['db', { rule: 'lever', from: 3, to: 6, figures: { floor: 3, lever: 'its window ends by the clock' } }, 'db: CPU weight 3 → 6 (cpu_shares 3072 → 6144), lever (fair shares still count weight 3): its window ends by the clock'],
  ['db', { rule: 'lever-released', from: 6, to: 3, figures: { configured: true } }, 'db: CPU weight 6 → 3 (cpu_shares 6144 → 3072), lever released: back to vms.db.cpuWeight'],
  ['burst', { rule: 'lever-released', from: 4, to: 1, figures: { configured: false } }, 'burst: CPU weight 4 → 1 (cpu_shares 4096 → 1024), lever released: back to the weight it had before'],
  ['web', { rule: 'configured', from: 1, to: 2, figures: { trigger: { event: 'first-seen' }, leverAskedNoMore: false } }, 'web: CPU weight 1 → 2 (cpu_shares 1024 → 2048), vms.web.cpuWeight; first seen in scope'],
  ['db', { rule: 'configured', from: 1, to: 3, figures: { trigger: { event: 'running-again' }, leverAskedNoMore: false } }, 'db: CPU weight 1 → 3 (cpu_shares 1024 → 3072), vms.db.cpuWeight; running again after it was gone'],
  ['db', { rule: 'configured', from: 1, to: 3, figures: { trigger: { event: 'restarted' }, leverAskedNoMore: false } }, 'db: CPU weight 1 → 3 (cpu_shares 1024 → 3072), vms.db.cpuWeight; restarted (its vCPU time began again from zero)'],
  ['db', { rule: 'configured', from: 1, to: 3, figures: { trigger: { event: 'changed-elsewhere', wanted: 3, observed: 1 }, leverAskedNoMore: false } }, 'db: CPU weight 1 → 3 (cpu_shares 1024 → 3072), vms.db.cpuWeight; its cpu_shares went from 3072 to 1024 (restarted, or changed by someone else)'],
  ['db', { rule: 'configured', from: 1.0004, to: 3, figures: { leverAskedNoMore: true } }, 'db: CPU weight 1 → 3 (cpu_shares 1024 → 3072), vms.db.cpuWeight; configured (the lever asked no more)'],
  ['db', { rule: 'configured', from: 1, to: 2.5, figures: { leverAskedNoMore: false } }, 'db: CPU weight 1 → 2.5 (cpu_shares 1024 → 2560), vms.db.cpuWeight; configured'],
  ['x', { rule: 'lever-no-more', from: 4, to: 1, figures: {} }, 'x: CPU weight 4 → 1 (cpu_shares 4096 → 1024), lever asked no more than its weight'],
  ['db', { rule: 'restore', from: 3, to: 1, figures: {} }, 'restore: CPU weight 3 → 1 (cpu_shares 3072 → 1024), as found before the run set it'],
];

test('renderWeightReason says each rule as the log always has; --restore logs the change without its prefix', () => {
  for (const [name, why, text] of cases) assert.equal(renderWeightReason(name, why), text, why.rule);
  assert.equal(renderRestoredWeight({ rule: 'restore', from: 3, to: 1, figures: {} }), 'CPU weight 3 → 1 (cpu_shares 3072 → 1024), as found before the run set it');
});
