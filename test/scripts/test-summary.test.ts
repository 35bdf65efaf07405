// The end of a test run (issue #20, friction 3): node's own counts said only `# skipped 32` when no
// real-VM test ran. scripts/test-summary.mjs names every skipped suite and reason and ends with how
// many real-VM tests ran; scripts/run-tests.mjs (npm test, npm run test:lab) adds it to the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const runner = join(repo, 'scripts', 'run-tests.mjs');

interface Event { type: string; data: { name: string; file?: string; skip?: string | boolean; details?: { type?: string } } }
const { summarize } = (await import(pathToFileURL(join(repo, 'scripts', 'test-summary.mjs')).href)) as {
  summarize: (events: Event[], options?: { cwd?: string }) => string[];
};

const LAB = '/r/dist/test/lab';
const pass = (file: string, name: string, skip?: string | boolean): Event => ({ type: 'test:pass', data: { name, file, ...(skip === undefined ? {} : { skip }) } });
const fail = (file: string, name: string): Event => ({ type: 'test:fail', data: { name, file } });
const suite = (file: string, name: string, skip?: string): Event => ({ type: 'test:pass', data: { name, file, details: { type: 'suite' }, ...(skip ? { skip } : {}) } });

test('no daemon: the last line says no real-VM test ran, and the skip lines say why, per file', () => {
  const why = 'no libvirtd at qemu:///system: connect ENOENT';
  const lines = summarize([
    pass(`${LAB}/lab-e2e.test.js`, 'balloon', why),
    pass(`${LAB}/lab-e2e.test.js`, 'oom', why),
    suite(`${LAB}/lab-e2e.test.js`, 'lab e2e'),
    pass(`${LAB}/cache-e2e.test.js`, 'scan', why),
    pass(`${LAB}/plan.test.js`, 'a unit test beside them'),
    pass('/r/dist/test/score/score.test.js', 'score'),
  ], { cwd: '/r' });
  assert.deepEqual(lines, [
    `skipped 2 tests in dist/test/lab/lab-e2e.test.js: ${why}`,
    `skipped 1 test in dist/test/lab/cache-e2e.test.js: ${why}`,
    'real-VM tests: NONE ran (0 passed, 0 failed, 3 skipped: see above) in 2 files',
  ]);
});

test('real-VM tests that ran are counted, passed and failed apart; a skipped suite is named though node does not count it', () => {
  const lines = summarize([
    pass(`${LAB}/vcpu-scheduler-e2e.test.js`, 'spreads'),
    fail(`${LAB}/memory-coordinator-e2e.test.js`, 'never starved'),
    pass(`${LAB}/mixed-case-e2e.test.js`, 'pins', 'the mixed case is sized for a 2-pCPU host, this one has 4'),
    suite('/r/dist/test/deploy/prometheus.test.js', 'Prometheus scraping two agents', 'promtool is missing'),
    pass('/r/dist/test/lab/workload-c.test.js', 'cpu', true),
  ], { cwd: '/r' });
  assert.deepEqual(lines, [
    'skipped suite "Prometheus scraping two agents" (dist/test/deploy/prometheus.test.js): promtool is missing',
    'skipped 1 test in dist/test/lab/mixed-case-e2e.test.js: the mixed case is sized for a 2-pCPU host, this one has 4',
    'skipped 1 test in dist/test/lab/workload-c.test.js: no reason given',
    'real-VM tests: 2 ran (1 passed, 1 failed, 1 skipped: see above) in 3 files',
  ]);
  assert.deepEqual(summarize([pass('/r/dist/test/score/score.test.js', 'score')], { cwd: '/r' }), ['real-VM tests: none in this run']);
});

test('run-tests.mjs runs node --test with the summary at the end, and keeps its exit code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vb-run-tests-'));
  try {
    mkdirSync(join(dir, 'lab'));
    writeFileSync(join(dir, 'lab', 'guest-e2e.test.mjs'), [
      "import { describe, test } from 'node:test';",
      "test('boots', () => {});",
      "test('measures', (t) => t.skip('no libvirtd at qemu:///system'));",
      "describe('prometheus', { skip: 'promtool is missing' }, () => { test('scrapes', () => {}); });",
    ].join('\n'));
    writeFileSync(join(dir, 'unit.test.mjs'), "import { test } from 'node:test';\ntest('adds', () => {});\n");
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // set for this file by the outer `node --test`; the inner run must be a runner of its own
    const ok = spawnSync(process.execPath, [runner, dir], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    const tail = ok.stdout.trimEnd().split('\n').slice(-3);
    assert.deepEqual(tail, [
      '# skipped suite "prometheus" (lab/guest-e2e.test.mjs, real-VM): promtool is missing',
      '# skipped 1 test in lab/guest-e2e.test.mjs: no libvirtd at qemu:///system',
      '# real-VM tests: 1 ran (1 passed, 0 failed, 1 skipped, 1 suite skipped: see above) in 1 file',
    ]);

    writeFileSync(join(dir, 'unit.test.mjs'), "import { test } from 'node:test';\ntest('adds', () => { throw new Error('wrong'); });\n");
    const bad = spawnSync(process.execPath, [runner, dir], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 1, 'a failing test fails the run');
    assert.match(bad.stdout.trimEnd().split('\n').at(-1)!, /^# real-VM tests: 1 ran/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run-tests.mjs: an unknown option is one line and exit 2', () => {
  const r = spawnSync(process.execPath, [runner, '--labs'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'run-tests: unknown option --labs (usage: run-tests.mjs [--lab | PATH...])\n');
});
