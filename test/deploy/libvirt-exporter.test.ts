// The names a fleet reads: with `--libvirt-names` (config `metrics.libvirtNames`), /metrics carries
// the per-domain series of Debian's prometheus-libvirt-exporter 0.2.0. The real exporter runs beside
// a real `virtbalance run` on the same domains, and the two must agree on names, HELP and TYPE,
// label sets, units and values: once on the simulated host served over libvirt's protocol (eight
// guests), once on the real libvirtd with a tiny throwaway QEMU domain this test creates and
// removes (it touches no other domain: the run is scoped to it, in dry run).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dashboardUrlOf, get, startCli, type CliRun } from '../web/helpers.js';
import { IN_CI, freePort, until } from './tools.js';

const run = promisify(execFile);
const EXPORTER = '/usr/bin/prometheus-libvirt-exporter';
const VIRSH = '/usr/bin/virsh';

function missingExporter(): string | undefined {
  try {
    accessSync(EXPORTER, constants.X_OK);
    return undefined;
  } catch {
    return `${EXPORTER} is missing (apt-get install -y --no-install-recommends prometheus-libvirt-exporter)`;
  }
}
const missing = missingExporter();
if (missing && IN_CI) throw new Error(missing);

interface Family {
  help: string;
  type: string;
  /** label set (sorted k=v) → value */
  samples: Map<string, number>;
}

/** The per-domain libvirt_domain_* families of a scrape, with only the domains kept that `keep` accepts. */
function domainFamilies(text: string, keep: (domain: string) => boolean): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help: '', type: '', samples: new Map() }));
    return f;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (libvirt_domain_\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3]!;
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    const m = /^(libvirt_domain_[a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...m[2]!.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!] as const);
    const domain = labels.find(([k]) => k === 'domain')?.[1];
    if (domain === undefined || !keep(domain)) continue;
    family(m[1]!).samples.set(labels.map(([k, v]) => `${k}=${v}`).sort().join(','), Number(m[3]));
  }
  // Families with no sample left (e.g. block stats of other domains) are not the domains' series here.
  for (const [name, f] of families) if (f.samples.size === 0) families.delete(name);
  return families;
}

/**
 * Compares our families with the exporter's: same names, HELP, TYPE, label sets; every value equal
 * but the CPU time, which we read at our last interval and the exporter at its scrape (later): ours
 * may trail by up to `cpuSlackSeconds` and never lead by more than rounding.
 */
function compare(ours: Map<string, Family>, theirs: Map<string, Family>, cpuSlackSeconds: number): string[] {
  const lines: string[] = [];
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'the same per-domain families');
  for (const [name, o] of ours) {
    const t = theirs.get(name)!;
    assert.equal(o.help, t.help, `${name}: HELP`);
    assert.equal(o.type, t.type, `${name}: TYPE`);
    assert.deepEqual([...o.samples.keys()].sort(), [...t.samples.keys()].sort(), `${name}: label sets`);
    for (const [labels, ov] of o.samples) {
      const tv = t.samples.get(labels)!;
      if (name === 'libvirt_domain_info_cpu_time_seconds_total') {
        assert.ok(ov > 0, `${name}{${labels}}: ${ov}`);
        // The exporter's figure is virDomainGetInfo's, which QEMU rounds to clock ticks (10 ms).
        assert.ok(ov <= tv + 0.011 && tv - ov <= cpuSlackSeconds, `${name}{${labels}}: ours ${ov} s, exporter ${tv} s (ours may trail by ≤ ${cpuSlackSeconds} s)`);
      } else assert.equal(ov, tv, `${name}{${labels}}`);
      lines.push(`${name}{${labels}} ours ${ov} exporter ${tv}`);
    }
  }
  return lines;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await gone;
}

/** Starts the exporter on a free loopback port against `uri`; returns it and its /metrics URL. */
async function startExporter(uri: string, log: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const fd = openSync(log, 'w');
  const child = spawn(EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, `--libvirt.uri=${uri}`], { stdio: ['ignore', fd, fd] });
  const url = `http://127.0.0.1:${port}/metrics`;
  await until('the exporter answering', 15_000, async () => ((await get(url)).status === 200 ? true : undefined));
  return { child, url };
}

/** Starts `virtbalance run` on `uri`, dry run, scoped, with the libvirt exporter's names; returns its /metrics URL. */
async function startAgent(uri: string, only: string, extra: string[] = []): Promise<{ run: CliRun; url: string }> {
  const agent = startCli(['run', '--connect', uri, '--only', only, '--dry-run', '--interval', '1', '--quiet', '--http', '127.0.0.1:0', '--libvirt-names', ...extra]);
  const base = await dashboardUrlOf(agent, 20_000);
  return { run: agent, url: `${base}metrics` };
}

