// The libvirt Hypervisor against the real daemon's test driver, on one connection
// (the test driver's state lives as long as the connection holds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { countersTimeNs, definitionFacts, LibvirtHost, pausedForJob, type LibvirtHostOptions } from '../../src/host/libvirt-host.js';
import { DomainGoneError } from '../../src/ground/errors.js';
import { DomainStatsGroup, ErrorCode, GetAllDomainStatsFlags } from '../../src/libvirt/protocol.js';
import { LibvirtServer, serverError, type Handler, type Handlers } from '../../src/libvirt/server.js';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import { simProcedures } from '../../src/serve/sim-procedures.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { ScopedHypervisor } from '../../src/host/scoped-host.js';
import { measureCpu } from '../../src/cpu/usage.js';
import { connectOrSkip } from '../libvirt/daemon.js';

test('LibvirtHost on test+unix:///default: observe, pin, set memory, observe again', { timeout: 20_000 }, async (t) => {
  const client = await connectOrSkip(t, 'test+unix:///default');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  try {
    const before = await host.observe();
    assert.ok(before.host.pcpus >= 4, `pCPUs ${before.host.pcpus}`);
    assert.ok(before.host.memoryTotalKiB > 0);
    const dom = before.domains.find((d) => d.name === 'test');
    assert.ok(dom, 'the test driver runs a domain named test');
    assert.equal(dom.state, 'running');
    assert.equal(dom.vcpus.length, 2);
    assert.ok(dom.vcpus.every((v) => v.timeNs >= 0 && v.affinity.length > 0));
    assert.ok(dom.balloon && dom.balloon.maximumKiB > 0 && dom.balloon.currentKiB > 0);

    await host.pinVcpu(dom, 0, [3]);
    const target = Math.round(dom.balloon.currentKiB / 2);
    await host.setMemory(dom, target);

    const after = await host.observe();
    assert.ok(after.timeNs > before.timeNs);
    const domAfter = after.domains.find((d) => d.name === 'test')!;
    assert.deepEqual(domAfter.vcpus[0]!.affinity, [3]);
    assert.equal(domAfter.balloon!.currentKiB, target);

    // The observations feed the scheduler's measurement unchanged.
    const m = measureCpu(before, after);
    assert.equal(m.pcpus, before.host.pcpus);
    assert.ok(m.vcpus.some((v) => v.domain.name === 'test' && v.vcpu === 0));
  } finally {
    await host.close();
  }
});

test('LibvirtHost reads every pCPU\'s busy time (node CPU stats per CPU) with each observation: test driver and this host', { timeout: 30_000 }, async (t) => {
  for (const uri of ['test+unix:///default', 'qemu:///system']) {
    const client = await connectOrSkip(t, uri);
    if (!client) return;
    const host = LibvirtHost.fromClient(client);
    try {
      const first = await host.observe();
      const busy = first.host.pcpuBusyNs;
      assert.ok(busy && busy.length === first.host.pcpus, `${uri}: one busy counter per pCPU, got ${JSON.stringify(busy)}`);
      assert.ok(busy.every((ns) => Number.isFinite(ns) && ns >= 0), `${uri}: ${busy}`);
      // The same numbers the per-CPU call gives, and they never run backwards.
      const direct = await client.nodeCpuStats(0);
      assert.ok(direct.kernel! + direct.user! >= busy[0]!, `${uri}: pCPU0 ${direct.kernel! + direct.user!} vs ${busy[0]}`);
      const second = await host.observe();
      second.host.pcpuBusyNs!.forEach((ns, p) => assert.ok(ns >= busy[p]!, `${uri}: pCPU${p} went backwards`));
      const m = measureCpu(first, second);
      assert.equal(m.pcpuOther?.length, first.host.pcpus, `${uri}: other load measured`);
    } finally {
      await host.close();
    }
  }
});

