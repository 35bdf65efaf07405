// Clients no one here wrote: virsh, python3-libvirt, and C programs built against libvirt-dev.
// Outside CI a missing tool skips the test with a message; under CI=true it fails it.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { IN_CI } from '../libvirt/daemon.js';

export const run = promisify(execFile);
export const C_SOURCES = fileURLToPath(new URL('../../../test/serve/c/', import.meta.url));

const PROBES: Record<string, { cmd: string; args: string[]; install: string }> = {
  virsh: { cmd: 'virsh', args: ['--version'], install: 'apt-get install libvirt-clients' },
  python: { cmd: '/usr/bin/python3', args: ['-c', 'import libvirt'], install: 'apt-get install python3-libvirt' },
  cc: { cmd: 'sh', args: ['-c', 'command -v gcc && pkg-config --exists libvirt'], install: 'apt-get install gcc libvirt-dev pkg-config' },
};

/** True when the tool is there; otherwise skips the test (or, under CI, throws). */
export function need(t: TestContext, tool: keyof typeof PROBES): boolean {
  const p = PROBES[tool]!;
  if (spawnSync(p.cmd, p.args, { stdio: 'ignore' }).status === 0) return true;
  const msg = `${tool} is missing (${p.install}; scripts/libvirt-test-host.sh installs it)`;
  if (IN_CI) throw new Error(msg);
  console.error(`SKIPPED: ${msg}`);
  t.skip(msg);
  return false;
}

/** Compiles test/serve/c/NAME.c against libvirt; returns the binary's path. */
export async function buildC(name: string): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'vb-c-')), name);
  const flags = (await run('pkg-config', ['--cflags', '--libs', 'libvirt'])).stdout.trim().split(/\s+/).filter(Boolean);
  await run('gcc', ['-O1', '-Wall', '-Werror', '-o', out, join(C_SOURCES, `${name}.c`), ...flags]);
  return out;
}
