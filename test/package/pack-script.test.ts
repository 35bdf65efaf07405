// `npm pack` spent about 15 s building in silence and left its tarball untracked (issue #20,
// friction 7). Cheap checks here; test/package/install.test.ts runs the real pack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../web/helpers.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; scripts: Record<string, string> };

test('prepack says what it builds before the build, on stderr (npm pack --json keeps stdout)', () => {
  const steps = pkg.scripts.prepack!.split('&&').map((s) => s.trim());
  const build = steps.findIndex((s) => /\bnpm run -s build:package\b/.test(s));
  assert.ok(build > 0, `a step before the build: ${pkg.scripts.prepack}`);
  const before = spawnSync('sh', ['-c', steps.slice(0, build).join(' && ')], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(before.status, 0, before.stderr);
  assert.equal(before.stdout, '');
  assert.match(before.stderr, /^virtbalance: building .*dist\/src.*\d+ s/);
});

test('the tarball npm pack leaves is ignored by git', () => {
  const tarball = `${pkg.name}-${pkg.version}.tgz`;
  const r = spawnSync('git', ['check-ignore', '-q', '--no-index', tarball], { cwd: repoRoot });
  assert.equal(r.status, 0, `${tarball} is not ignored`);
});
