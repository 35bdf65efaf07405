// End to end on a real libvirtd: `virtbalance run` (both controllers) beside a guest that is suspended
// and resumed, held in a real outgoing-migration job (the source's Begin3 step with change protection,
// then cancelled: libvirt will not migrate to the same host, but the job is libvirt's own), and saved
// and restored (a new id). Nothing fails, no action reaches the guest while it is paused or in its
// job, each move is said once, and the run manages it again afterwards (the memory coordinator asks
// the guest for balloon statistics anew, as it does for any domain it first sees).
// The guest is a throw-away QEMU domain without an OS (it sits in its firmware), named like every lab
// test guest (vblt<pid>…) and carrying the lab marker, so an interrupted run's leftovers are found and
// removed by the next lab test. Needs libvirtd with QEMU (scripts/libvirt-test-host.sh up); under
// CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { MigrateFlags, type Domain } from '../../src/libvirt/protocol.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { LAB_XMLNS } from '../../src/lab/domain-xml.js';
import { OUR_GUESTS, runBin, say, sleep, until, URI, type Child, claimLabDaemon, releaseLabDaemon } from './e2e-support.js';

const TAG = 'moves-e2e';
const GUEST = `vblt${process.pid}m_guest`;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let dir: string | undefined;
let dom: Domain | undefined;
const children: Child[] = [];

function domainXml(): string {
  return `<domain type='qemu'><name>${GUEST}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <metadata><vb:lab xmlns:vb='${LAB_XMLNS}'><vb:image>none</vb:image><vb:dir>${dir}</vb:dir></vb:lab></metadata>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`;
}

async function intervals(trace: string): Promise<TraceInterval[]> {
  const text = await readFile(trace, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.includes('"type":"interval"')).map((l) => JSON.parse(l) as TraceInterval);
}

/** The first interval (index into the list) with a notice on our guest matching `re`, or undefined. */
function noticeAt(list: TraceInterval[], re: RegExp, from = 0): number | undefined {
  for (let i = from; i < list.length; i++) if (list[i]!.notices.some((n) => n.domain === GUEST && re.test(n.message))) return i;
  return undefined;
}

const ours = (e: TraceInterval) => e.actions.filter((a) => a.domain.name === GUEST);

