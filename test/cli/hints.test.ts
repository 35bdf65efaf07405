// The commands a run suggests next work where it ran (issue #20, friction 4): run through npm
// (`npm start` in a checkout, `npx virtbalance`), the bins are not on the PATH, so the hints say
// `npx virtbalance`; run as an installed command, `virtbalance`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vb-hints-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function simHints(npmCommand: string | undefined): string[] {
  const env: NodeJS.ProcessEnv = { ...process.env, VIRTBALANCE_DEBUG: '' };
  delete env.npm_command;
  if (npmCommand !== undefined) env.npm_command = npmCommand;
  const r = spawnSync(process.execPath, [BIN, 'sim', 'cpu-1-balanced', '--quiet', '--intervals', '2', '--out', dir], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => /virtbalance (report|sim) /.test(l));
}

test('under npm start or npx, the hints say npx virtbalance', () => {
  for (const how of ['start', 'exec']) {
    const hints = simHints(how);
    assert.equal(hints.length, 2, hints.join('\n'));
    for (const h of hints) assert.match(h, /^\s*(next: {2})?npx virtbalance (report|sim) /, `${how}: ${h}`);
  }
});

test('as an installed command, the hints say virtbalance', () => {
  const hints = simHints(undefined);
  assert.equal(hints.length, 2, hints.join('\n'));
  for (const h of hints) assert.match(h, /^\s*(next: {2})?virtbalance (report|sim) /, h);
});
