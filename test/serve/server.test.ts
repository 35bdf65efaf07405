// The simulated host served over libvirt's remote protocol, seen by our own client (the C library, virsh
// and Python are in conformance.test.ts): every answer against the simulator's own state; unsupported
// procedures, calls before open, keepalive both ways; bad frames fuzzed; 64 clients at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { loadScenario } from '../../src/host/sim/index.js';
import { LibvirtClient, paramNumber } from '../../src/libvirt/client.js';
import { xstruct, xvoid, xstring } from '../../src/libvirt/codec.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import { DomainAffect, DomainStatsGroup, ListDomainsFlags } from '../../src/libvirt/protocol.js';
import { startSimServer, type SimServer } from '../../src/serve/sim-server.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { cat, i32, str, u32 } from '../libvirt/bytes.js';
import { KEEPALIVE, REMOTE, Peer } from '../libvirt/fake-daemon.js';

const T = { timeout: 30_000 };

function scenario(name: string) {
  return loadScenario(resolveScenarioPath(name));
}

/** A raw connection that collects every frame the server sends and notices when it closes. */
class RawPeer {
  readonly frames: Buffer[] = [];
  closed: Promise<void>;
  private buf = Buffer.alloc(0);
  constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= this.buf.readUInt32BE(0)) {
        const n = this.buf.readUInt32BE(0);
        this.frames.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }
  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }
  call(proc: number, serial: number, body: Buffer = Buffer.alloc(0)): void {
    this.socket.write(Peer.frame(REMOTE, proc, 0, serial, 0, body));
  }
  async reply(serial: number): Promise<{ status: number; body: Buffer }> {
    for (let i = 0; i < 200; i++) {
      const f = this.frames.find((x) => x.readUInt32BE(4) !== KEEPALIVE && x.readUInt32BE(20) === serial);
      if (f) return { status: f.readInt32BE(24), body: f.subarray(28) };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no reply to serial ${serial}`);
  }
  async open(): Promise<void> {
    this.call(1, 1, cat(u32(1), str('qemu:///system'), u32(0)));
    assert.equal((await this.reply(1)).status, 0);
  }
}

describe('the simulated host served over the remote protocol', () => {
  let dir: string;
  let served: SimServer;
  let uri: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-serve-'));
    served = await startSimServer({ scenario: scenario('cpu-2-all-on-pcpu0'), socket: join(dir, 'sock'), tcp: { host: '127.0.0.1', port: 0 }, paused: true });
    served.run.hypervisor.advance(3_000);
    uri = `qemu+unix:///system?socket=${join(dir, 'sock')}`;
  });
  after(async () => {
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('our client over UNIX and TCP: domains, vCPUs, node figures equal the simulator\'s', T, async () => {
    for (const u of [uri, `qemu+tcp://127.0.0.1:${served.tcpPort}/system`]) {
      const c = await LibvirtClient.connect(u, { timeoutMs: 3_000 });
      try {
        const truth = await served.run.hypervisor.observe();
        const doms = await c.listAllDomains();
        assert.deepEqual(doms.map((d) => [d.name, d.uuid]), truth.domains.map((d) => [d.name, d.uuid]));
        // Served domains are running and transient: list filters select them or not accordingly.
        assert.equal((await c.listAllDomains(ListDomainsFlags.Active | ListDomainsFlags.Running)).length, 8);
        assert.equal((await c.listAllDomains(ListDomainsFlags.Inactive)).length, 0);
        assert.equal((await c.listAllDomains(ListDomainsFlags.Persistent)).length, 0);
        const node = await c.nodeInfo();
        assert.equal(node.cpus, 4);
        assert.equal(node.memoryKiB, 16384 * 1024);
        assert.equal((await c.call('connectGetHostname')).hostname, truth.host.hostname);
        const vm3 = truth.domains.find((d) => d.name === 'vm3')!;
        const vcpus = await c.getVcpus(vm3);
        assert.equal(vcpus[0]!.cpuTimeNs, vm3.vcpus[0]!.timeNs);
        assert.deepEqual(vcpus[0]!.affinity, vm3.vcpus[0]!.affinity);
        const cpu = await c.nodeCpuStats();
        const busy = served.run.hypervisor.pcpuBusyTimesNs().reduce((a, b) => a + b, 0);
        assert.equal(cpu.user, busy);
        assert.equal(cpu.user! + cpu.idle!, served.run.hypervisor.timeNs * 4);
        const mem = await c.nodeMemoryStats();
        assert.equal(mem.free, truth.host.memoryFreeKiB);
        const stats = await c.getAllDomainStats(DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon);
        const rec = stats.find((s) => s.domain.name === 'vm3')!;
        assert.equal(paramNumber(rec.params, 'vcpu.0.time'), vm3.vcpus[0]!.timeNs);
        assert.equal(paramNumber(rec.params, 'vcpu.0.delay'), vm3.vcpus[0]!.delayNs);
        assert.equal(paramNumber(rec.params, 'balloon.current'), vm3.balloon!.currentKiB);
        assert.equal(paramNumber(rec.params, 'state.state'), 1);
      } finally {
        await c.close();
      }
    }
  });

  test('changes reach the simulator and are recorded as actions', T, async () => {
    const c = await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
    try {
      served.takeActions();
      const [vm5] = (await c.listAllDomains()).filter((d) => d.name === 'vm5');
      await c.pinVcpu(vm5!, 0, [2], { flags: DomainAffect.Current });
      await c.call('domainSetMemoryFlags', { dom: vm5!, memory: 512 * 1024, flags: DomainAffect.Live });
      await c.call('domainSetMemoryStatsPeriod', { dom: vm5!, period: 2, flags: DomainAffect.Live });
      const obs = await served.run.hypervisor.observe();
      assert.deepEqual(obs.domains.find((d) => d.name === 'vm5')!.vcpus[0]!.affinity, [2]);
      assert.deepEqual((await c.getVcpuPinInfo(vm5!))[0], [2]);
      const truth = served.run.hypervisor.truth();
      const t5 = truth.domains.find((d) => d.name === 'vm5')!;
      assert.equal(t5.targetMiB, 512);
      assert.equal(t5.statsPeriod, 2);
      assert.deepEqual(served.takeActions().map((a) => a.kind), ['pin', 'set-memory', 'set-stats-period']);
      await assert.rejects(c.pinVcpu(vm5!, 3, [1]), (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.InvalidArg);
      await assert.rejects(c.call('domainLookupByName', { name: 'ghost' }), (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoDomain);
    } finally {
      await c.close();
    }
  });

  test('a procedure it does not serve answers libvirt\'s no-support error; the connection carries on', T, async () => {
    const c = await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
    try {
      // REMOTE_PROC_CONNECT_GET_CAPABILITIES (7) and an unassigned number.
      for (const proc of [7, 9999]) {
        await assert.rejects(c.rpc.callRaw('capabilities', proc, xvoid, undefined, xstruct({ xml: xstring(1 << 20) })),
          (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoSupport && /not supported/.test(e.message));
      }
      assert.equal((await c.listAllDomains()).length, 8);
    } finally {
      await c.close();
    }
  });

  test('a call before CONNECT_OPEN is refused; then open works', T, async () => {
    const p = await RawPeer.connect(join(dir, 'sock'));
    p.call(273, 7, cat(i32(1), u32(0)));
    assert.equal((await p.reply(7)).status, 1);
    await p.open();
    p.call(273, 8, cat(i32(1), u32(0)));
    const r = await p.reply(8);
    assert.equal(r.status, 0);
    assert.equal(r.body.readUInt32BE(0), 8, 'eight domains');
    p.socket.destroy();
  });

  test('keepalive both ways: it answers our PING, pings a quiet client and closes one that never answers', T, async () => {
    const quick = await startSimServer({ scenario: scenario('cpu-1-balanced'), socket: join(dir, 'ka'), paused: true, keepaliveIntervalSeconds: 0.2 });
    try {
      const c = await LibvirtClient.connect(`qemu+unix:///system?socket=${join(dir, 'ka')}`, { timeoutMs: 3_000 });
      await new Promise((r) => setTimeout(r, 700));
      assert.ok(c.rpc.pingsAnswered > 0, 'the server pinged our idle client and it answered');
      assert.equal(c.closed, false);
      await c.close();

      const p = await RawPeer.connect(join(dir, 'ka'));
      p.socket.write(Peer.frame(KEEPALIVE, 1, 2, 0, 0));
      p.call(60, 1, i32(10));
      await p.reply(1);
      await p.open();
      assert.ok(p.frames.some((f) => f.readUInt32BE(4) === KEEPALIVE && f.readInt32BE(12) === 2), 'PONG to our PING');
      // Never answers the server's PINGs: closed after 5 of them.
      await p.closed;
      assert.ok(p.frames.filter((f) => f.readUInt32BE(4) === KEEPALIVE && f.readInt32BE(12) === 1).length >= 5);
    } finally {
      await quick.close();
    }
  });

  test('64 clients at once', { timeout: 60_000 }, async () => {
    const clients = await Promise.all(Array.from({ length: 64 }, () => LibvirtClient.connect(uri, { timeoutMs: 20_000 })));
    try {
      assert.equal(served.server.clientCount, 64);
      const results = await Promise.all(clients.map(async (c) => (await c.getAllDomainStats()).length + (await c.listAllDomains()).length));
      assert.deepEqual(new Set(results), new Set([16]));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  describe('bad frames: an error where one can be addressed, then the connection closes; the server goes on', () => {
    async function stillServes(): Promise<void> {
      const c = await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
      assert.equal((await c.listAllDomains()).length, 8);
      await c.close();
    }

    test('oversized length, short length, wrong program, wrong version, reply type, undecodable args', T, async () => {
      const cases: [string, Buffer, boolean][] = [
        ['oversized', u32(64 * 1024 * 1024), false],
        ['shorter than a header', cat(u32(8), u32(0)), false],
        ['wrong program', Peer.frame(0x12345678, 1, 0, 3, 0), true],
        ['wrong version', Buffer.from(Peer.frame(REMOTE, 66, 0, 3, 0).map((b, i) => (i === 11 ? 9 : b))), true],
        ['a reply from the client', Peer.frame(REMOTE, 66, 1, 3, 0), true],
        ['args that do not decode', Peer.frame(REMOTE, 1, 0, 3, 0, u32(1)), true],
        ['trailing bytes after the args', Peer.frame(REMOTE, 60, 0, 3, 0, cat(i32(10), i32(1))), true],
      ];
      for (const [what, bytes, answered] of cases) {
        const p = await RawPeer.connect(join(dir, 'sock'));
        p.socket.write(bytes);
        await p.closed;
        if (answered) assert.equal((await p.reply(3).catch((e: Error) => { throw new Error(`${what}: ${e.message}`); })).status, 1, `${what}: an error reply`);
      }
      await stillServes();
    });

    test('fuzz: random bytes and mutated calls never crash it', { timeout: 120_000 }, async () => {
      const valid = [Peer.frame(REMOTE, 66, 0, 1, 0), Peer.frame(REMOTE, 1, 0, 2, 0, cat(u32(1), str('qemu:///system'), u32(0))), Peer.frame(REMOTE, 16, 0, 3, 0, cat(str('vm1'), Buffer.alloc(16), i32(1)))];
      await fc.assert(fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.nat(2), fc.nat(200), fc.integer({ min: 0, max: 255 })).map(([k, at, v]) => {
            const b = Buffer.from(valid[k]!);
            b[at % b.length] = v;
            return b;
          }),
          fc.tuple(fc.nat(2), fc.nat(60)).map(([k, cut]) => Buffer.concat([valid[k]!.subarray(0, Math.max(4, valid[k]!.length - cut)), u32(0xffffffff)])),
        ),
        async (bytes) => {
          const p = await RawPeer.connect(join(dir, 'sock'));
          p.socket.write(bytes);
          await new Promise((r) => setTimeout(r, 5));
          p.socket.destroy();
        },
      ), { numRuns: 300 });
      await stillServes();
    });
  });
});
