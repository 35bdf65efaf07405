// The 10,000-interval soak is not part of the default suite (`node --test dist/test/`): it lives in
// soak/, runs with `npm run soak`, and CI runs it after the suite, saying where it is every 1,000 intervals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { progressInterval } from '../../soak/soak-run.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

test('no soak in test/, npm run soak runs soak/, CI runs it, a line every 1,000 intervals', () => {
  const inSuite = files(join(ROOT, 'test')).filter((f) => /soak/.test(f.split('/').pop()!) && !f.endsWith('soak-placement.test.ts'));
  assert.deepEqual(inSuite, [], 'the soak runs outside the default suite');
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.soak ?? '', /node --test dist\/soak\/$/);
  assert.doesNotMatch(scripts['test:unit']!, /soak/);
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^node --test dist\/soak\/$/m);
  assert.equal(progressInterval(10_000), 1_000);
  assert.equal(progressInterval(200), 20);
});