describe('a real guest suspended, held in a migration job, saved and restored while virtbalance runs', { timeout: 6 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    dir = await mkdtemp(path.join(os.tmpdir(), 'vb-moves-'));
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, children, ...(dom && { domains: [dom] }), dir });
  });

  test('no error, no action while paused or in a job, each move said once, managed again after', async (t) => {
    if (!client) return t.skip(skip);
    ({ dom } = await client.call('domainDefineXml', { xml: domainXml() }));
    await client.call('domainCreate', { dom });
    const trace = path.join(dir!, 'trace.jsonl');
    const run = runBin(['run', '--connect', URI, '--interval', '0.5', '--only', OUR_GUESTS, '--trace', trace], TAG);
    children.push(run);
    const first = await until('first sight: the memory coordinator asks for statistics', 60_000, async () => {
      const list = await intervals(trace);
      const i = list.findIndex((e) => ours(e).some((a) => a.kind === 'set-stats-period'));
      return i >= 0 ? i : undefined;
    });
    say(TAG, `managed from interval ${first}`);

    // Suspended for a few intervals, then resumed.
    await client.call('domainSuspend', { dom });
    await until('the run sees it paused', 30_000, async () => noticeAt(await intervals(trace), /^paused \(was running\)/));
    await sleep(2_000);
    await client.call('domainResume', { dom });
    await until('the run sees it running again', 30_000, async () => noticeAt(await intervals(trace), /^running again \(was paused\)/));

    // A real outgoing-migration job, held for some seconds, then cancelled (the guest stays).
    const holder = await LibvirtClient.connect(URI, { timeoutMs: 10_000 });
    try {
      const flags = MigrateFlags.Live | MigrateFlags.ChangeProtection;
      await holder.call('domainMigrateBegin3', { dom, xmlin: null, flags, dname: null, resource: 0 });
      assert.deepEqual(await holder.domainJob(dom).then((j) => [j.active, j.operation]), [true, 'outgoing migration']);
      await until('the run sees the job', 30_000, async () => noticeAt(await intervals(trace), /^outgoing migration job under way: left alone/));
      await sleep(3_000);
      await holder.call('domainMigrateConfirm3', { dom, cookieIn: Buffer.alloc(0), flags, cancelled: 1 });
    } finally {
      await holder.close();
    }
    await until('the run sees the job end', 30_000, async () => noticeAt(await intervals(trace), /^outgoing migration job ended: managed again, afresh$/));
    await until('managed again after the job: statistics asked for anew', 30_000, async () => {
      const list = await intervals(trace);
      const ended = noticeAt(list, /^outgoing migration job ended/)!;
      return list.slice(ended).some((e) => ours(e).some((a) => a.kind === 'set-stats-period')) ? true : undefined;
    });

    // Saved (it leaves: gone, or moved away if the run saw the save job) and restored with a new id.
    const before = (await client.listAllDomains(1)).find((d) => d.name === GUEST)!;
    const image = path.join(dir!, 'saved');
    await client.save(dom, image);
    await until('the run sees it leave', 30_000, async () => noticeAt(await intervals(trace), /^(gone \(|moved away \(during its save job\))/));
    await client.restore(image);
    const restored = (await client.listAllDomains(1)).find((d) => d.name === GUEST)!;
    assert.notEqual(restored.id, before.id, 'restored with a new id');
    // Paused while QEMU still loads the image: the run may see that first (a restore holds the domain's job; if an earlier stats call is out, NOWAIT does not wait for it).
    await until('the run sees it back', 30_000, async () => noticeAt(await intervals(trace), new RegExp(`^back \\((running|paused), id ${restored.id}: moved back, restored or restarted\\): starts afresh$`)));
    await until('managed again after the restore: statistics asked for anew', 30_000, async () => {
      const list = await intervals(trace);
      const back = noticeAt(list, /^back \(/)!;
      return list.slice(back).some((e) => ours(e).some((a) => a.kind === 'set-stats-period')) ? true : undefined;
    });

    assert.equal(await run.stop(15_000), 0, run.output.join('\n'));
    const list = await intervals(trace);
    const notices = list.flatMap((e) => e.notices.filter((n) => n.domain === GUEST).map((n) => n.message));
    say(TAG, `${list.length} intervals; notices on the guest:\n  ${notices.join('\n  ')}`);
    // No error anywhere: nothing failed, nothing found gone mid-action, no failure line.
    assert.deepEqual(list.flatMap((e) => e.failures), []);
    assert.ok(!run.output.some((l) => / failed: /.test(l)), run.output.filter((l) => / failed: /.test(l)).join('\n'));
    // No action on the guest from the interval that saw it paused to the one that saw it running again,
    // nor from the one that saw its job begin to the one that saw it end.
    for (const [from, to] of [[/^paused \(was running\)/, /^running again/], [/^outgoing migration job under way/, /^outgoing migration job ended/]] as const) {
      const a = noticeAt(list, from)!;
      const b = noticeAt(list, to, a)!;
      for (let i = a; i < b; i++) assert.deepEqual(ours(list[i]!), [], `an action on the guest in interval ${list[i]!.interval}, between '${list[a]!.notices[0]?.message}' and '${list[b]!.notices[0]?.message}'`);
    }
    // Each said once.
    for (const re of [/^paused \(was running\)/, /^outgoing migration job under way/, /^outgoing migration job ended/, /^back \(/]) {
      assert.equal(notices.filter((m) => re.test(m)).length, 1, `${re}: ${notices.join(' | ')}`);
    }
    // Running again after the suspension, and once more if it came back paused (mid-restore).
    const backPaused = notices.some((m) => /^back \(paused,/.test(m));
    assert.equal(notices.filter((m) => /^running again/.test(m)).length, backPaused ? 2 : 1, notices.join(' | '));
    assert.equal(notices.filter((m) => /^(gone \(|moved away)/.test(m)).length, 1, notices.join(' | '));
  });
});
