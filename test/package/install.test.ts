import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { dashboardUrlOf, get, repoRoot, startProgram } from '../web/helpers.js';

// The package as a user gets it: `npm pack` on a clean copy of the sources (no dist/, so the
// prepack build must make one), the tarball installed with `npm install -g` into a temporary
// prefix, and the installed commands run from a directory that is not the repository.
// Dependencies come from npm's cache when they are there (--prefer-offline).

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface PackedFile {
  path: string;
}

/** The files git would put in a fresh clone, as they are now in the working tree. */
async function sourceFiles(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 16 << 20 });
  return stdout.split('\0').filter((f) => f !== '' && existsSync(join(repoRoot, f)));
}

function copyTree(files: string[], to: string): void {
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(repoRoot, f), join(to, f));
  }
}

test('npm pack builds and ships only what users run; the installed commands work from anywhere', { timeout: 180_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'virtbalance-package-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const clone = join(work, 'clone');
  copyTree(await sourceFiles(), clone);
  assert.equal(existsSync(join(clone, 'dist')), false, 'a fresh clone has no dist/');
  // The build needs the dev dependencies (TypeScript); the clone borrows ours instead of installing them again.
  symlinkSync(join(repoRoot, 'node_modules'), join(clone, 'node_modules'), 'dir');

  const packed = await run(npm, ['pack', '--json', '--pack-destination', work], { cwd: clone, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: PackedFile[] }[];
  assert.match(packed.stderr, /^virtbalance: building the package/m, 'the build before packing says so');
  const paths = info!.files.map((f) => f.path);
  t.diagnostic(`${paths.length} files in ${info!.filename}`);

  // What users run is there...
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
  for (const bin of Object.values(pkg.bin)) {
    assert.ok(paths.includes(bin), `bin ${bin} is packed`);
  }
  for (const needed of ['README.md', 'package.json', 'src/web/page/index.html', 'guest/workload.c', 'scenarios/demo-grader.yaml', 'systemd/virtbalance.service', 'systemd/virtbalance.sysusers', 'docs/config.md', 'docs/service.md', 'deploy/prometheus/virtbalance.rules.yml', 'deploy/grafana/virtbalance-fleet.json']) {
    assert.ok(paths.includes(needed), `${needed} is packed`);
  }
  // ...and nothing users don't: no tests, benches, TypeScript sources, maps, CI or dev scripts.
  const unwanted = paths.filter((p) => /^(dist\/)?(test|bench)\//.test(p) || /\.ts$|\.map$/.test(p) || /^(\.ci|scripts|src\/(?!web\/page\/))/.test(p) || p.startsWith('tsconfig'));
  assert.deepEqual(unwanted, []);
  // A bound that catches a whole folder shipped by mistake (test/ alone is over 100 files), not the growth of the sources.
  assert.ok(paths.length < 260, `${paths.length} files`);

  const prefix = join(work, 'prefix');
  await run(npm, ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(work, info!.filename)], { cwd: work, maxBuffer: 16 << 20 });
  const bin = (name: string) => join(prefix, 'bin', name);
  for (const name of ['virtbalance', 'vcpu_scheduler', 'memory_coordinator']) assert.ok(statSync(bin(name)).mode & 0o111, `${name} is executable`);
  // systemd/virtbalance.service runs the CLI by this path under npm's default prefix /usr/local.
  const unitScript = /\/usr\/local\/lib\/node_modules\/virtbalance\/(\S+)/.exec(readFileSync(join(repoRoot, 'systemd/virtbalance.service'), 'utf8').split('\n').find((l) => l.startsWith('ExecStart='))!)![1]!;
  assert.ok(statSync(join(prefix, 'lib/node_modules/virtbalance', unitScript)).isFile(), `the unit's ${unitScript} is installed`);

  // Elsewhere: a directory with no repository above it, so nothing can come from our tree.
  const elsewhere = join(work, 'elsewhere');
  mkdirSync(elsewhere);
  const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };

  const sim = await run(bin('virtbalance'), ['sim', 'demo-grader', '--quiet'], { cwd: elsewhere, env });
  assert.match(sim.stdout, /=== score of demo-grader/);
  const trace = join(elsewhere, 'out', 'demo-grader', 'trace.jsonl');
  assert.ok(statSync(trace).size > 0);

  const usage = await run(bin('vcpu_scheduler'), [], { cwd: elsewhere, env }).then(
    () => assert.fail('vcpu_scheduler without an interval must fail'),
    (err: { code: number; stderr: string; stdout: string }) => err,
  );
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: vcpu_scheduler <interval/);
  assert.doesNotMatch(usage.stderr, /\n\s+at /, 'no stack trace');

  const report = await run(bin('virtbalance'), ['report', 'out/demo-grader/trace.jsonl'], { cwd: elsewhere, env });
  assert.match(report.stdout + report.stderr, /trace\.html/);
  assert.match(readFileSync(join(elsewhere, 'out', 'demo-grader', 'trace.html'), 'utf8'), /<svg/);

  // The dashboard's page and uPlot come from the installed package.
  const live = startProgram(bin('virtbalance'), ['sim', 'cpu-1-balanced', '--quiet', '--http', '127.0.0.1:0', '--pace', '50'], elsewhere, env);
  try {
    const url = await dashboardUrlOf(live);
    assert.match((await get(url)).body, /<html/i);
    assert.equal((await get(`${url}assets/uplot.js`)).status, 200);
    assert.ok((await get(`${url}metrics`)).body.includes(`virtbalance_build_info{version="${pkg.version}"`), 'build info names the installed version');
  } finally {
    live.child.kill('SIGTERM');
    await live.exited;
  }
});
