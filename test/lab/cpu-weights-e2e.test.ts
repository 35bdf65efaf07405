// End to end on a real libvirtd: `virtbalance run --config` with `vms.NAME.cpuWeight` keeps the
// weight on a guest that starts *after* the run started, sets it again when the guest is restarted
// (a new cgroup with the default cpu_shares), never touches a configured guest out of the run's
// scope nor one not configured, and `--restore` puts back the cpu_shares it found. The guests are
// throw-away QEMU domains without an OS (they sit in their firmware; only their cgroup matters),
// named like every lab test guest (vblt<pid>…) and carrying the lab marker, so an interrupted run's
// leftovers are found and removed by the next lab test. Read back from libvirt: cpu_shares.
// Needs libvirtd with QEMU (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import type { Domain } from '../../src/libvirt/protocol.js';
import { LAB_XMLNS } from '../../src/lab/domain-xml.js';
import { OUR_GUESTS, runBin, say, until, URI, type Child, claimLabDaemon, releaseLabDaemon } from './e2e-support.js';

const TAG = 'cpu-weights-e2e';
const PREFIX = `vblt${process.pid}w_`;
/** Configured, in scope, started after the run: weight 3. */
const LATE = `${PREFIX}late`;
/** Configured but excluded from the run's scope: never weighted. */
const OUTSIDE = `${PREFIX}outside`;
/** In scope, not configured: never weighted. */
const PLAIN = `${PREFIX}plain`;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let dir: string | undefined;
const defined: Domain[] = [];
const children: Child[] = [];

function domainXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <metadata><vb:lab xmlns:vb='${LAB_XMLNS}'><vb:image>none</vb:image><vb:dir>${dir}</vb:dir></vb:lab></metadata>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='none'/></devices></domain>`;
}

async function defineAndStart(name: string): Promise<Domain> {
  const { dom } = await client!.call('domainDefineXml', { xml: domainXml(name) });
  defined.push(dom);
  await client!.call('domainCreate', { dom });
  return dom;
}

async function cpuShares(dom: Domain): Promise<number> {
  return Number((await client!.schedulerParameters(dom)).cpu_shares);
}

describe('CPU weights on a real libvirtd: kept on guests as they appear, restored on exit', { timeout: 5 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    dir = await mkdtemp(path.join(os.tmpdir(), 'vb-weights-'));
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, children, domains: defined, dir });
  });

  test('a guest started after the run gets its weight, again after a restart; out of scope and unconfigured guests keep theirs; --restore puts cpu_shares back', async (t) => {
    if (!client) return t.skip(skip);
    const config = path.join(dir!, 'virtbalance.yaml');
    await writeFile(config, `vms:\n  ${LATE}: { cpuWeight: 3 }\n  ${OUTSIDE}: { cpuWeight: 2 }\n`);
    const outside = await defineAndStart(OUTSIDE);
    const plain = await defineAndStart(PLAIN);
    const defaults = { outside: await cpuShares(outside), plain: await cpuShares(plain) };
    say(TAG, `default cpu_shares here: ${JSON.stringify(defaults)}`);

    const trace = path.join(dir!, 'trace.jsonl');
    // --quiet, as the service runs: each weight set is still a log line.
    const run = runBin(['run', '--connect', URI, '--cpu', '--interval', '1', '--config', config, '--only', OUR_GUESTS, '--exclude', OUTSIDE, '--restore', '--quiet', '--trace', trace], TAG, true);
    children.push(run);
    // The run is up and has decided twice before the guest exists.
    const intervalsIn = async () => (await readFile(trace, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"type":"interval"')).length;
    await until('the run observes', 30_000, async () => ((await intervalsIn()) >= 2 ? true : undefined));

    const late = await defineAndStart(LATE);
    const before = await cpuShares(late);
    assert.notEqual(before, 3072, 'the guest does not start with the weight');
    await until(`${LATE} weighted`, 20_000, async () => ((await cpuShares(late)) === 3072 ? true : undefined));
    assert.ok(
      run.output.some((l) => l.includes(`${LATE}: CPU weight ${before / 1024} → 3 (cpu_shares ${before} → 3072), vms.${LATE}.cpuWeight; first seen in scope`)),
      run.output.join('\n'),
    );

    // Restarted (a new QEMU process and cgroup, default cpu_shares again): set once more.
    await client.call('domainDestroy', { dom: late });
    await client.call('domainCreate', { dom: late });
    await until(`${LATE} weighted again after its restart`, 20_000, async () => ((await cpuShares(late)) === 3072 ? true : undefined));
    const sets = run.output.filter((l) => l.includes(`${LATE}: CPU weight`) && l.includes('→ 3 (cpu_shares'));
    assert.equal(sets.length, 2, sets.join('\n'));
    assert.match(sets[1]!, /running again after it was gone|went from 3072 to \d+ \(restarted|restarted \(its vCPU time began again from zero\)/);
    // Nothing more within the same appearance.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(run.output.filter((l) => l.includes(`${LATE}: CPU weight`) && l.includes('→ 3 (cpu_shares')).length, 2);

    assert.equal(await cpuShares(outside), defaults.outside, 'configured but out of scope: untouched');
    assert.equal(await cpuShares(plain), defaults.plain, 'in scope but not configured: untouched');

    // A clean stop with --restore puts back the cpu_shares found before the first change.
    assert.equal(await run.stop(15_000), 0, run.output.join('\n'));
    assert.equal(await cpuShares(late), before, 'cpu_shares as before the run');
    assert.ok(run.output.some((l) => l.includes(`restore: ${LATE}: CPU weight 3 → ${before / 1024} (cpu_shares 3072 → ${before})`)), run.output.join('\n'));
    assert.equal(await cpuShares(outside), defaults.outside);
    assert.equal(await cpuShares(plain), defaults.plain);
  });
});
