// The fleet rules (deploy/prometheus/virtbalance-fleet.rules.yml: the descheduler's node pressure
// and the shortfall alert) and the optional Watcher rules (deploy/prometheus/watcher.rules.yml:
// ceilometer_cpu and ceilometer_memory_usage), tested with promtool on synthetic series that cover
// Watcher's 300 s windows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../web/helpers.js';
import { IN_CI } from './tools.js';

const run = promisify(execFile);
const PROMTOOL = '/usr/bin/promtool';

function missingTools(): string | undefined {
  try {
    accessSync(PROMTOOL, constants.X_OK);
    return undefined;
  } catch {
    return `${PROMTOOL} is missing (apt-get install -y --no-install-recommends prometheus)`;
  }
}
const missing = missingTools();
if (missing && IN_CI) throw new Error(missing);

describe('the fleet and Watcher rules under promtool', { skip: missing, timeout: 60_000 }, () => {
  for (const [rules, fixture, count] of [
    ['virtbalance-fleet.rules.yml', 'virtbalance-fleet.rules.test.yml', 2],
    ['watcher.rules.yml', 'watcher.rules.test.yml', 2],
  ] as const) {
    it(`${rules}: promtool check rules, then its unit tests`, async () => {
      const checked = await run(PROMTOOL, ['check', 'rules', join(repoRoot, 'deploy/prometheus', rules)]);
      assert.match(checked.stdout, new RegExp(`SUCCESS: ${count} rules found`));
      const tested = await run(PROMTOOL, ['test', 'rules', join(repoRoot, 'test/deploy/fixtures', fixture)]);
      assert.match(tested.stdout, /SUCCESS/);
    });
  }
});
