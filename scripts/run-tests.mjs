#!/usr/bin/env node
// The test run behind `npm test` and `npm run test:lab`: `node --test`, one file at a time, with
// node's usual reporter (spec on a terminal, TAP otherwise) and scripts/test-summary.mjs after it,
// which ends the run naming every skipped suite and its reason and saying how many real-VM tests ran.
//
//   node scripts/run-tests.mjs [PATH...]   PATH defaults to dist/test/
//   node scripts/run-tests.mjs --lab       the real-VM tests alone (dist/test/lab/*-e2e.test.js)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REAL_VM_FILE } from './test-summary.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let paths = args;
if (args[0] === '--lab') {
  const dir = join(repo, 'dist', 'test', 'lab');
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    console.error(`run-tests: no ${dir}; build first (npm run -s build)`);
    process.exit(2);
  }
  paths = names.filter((n) => n.endsWith('.js') && REAL_VM_FILE.test(join(dir, n))).sort().map((n) => join(dir, n));
} else if (args.some((a) => a.startsWith('-'))) {
  console.error(`run-tests: unknown option ${args.find((a) => a.startsWith('-'))} (usage: run-tests.mjs [--lab | PATH...])`);
  process.exit(2);
}
if (paths.length === 0) paths = [join(repo, 'dist', 'test')];

// A hung test fails after 15 min (the longest takes under 3); a file that never exits (a child
// process left alive) ends the whole run after RUN_LIMIT_MIN with one line, not at CI's own timeout.
const TEST_LIMIT_MS = 15 * 60_000;
const RUN_LIMIT_MIN = Number(process.env.VB_TEST_RUN_LIMIT_MIN ?? 60);
if (!(RUN_LIMIT_MIN > 0)) {
  console.error(`run-tests: VB_TEST_RUN_LIMIT_MIN must be a number of minutes above 0, not '${process.env.VB_TEST_RUN_LIMIT_MIN}'`);
  process.exit(2);
}

const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const summary = join(repo, 'scripts', 'test-summary.mjs');
const child = spawn(process.execPath, [
  '--test', '--test-concurrency=1', `--test-timeout=${TEST_LIMIT_MS}`,
  `--test-reporter=${reporter}`, '--test-reporter-destination=stdout',
  `--test-reporter=${summary}`, '--test-reporter-destination=stdout',
  ...paths,
], { stdio: 'inherit', detached: true });
const watchdog = setTimeout(() => {
  console.error(`run-tests: the run exceeded ${RUN_LIMIT_MIN} min (VB_TEST_RUN_LIMIT_MIN); stopped it. The last test file named above did not end.`);
  process.kill(-child.pid, 'SIGKILL'); // the runner and every test file and browser it started
  process.exit(1);
}, RUN_LIMIT_MIN * 60_000);
watchdog.unref();
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.kill(-child.pid, sig));