/** Scrapes ours, then the exporter, right after our next interval (so ours trails by at most about one interval). */
async function scrapeBoth(ours: string, theirs: string, keep: (d: string) => boolean, families: number): Promise<[Map<string, Family>, Map<string, Family>]> {
  return until('both scrapes with the domains', 30_000, async () => {
    const before = /virtbalance_intervals_total (\d+)/.exec((await get(ours)).body)?.[1];
    for (;;) {
      const text = (await get(ours)).body;
      if (/virtbalance_intervals_total (\d+)/.exec(text)?.[1] !== before) {
        const o = domainFamilies(text, keep);
        const t = domainFamilies((await get(theirs)).body, keep);
        return o.size >= families && t.size >= families ? ([o, t] as [Map<string, Family>, Map<string, Family>]) : undefined;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}

describe("Debian's prometheus-libvirt-exporter beside us", { skip: missing, timeout: 120_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'vb-libvirt-exporter-'));
  const children: ChildProcess[] = [];
  after(async () => {
    await Promise.all(children.map(stop));
    rmSync(work, { recursive: true, force: true });
  });

  it('on the simulated host served over libvirt: the same families, HELP, TYPE, labels and values for eight guests', async () => {
    const socket = join(work, 'sim.sock');
    const served = startCli(['serve', 'demo-grader', '--socket', socket]);
    children.push(served.child);
    await until('the served host', 15_000, async () => (existsSync(socket) ? true : undefined));
    const uri = `qemu+unix:///system?socket=${socket}`;
    const exporter = await startExporter(uri, join(work, 'exporter-sim.log'));
    children.push(exporter.child);
    const agent = await startAgent(uri, 'vm*');
    children.push(agent.run.child);
    const [ours, theirs] = await scrapeBoth(agent.url, exporter.url, () => true, 5);
    // One interval (1 s) of eight busy one-vCPU guests sharing four pCPUs, plus the scrape's own time.
    const lines = compare(ours, theirs, 1.5);
    assert.equal(ours.get('libvirt_domain_info_virtual_cpus')!.samples.size, 8);
    console.log(`# sim: ${lines.length} samples agree, e.g. ${lines[0]}`);
    await stop(agent.run.child);
    await stop(exporter.child);
    await stop(served.child);
  });

  it('on the real libvirtd: a throwaway QEMU domain of our own, the same series and values', async (t) => {
    const name = `vbfleet-exp-${process.pid}`;
    const xml = join(work, `${name}.xml`);
    // No disk, no kernel: the firmware looks for something to boot and keeps its vCPU busy, which
    // is all this needs (a running domain with CPU time and a balloon). Starts in about 0.1 s under TCG.
    writeFileSync(
      xml,
      `<domain type='${existsSync('/dev/kvm') ? 'kvm' : 'qemu'}'><name>${name}</name><memory unit='MiB'>64</memory><currentMemory unit='MiB'>64</currentMemory><vcpu>1</vcpu>` +
        `<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os><devices><memballoon model='virtio'/></devices></domain>`,
    );
    try {
      await run(VIRSH, ['-c', 'qemu:///system', 'create', xml]);
    } catch (err) {
      const why = `cannot start a QEMU domain on qemu:///system: ${String((err as { stderr?: string }).stderr ?? err).trim()}`;
      if (IN_CI) throw new Error(why);
      t.skip(why);
      return;
    }
    try {
      const exporter = await startExporter('qemu:///system', join(work, 'exporter-real.log'));
      children.push(exporter.child);
      const agent = await startAgent('qemu:///system', name);
      children.push(agent.run.child);
      const [ours, theirs] = await scrapeBoth(agent.url, exporter.url, (d) => d === name, 5);
      // One interval of a domain whose QEMU (vCPU and emulator threads) may use two pCPUs.
      const lines = compare(ours, theirs, 3);
      assert.equal(ours.get('libvirt_domain_info_memory_usage_bytes')!.samples.size, 1);
      assert.equal([...ours.get('libvirt_domain_info_memory_usage_bytes')!.samples.values()][0], 64 * 1024 * 1024);
      console.log(`# real: ${lines.join('; ')}`);
      await stop(agent.run.child);
      await stop(exporter.child);
    } finally {
      await run(VIRSH, ['-c', 'qemu:///system', 'destroy', name]).catch(() => undefined);
    }
  });
});