test('LibvirtHost on the test driver: the balloon\'s fault counters come through (memory-stats fallback)', { timeout: 20_000 }, async (t) => {
  const client = await connectOrSkip(t, 'test+unix:///default');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  try {
    const dom = (await host.observe()).domains.find((d) => d.name === 'test');
    assert.ok(dom?.balloon, 'the test domain has a balloon');
    const raw = await client.memoryStats(dom);
    assert.equal(typeof raw.major_fault, 'number', 'the daemon reports major_fault');
    assert.equal(dom.balloon.majorFaults, raw.major_fault);
    assert.equal(dom.balloon.minorFaults, raw.minor_fault);
    assert.equal(dom.balloon.diskCachesKiB, raw.disk_caches);
    // The test driver has no block stats group: the field stays absent rather than 0.
    assert.equal(dom.blockReadBytes, undefined);
  } finally {
    await host.close();
  }
});

test('LibvirtHost on qemu:///system: a guest\'s disk reads arrive as blockReadBytes from the all-domain stats', { timeout: 60_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  // Our own throw-away domain: no OS, one small raw disk the firmware reads its boot sector from.
  const dir = mkdtempSync(join(tmpdir(), 'vb-blockstats-'));
  const disk = join(dir, 'disk.img');
  const sector = Buffer.alloc(1024 * 1024);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  sector[0] = 0xeb; // jmp $ — a boot sector that spins, so the firmware stops after reading it
  sector[1] = 0xfe;
  writeFileSync(disk, sector);
  const name = `vblt${process.pid}-blockstats`; // vblt<pid>: a test's own domain (test/lab/e2e-support.ts)
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
  <memballoon model='virtio'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  try {
    await client.call('domainCreate', { dom });
    let reads: number | undefined;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      const seen = (await host.observe()).domains.find((d) => d.name === name);
      assert.ok(seen, 'our domain is observed');
      reads = seen.blockReadBytes;
      assert.notEqual(reads, undefined, 'QEMU reports the block group in the all-domain stats');
      if (reads! >= 512) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(reads !== undefined && reads >= 512, `the firmware read the boot sector: ${reads} bytes`);
    assert.ok(Number.isInteger(reads));
    // The same figure libvirt gives for the disk on its own.
    const [record] = await client.getAllDomainStats(DomainStatsGroup.Block, 0, [dom]);
    const again = (await host.observe()).domains.find((d) => d.name === name)!.blockReadBytes!;
    const direct = Number(record!.params.get('block.0.rd.bytes'));
    assert.ok(direct >= reads && again >= direct, `monotonic: ${reads} ≤ ${direct} ≤ ${again}`);
  } finally {
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LibvirtHost on qemu:///system: a guest whose QEMU is stopped (SIGSTOP) does not stall observation: one waits out its deadline, the next come at once with the guest unanswered, and it answers again after SIGCONT', { timeout: 90_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const deadlineMs = 2_000;
  const host = LibvirtHost.fromClient(client, { statsDeadlineMs: deadlineMs });
  // Our own throw-away domain (vblt<pid>…: a test's own, test/lab/e2e-support.ts): it sits in its firmware.
  const name = `vblt${process.pid}hung`;
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  let pid: number | undefined;
  const timedObserve = async () => {
    const start = Date.now();
    try {
      const observation = await host.observe();
      return { ms: Date.now() - start, observation };
    } catch (err) {
      return { ms: Date.now() - start, error: (err as Error).message };
    }
  };
  try {
    await client.call('domainCreate', { dom });
    const first = (await host.observe()).domains.find((d) => d.name === name);
    assert.ok(first && !first.unanswered && first.balloon, 'our running domain is observed, answering, with its balloon');
    pid = Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
    assert.ok(pid > 1, `QEMU's pid from libvirt's pid file: ${pid}`);
    process.kill(pid, 'SIGSTOP');
    // The call that takes the domain's job waits on its monitor for ever: the observation gives up at its deadline.
    const stuck = await timedObserve();
    assert.ok(stuck.ms < deadlineMs + 1_500, `the first observation settled in ${stuck.ms} ms`);
    if (stuck.error) assert.match(stuck.error, /did not return within 2\.0 s/);
    // The balloon figures only its monitor gives (rss here) are the last read, carried over unchanged.
    const lastRss = (stuck.observation?.domains.find((d) => d.name === name) ?? first).balloon!.rssKiB;
    assert.ok(lastRss !== undefined && lastRss > 0, `QEMU's resident set was read before: ${lastRss}`);
    // NOWAIT: the later ones skip the held domain's monitor at once; its job query waits at most 1 s.
    for (let i = 0; i < 3; i++) {
      const next = await timedObserve();
      assert.equal(next.error, undefined, `observation ${i + 2} failed: ${next.error}`);
      assert.ok(next.ms < 1_000 + 1_000, `observation ${i + 2} took ${next.ms} ms`);
      const seen = next.observation!.domains.find((d) => d.name === name);
      assert.ok(seen, 'the stopped guest is still observed');
      assert.equal(seen.unanswered, true, 'the stopped guest is marked unanswered');
      assert.equal(seen.balloon?.currentKiB, 64 * 1024, 'its balloon size still comes without its monitor');
      assert.equal(seen.balloon?.rssKiB, lastRss, 'its resident set is the last read');
    }
    process.kill(pid, 'SIGCONT');
    pid = undefined;
    // The stuck calls come back once QEMU answers; the guest is then answering again.
    const until = Date.now() + 45_000;
    let answering = false;
    while (!answering && Date.now() < until) {
      const again = await timedObserve();
      answering = again.observation?.domains.find((d) => d.name === name)?.unanswered === undefined && again.error === undefined;
      if (!answering) await sleep(500);
    }
    assert.ok(answering, 'the guest answers again within 45 s of SIGCONT');
  } finally {
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    await host.close();
  }
});

test('LibvirtHost.connect on an unreachable socket fails with one line naming the URI and the cause', { timeout: 10_000 }, async () => {
  await assert.rejects(LibvirtHost.connect('qemu+unix:///system?socket=/nonexistent/libvirt-sock'), (err: Error) => {
    assert.match(err.message, /nonexistent/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});

test('LibvirtHost on qemu:///system: a CPU weight set on our own guest becomes cpu_shares = weight × 1024 and is observed back, and read afresh after a restart', { timeout: 60_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  // Our own throw-away domain: no OS, it only sits in its firmware. Named like the lab tests' guests
  // (vblt<pid>…), so a lab test running beside it does not take it for someone else's domain.
  const name = `vblt${process.pid}cpuweight`;
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='none'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  try {
    await client.call('domainCreate', { dom });
    const before = (await host.observe()).domains.find((d) => d.name === name);
    assert.ok(before, 'our domain is observed');
    assert.equal(before.cpuWeight, undefined, 'a default guest has weight 1 and says nothing');
    await host.setCpuWeight(before, 3);
    assert.equal(Number((await client.schedulerParameters(dom)).cpu_shares), 3072);
    const after = (await host.observe()).domains.find((d) => d.name === name)!;
    assert.equal(after.cpuWeight, 3);
    // Restarted (destroy, start: a new id and cgroup): the weight is read again, not taken from before.
    await client.call('domainDestroy', { dom });
    await client.call('domainCreate', { dom });
    const restarted = (await host.observe()).domains.find((d) => d.name === name)!;
    assert.equal(Number((await client.schedulerParameters(dom)).cpu_shares), 1024);
    assert.equal(restarted.cpuWeight, undefined, 'the restarted guest is a default guest again');
  } finally {
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    await host.close();
  }
});

test('definitionFacts: vCPU pins only inside <cputune>, hugepages only inside <memoryBacking>, free page reporting on the balloon', () => {
  const none = { freePageReporting: false, vcpuPins: false, hugepages: false };
  assert.deepEqual(definitionFacts(`<domain><vcpu>2</vcpu><devices><memballoon model='virtio'/></devices></domain>`), none);
  assert.deepEqual(
    definitionFacts(`<domain><cputune>\n  <shares>2048</shares>\n  <vcpupin vcpu='0' cpuset='2'/>\n</cputune><devices><memballoon model='virtio' freePageReporting='on'/></devices></domain>`),
    { ...none, vcpuPins: true, freePageReporting: true },
  );
  assert.deepEqual(definitionFacts(`<domain><cputune><shares>2048</shares><emulatorpin cpuset='0'/></cputune></domain>`), none, 'an emulator pin is not a vCPU pin');
  assert.deepEqual(definitionFacts(`<domain><memoryBacking>\n<hugepages>\n<page size='2048' unit='KiB'/></hugepages></memoryBacking></domain>`), { ...none, hugepages: true });
  assert.deepEqual(definitionFacts(`<domain><memoryBacking><hugepages/><locked/></memoryBacking></domain>`), { ...none, hugepages: true });
  assert.deepEqual(definitionFacts(`<domain><memoryBacking><nosharepages/></memoryBacking></domain>`), none);
});

test('pausedForJob: a domain paused for a save, a migration, a dump or a snapshot is in a job; paused by a user or running is not', () => {
  const rec = (state: number, reason: number) => ({ domain: { name: 'x', uuid: '00000000-0000-0000-0000-000000000001', id: 1 }, params: new Map([['state.state', state], ['state.reason', reason]]) });
  assert.equal(pausedForJob(rec(3, 3)), 'save');
  assert.equal(pausedForJob(rec(3, 2)), 'migration');
  assert.equal(pausedForJob(rec(3, 4)), 'dump');
  assert.equal(pausedForJob(rec(3, 9)), 'snapshot');
  assert.equal(pausedForJob(rec(3, 1)), undefined, 'paused by a user');
  assert.equal(pausedForJob(rec(1, 3)), undefined, 'running (reason 3 is "restored")');
});

test('LibvirtHost on qemu:///system: a guest whose definition pins its vCPUs says so, with its id; saved away, a change to it is a DomainGoneError and its definition is not rewritten', { timeout: 90_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  const name = `vblt${process.pid}move`;
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='0'/></cputune>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  const dir = mkdtempSync(join(tmpdir(), 'vb-move-'));
  const image = join(dir, 'saved');
  try {
    await client.call('domainCreate', { dom });
    const seen = (await host.observe()).domains.find((d) => d.name === name);
    assert.ok(seen, 'our domain is observed');
    assert.equal(seen.definitionPins, true);
    assert.equal(seen.hugepages, undefined);
    assert.equal(seen.job, undefined, 'no job runs');
    assert.ok(typeof seen.id === 'number' && seen.id > 0, `id ${seen.id}`);
    // A live pin of ours is not the definition's: the definition is read, not the live state.
    await host.pinVcpu(seen, 0, [1]);
    await client.save(dom, image);
    assert.equal((await host.observe()).domains.find((d) => d.name === name), undefined, 'saved: not running, not observed');
    await assert.rejects(host.pinVcpu(seen, 0, [1]), (e: unknown) => e instanceof DomainGoneError && /not running/.test(e.message));
    await assert.rejects(host.setMemory(seen, 16 * 1024), DomainGoneError);
    const definition = (await client.call('domainGetXmlDesc', { dom, flags: 2 })).xml;
    assert.match(definition, /<vcpupin vcpu='0' cpuset='0'\/>/, 'the pin to a gone domain did not rewrite its definition');
    assert.match(definition, /<currentMemory unit='KiB'>32768<\/currentMemory>/, 'nor its memory');
    await client.restore(image);
    const back = (await host.observe()).domains.find((d) => d.name === name);
    assert.ok(back, 'restored: observed again');
    assert.notEqual(back.id, seen.id, 'with a new id');
    assert.equal(back.definitionPins, true);
  } finally {
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await host.close();
  }
});

// ---- When an observation is stamped: when its vCPU counters were read (issue #17) ----

const nowNs = (): number => Number(process.hrtime.bigint());
const ms = (ns: number): string => `${(ns / 1e6).toFixed(1)} ms`;

/**
 * A daemon of our own (the simulated host's procedures over our protocol server) whose handlers a
 * test may slow down, and a LibvirtHost connected to it.
 */
async function servedHost(slow: (handlers: Handlers) => void, options: LibvirtHostOptions = {}): Promise<{ host: LibvirtHost; close(): Promise<void> }> {
  const run = createSimulatedHost(loadScenario(resolveScenarioPath('cpu-2-all-on-pcpu0')));
  run.hypervisor.advance(3_000);
  const handlers = simProcedures(run.hypervisor);
  slow(handlers);
  const server = new LibvirtServer({ handlers });
  const dir = mkdtempSync(join(tmpdir(), 'vb-stamp-'));
  await server.listenUnix(join(dir, 'sock'));
  const host = await LibvirtHost.connect(`qemu+unix:///system?socket=${join(dir, 'sock')}`, options);
  return {
    host,
    async close() {
      await host.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Wraps one procedure's handler: `around` gets the original (already bound to its arguments) to call when it likes. */
function wrap<N extends keyof Handlers>(handlers: Handlers, name: N, around: (original: () => unknown) => Promise<unknown>): void {
  const original = handlers[name] as unknown as (args: unknown, session: unknown) => unknown;
  (handlers as Record<string, unknown>)[name] = ((args: unknown, session: unknown) => around(() => original(args, session))) as unknown as Handler<N>;
}

test('LibvirtHost asks the all-domain stats with NOWAIT only while an earlier call is out past its deadline, and never again once the daemon refused it', { timeout: 20_000 }, async () => {
  const flagsSeen: boolean[] = [];
  let hangNext = false;
  const served = await servedHost((h) => {
    const original = h.connectGetAllDomainStats!;
    h.connectGetAllDomainStats = (async (args: { flags: number }, session: unknown) => {
      const noWait = (args.flags & GetAllDomainStatsFlags.NoWait) !== 0;
      flagsSeen.push(noWait);
      if (hangNext) {
        hangNext = false;
        await new Promise(() => undefined);
      }
      if (noWait) throw serverError(ErrorCode.InvalidArg, `unsupported flags (0x${args.flags.toString(16)}) in function qemuConnectGetAllDomainStats`);
      return (original as unknown as (a: unknown, s: unknown) => unknown)(args, session);
    }) as unknown as typeof original;
  }, { statsDeadlineMs: 300 });
  try {
    assert.ok((await served.host.observe()).domains.length > 0);
    hangNext = true;
    await assert.rejects(served.host.observe(), /did not return within/);
    assert.ok((await served.host.observe()).domains.length > 0, 'refused NOWAIT: asked again without it');
    assert.ok((await served.host.observe()).domains.length > 0);
    assert.deepEqual(flagsSeen, [false, false, true, false, false], 'NOWAIT only while a call is out, refused once, then never again');
  } finally {
    await served.close();
  }
});

test('LibvirtHost: a domain whose monitor figures NOWAIT skipped gets them from a second call that waits for its job; not back within 1 s, the last ones read', { timeout: 20_000 }, async () => {
  let skip = false;
  let hangNext = false;
  let refetchHangs = false;
  let refetches = 0;
  let noMonitor = false;
  const monitorFigure = /^balloon\.(?!current$|maximum$)/;
  const served = await servedHost((h) => {
    const original = h.connectGetAllDomainStats!;
    h.connectGetAllDomainStats = (async (args: { flags: number; stats: number }, session: unknown) => {
      const nowait = (args.flags & GetAllDomainStatsFlags.NoWait) !== 0;
      if (hangNext) {
        hangNext = false;
        await new Promise(() => undefined);
      }
      if (!nowait && args.stats === DomainStatsGroup.Balloon) {
        refetches++;
        if (refetchHangs) await new Promise(() => undefined);
      }
      const reply = (await (original as unknown as (a: unknown, s: unknown) => Promise<{ value: { retStats: { params: { field: string }[] }[] } }>)(args, session));
      // The domain's job held by someone else: NOWAIT leaves out what only its monitor gives.
      if ((nowait && skip) || noMonitor) for (const r of reply.value.retStats) r.params = r.params.filter((p) => !monitorFigure.test(p.field));
      return reply;
    }) as unknown as typeof original;
  }, { statsDeadlineMs: 300 });
  try {
    const first = await served.host.observe();
    const n = first.domains.length;
    const full = first.domains[0]!.balloon!;
    assert.ok(full.unusedKiB !== undefined && full.lastUpdate !== undefined, 'the guest reports balloon statistics');
    // Without NOWAIT no figure is skipped: a guest that stops reporting them is not asked again, nor given old ones.
    noMonitor = true;
    const unreported = (await served.host.observe()).domains[0]!.balloon!;
    assert.equal(refetches, 0, 'no second call after a call without NOWAIT');
    assert.equal(unreported.unusedKiB, undefined, 'no figures carried over without NOWAIT');
    noMonitor = false;
    // One call out past its deadline: NOWAIT from now on, and the domains' jobs are held (their monitor figures skipped).
    hangNext = true;
    await assert.rejects(served.host.observe(), /did not return within/);
    skip = true;
    const refetched = (await served.host.observe()).domains[0]!.balloon!;
    assert.equal(refetches, n, 'one second call per skipped domain');
    assert.ok(refetched.unusedKiB !== undefined && refetched.lastUpdate !== undefined, 'its figures came from the second call');
    refetchHangs = true;
    const start = Date.now();
    const carried = (await served.host.observe()).domains[0]!.balloon!;
    assert.ok(Date.now() - start < 1_800, `waited ${Date.now() - start} ms for the second call`);
    assert.deepEqual([carried.unusedKiB, carried.lastUpdate, carried.rssKiB], [refetched.unusedKiB, refetched.lastUpdate, refetched.rssKiB], 'the last figures read, unchanged');
    await served.host.observe();
    assert.equal(refetches, 2 * n, 'no further call for a domain while one is out');
  } finally {
    await served.close();
  }
});

test('LibvirtHost: an all-domain stats call past its deadline fails the observation; the next asks again; two such calls out and none is sent', { timeout: 20_000 }, async () => {
  let calls = 0;
  let hang = false;
  const served = await servedHost((h) => {
    wrap(h, 'connectGetAllDomainStats', async (original) => {
      calls++;
      if (hang) await new Promise(() => undefined);
      return original();
    });
  }, { statsDeadlineMs: 300 });
  try {
    assert.ok((await served.host.observe()).domains.length > 0);
    hang = true;
    for (let i = 0; i < 2; i++) await assert.rejects(served.host.observe(), /did not return within 0\.3 s \(a guest's QEMU not answering\?\): the next observation asks again/);
    const sent = calls;
    const start = Date.now();
    await assert.rejects(served.host.observe(), /2 earlier statistics calls to .* are still unanswered .*: none sent until one returns/);
    assert.equal(calls, sent, 'no third call sent while two are out');
    assert.ok(Date.now() - start < 250, 'and no wait for it');
  } finally {
    await served.close();
  }
});

test('LibvirtHost stamps an observation when the stats call read the vCPU counters, not when slower calls beside and after it came back', { timeout: 20_000 }, async () => {
  let readNs = 0;
  const served = await servedHost((h) => {
    // The daemon reads the counters 150 ms into the stats call and replies 150 ms later.
    wrap(h, 'connectGetAllDomainStats', async (original) => {
      await sleep(150);
      readNs = nowNs();
      const reply = await original();
      await sleep(150);
      return reply;
    });
    // Calls whose replies come after the stats reply: the per-pCPU CPU stats (in flight beside it) and vcpuinfo (asked after it).
    wrap(h, 'nodeGetCpuStats', async (original) => (await sleep(600), original()));
    wrap(h, 'domainGetVcpus', async (original) => (await sleep(400), original()));
  });
  try {
    await served.host.observe(); // the first: the one-off look-ups (node info, hostname, weights)
    const obs = await served.host.observe();
    const doneNs = nowNs();
    assert.ok(obs.domains.length > 0 && obs.domains.every((d) => d.vcpus.length > 0));
    assert.ok(Math.abs(obs.timeNs - readNs) < 100e6, `stamped ${ms(obs.timeNs - readNs)} from the counters' read`);
    assert.ok(doneNs - obs.timeNs > 700e6, `stamped ${ms(doneNs - obs.timeNs)} before the observation was complete`);
  } finally {
    await served.close();
  }
});

test('LibvirtHost on a driver without the vcpu stats group stamps when the vcpuinfo calls read the vCPU times', { timeout: 20_000 }, async () => {
  const readNs: number[] = [];
  let statsNs = 0;
  const served = await servedHost((h) => {
    // No vcpu group in the stats (like the test driver): the vCPU times come from each domain's vcpuinfo.
    const stats = h.connectGetAllDomainStats!;
    h.connectGetAllDomainStats = (args, session) => {
      statsNs = nowNs();
      return stats({ ...args, stats: args.stats & ~DomainStatsGroup.Vcpu }, session);
    };
    wrap(h, 'nodeGetCpuStats', async (original) => (await sleep(300), original()));
    wrap(h, 'domainGetVcpus', async (original) => {
      await sleep(250);
      readNs.push(nowNs());
      const reply = await original();
      await sleep(250);
      return reply;
    });
  });
  try {
    await served.host.observe();
    readNs.length = 0;
    const obs = await served.host.observe();
    assert.equal(readNs.length, obs.domains.length, 'one vcpuinfo call per domain');
    const meanReadNs = readNs.reduce((a, t) => a + t, 0) / readNs.length;
    assert.ok(Math.abs(obs.timeNs - meanReadNs) < 100e6, `stamped ${ms(obs.timeNs - meanReadNs)} from the vcpuinfo reads`);
    assert.ok(obs.timeNs - statsNs > 300e6, `not at the stats call (${ms(obs.timeNs - statsNs)} after it)`);
    // A scoped view of the same host keeps the stamp.
    const scoped = await new ScopedHypervisor(served.host, ['vm1', 'vm2']).observe();
    assert.deepEqual(scoped.domains.map((d) => d.name), ['vm1', 'vm2']);
    assert.ok(scoped.timeNs > obs.timeNs);
  } finally {
    await served.close();
  }
});

test('LibvirtHost reads each domain\'s definition once (on first sight), not every interval; a driver without job statistics is not asked again on that connection', { timeout: 20_000 }, async () => {
  const calls = { xml: 0, job: 0 };
  const served = await servedHost((h) => {
    wrap(h, 'domainGetXmlDesc', async (original) => (calls.xml++, original()));
    // The served simulator answers no job statistics (not supported, as the test driver).
    (h as Record<string, unknown>).domainGetJobStats = undefined;
  });
  const countJobs = (served.host.client as unknown as { call: (name: string, args: unknown) => Promise<unknown> });
  const call = countJobs.call.bind(countJobs);
  countJobs.call = (name, args) => (name === 'domainGetJobStats' && calls.job++, call(name, args));
  try {
    const first = await served.host.observe();
    const jobAsks = calls.job;
    for (let i = 0; i < 4; i++) await served.host.observe();
    assert.equal(calls.xml, first.domains.length, `${calls.xml} definition reads for ${first.domains.length} domains over 5 observations`);
    assert.ok(jobAsks > 0 && jobAsks <= first.domains.length, `job statistics asked ${jobAsks} times in the first observation`);
    assert.equal(calls.job, jobAsks, 'refused in the first observation, then not asked again on this connection');
    assert.ok(first.domains.every((d) => d.job === undefined && d.id !== undefined));
  } finally {
    await served.close();
  }
});

test('countersTimeNs: the midpoint of the call that carried most vCPU times', () => {
  const stats = { value: undefined, sentNs: 1_000, repliedNs: 3_000 };
  const info = [
    { value: undefined, sentNs: 5_000, repliedNs: 6_000 },
    { value: undefined, sentNs: 5_500, repliedNs: 9_000 },
  ];
  assert.equal(countersTimeNs(stats, { stats: 4, vcpuInfo: 0, vcpuInfoCalls: [] }), 2_000);
  assert.equal(countersTimeNs(stats, { stats: 0, vcpuInfo: 3, vcpuInfoCalls: info }), 7_000);
  // Mixed (a domain whose vCPU times the stats left out): the majority's source; a tie stays with the stats.
  assert.equal(countersTimeNs(stats, { stats: 4, vcpuInfo: 1, vcpuInfoCalls: info.slice(0, 1) }), 2_000);
  assert.equal(countersTimeNs(stats, { stats: 2, vcpuInfo: 2, vcpuInfoCalls: info }), 2_000);
  assert.equal(countersTimeNs(stats, { stats: 1, vcpuInfo: 2, vcpuInfoCalls: info }), 7_000);
  // No vCPUs at all: the stats call.
  assert.equal(countersTimeNs(stats, { stats: 0, vcpuInfo: 0, vcpuInfoCalls: [] }), 2_000);
});
