// Conformance with clients no one here wrote: Debian's virsh, python3-libvirt and a C program built
// against libvirt-dev, each talking to the served simulated host. Time stands still (the server is
// paused), so every answer is checked exactly against the simulator's own state: vCPU times, pins,
// balloon sizes, node figures; and every change they make is checked in the simulator.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveScenarioPath } from '../../src/app/target.js';
import type { DomainObservation } from '../../src/ground/hypervisor.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { startSimServer, type SimServer } from '../../src/serve/sim-server.js';
import { buildC, need, run } from './tools.js';

const T = { timeout: 60_000 };

describe('virsh, python3-libvirt and the C library against the served simulator', () => {
  let dir: string;
  let served: SimServer;
  let uri: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-conformance-'));
    served = await startSimServer({ scenario: loadScenario(resolveScenarioPath('cpu-2-all-on-pcpu0')), socket: join(dir, 'sock'), paused: true });
    served.run.hypervisor.advance(7_300);
    uri = `qemu+unix:///system?socket=${join(dir, 'sock')}`;
  });
  after(async () => {
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function truthOf(name: string): Promise<DomainObservation> {
    return (await served.run.hypervisor.observe()).domains.find((d) => d.name === name)!;
  }
  const virsh = async (...args: string[]) => (await run('virsh', ['-c', uri, ...args], { timeout: 20_000 })).stdout;
  const field = (out: string, name: string) => new RegExp(`^${name}\\s*:?\\s*(.*)$`, 'm').exec(out)?.[1]?.trim();

  test('virsh: list, dominfo, vcpuinfo, vcpupin, dommemstat, setmem, domstats, nodeinfo, nodecpustats, nodememstats, freecell', T, async (t) => {
    if (!need(t, 'virsh')) return;
    const obs = await served.run.hypervisor.observe();
    const list = await virsh('list');
    const rows = [...list.matchAll(/^\s*(\d+)\s+(\S+)\s+running$/gm)].map((m) => m[2]);
    assert.deepEqual(rows, obs.domains.map((d) => d.name));

    const vm2 = await truthOf('vm2');
    const info = await virsh('dominfo', 'vm2');
    assert.equal(field(info, 'UUID'), vm2.uuid);
    assert.equal(field(info, 'CPU\\(s\\)'), '1');
    assert.equal(field(info, 'State'), 'running');
    assert.equal(field(info, 'CPU time'), `${(vm2.vcpus[0]!.timeNs / 1e9).toFixed(1)}s`);
    assert.equal(field(info, 'Max memory'), `${vm2.balloon!.maximumKiB} KiB`);
    assert.equal(field(info, 'Used memory'), `${vm2.balloon!.currentKiB} KiB`);

    const vcpuinfo = await virsh('vcpuinfo', 'vm2');
    assert.equal(field(vcpuinfo, 'CPU'), String(vm2.vcpus[0]!.pcpu));
    assert.equal(field(vcpuinfo, 'CPU Affinity'), [0, 1, 2, 3].map((p) => (vm2.vcpus[0]!.affinity.includes(p) ? 'y' : '-')).join(''));

    await virsh('vcpupin', 'vm2', '0', '3');
    assert.deepEqual((await truthOf('vm2')).vcpus[0]!.affinity, [3]);
    assert.match(await virsh('vcpupin', 'vm2'), /^\s*0\s+3\s*$/m);

    const memstat = await virsh('dommemstat', 'vm2');
    const stat = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(memstat)?.[1]);
    assert.equal(stat('actual'), vm2.balloon!.currentKiB);
    assert.equal(stat('unused'), vm2.balloon!.unusedKiB);
    assert.equal(stat('usable'), vm2.balloon!.usableKiB);
    assert.equal(stat('rss'), vm2.balloon!.rssKiB);

    await virsh('setmem', 'vm2', '700000');
    await virsh('dommemstat', 'vm2', '--period', '3');
    const truth = served.run.hypervisor.truth().domains.find((d) => d.name === 'vm2')!;
    assert.equal(truth.targetMiB * 1024, 700000);
    assert.equal(truth.statsPeriod, 3);

    const domstats = await virsh('domstats', '--vcpu', '--balloon', '--state', 'vm2');
    const kv = (k: string) => Number(new RegExp(`^\\s*${k.replace(/\./g, '\\.')}=(\\d+)$`, 'm').exec(domstats)?.[1]);
    assert.equal(kv('vcpu.0.time'), vm2.vcpus[0]!.timeNs);
    assert.equal(kv('vcpu.0.delay'), vm2.vcpus[0]!.delayNs);
    assert.equal(kv('balloon.current'), vm2.balloon!.currentKiB);
    assert.equal(kv('state.state'), 1);

    const node = await virsh('nodeinfo');
    assert.equal(field(node, 'CPU\\(s\\)'), '4');
    assert.equal(field(node, 'Memory size'), `${16384 * 1024} KiB`);
    const cpu = await virsh('nodecpustats');
    assert.equal(Number(field(cpu, 'user')), served.run.hypervisor.pcpuBusyTimesNs().reduce((a, b) => a + b, 0));
    const mem = await virsh('nodememstats');
    assert.equal(field(mem, 'free'), `${obs.host.memoryFreeKiB} KiB`);
    assert.equal(field(await virsh('freecell'), 'Total'), `${obs.host.memoryFreeKiB} KiB`);
  });

  test('virsh: an unserved command gets libvirt\'s no-support error, one line, no hang', T, async (t) => {
    if (!need(t, 'virsh')) return;
    await assert.rejects(virsh('schedinfo', 'vm1'), (e: { stderr: string }) => /not supported by the connection driver/.test(e.stderr));
  });

  test('python3-libvirt: the calls a course solution makes', T, async (t) => {
    if (!need(t, 'python')) return;
    const script = `
import json, sys, libvirt
c = libvirt.open(sys.argv[1])
doms = c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
d = c.lookupByName('vm4')
same = c.lookupByUUIDString(d.UUIDString())
out = {
  'names': [x.name() for x in doms], 'uuid': same.UUIDString(), 'info': d.info(), 'vcpus': d.vcpus(),
  'memory': d.memoryStats(), 'node': c.getInfo(), 'cpu': c.getCPUStats(-1), 'nodemem': c.getMemoryStats(-1), 'free': c.getFreeMemory(),
  'stats': {dom.name(): s for dom, s in c.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON)},
}
d.pinVcpu(0, (False, True, False, False))
out['pins'] = d.vcpuPinInfo(0)
d.setMemoryStatsPeriod(1)
d.setMemory(650000)
c.close()
print(json.dumps(out))
`;
    const before = await truthOf('vm4');
    const obs = await served.run.hypervisor.observe();
    const out = JSON.parse((await run('/usr/bin/python3', ['-c', script, uri], { timeout: 20_000 })).stdout);
    assert.deepEqual(out.names, obs.domains.map((d) => d.name));
    assert.equal(out.uuid, before.uuid);
    assert.deepEqual(out.info, [1, before.balloon!.maximumKiB, before.balloon!.currentKiB, 1, before.vcpus[0]!.timeNs]);
    assert.deepEqual(out.vcpus[0], [[0, 1, before.vcpus[0]!.timeNs, before.vcpus[0]!.pcpu]]);
    assert.deepEqual(out.vcpus[1], [[0, 1, 2, 3].map((p) => before.vcpus[0]!.affinity.includes(p))]);
    assert.equal(out.memory.actual, before.balloon!.currentKiB);
    assert.equal(out.memory.unused, before.balloon!.unusedKiB);
    assert.deepEqual(out.node.slice(0, 3), ['x86_64', 16384, 4]);
    assert.equal(out.cpu.user, served.run.hypervisor.pcpuBusyTimesNs().reduce((a, b) => a + b, 0));
    assert.equal(out.nodemem.free, obs.host.memoryFreeKiB);
    assert.equal(out.free, obs.host.memoryFreeKiB * 1024);
    assert.equal(out.stats.vm4['vcpu.0.time'], before.vcpus[0]!.timeNs);
    assert.equal(out.stats.vm4['balloon.current'], before.balloon!.currentKiB);
    assert.deepEqual(out.pins, [[false, true, false, false]]);
    const after = served.run.hypervisor.truth().domains.find((d) => d.name === 'vm4')!;
    assert.deepEqual((await truthOf('vm4')).vcpus[0]!.affinity, [1]);
    assert.equal(after.targetMiB * 1024, 650000);
    assert.equal(after.statsPeriod, 1);
  });

  test('a C program on libvirt-dev: open, list, look up, info, vCPUs, pin, memory stats, set memory, stats period, node figures, all-domain stats', T, async (t) => {
    if (!need(t, 'cc')) return;
    const bin = await buildC('conformance');
    const obs = await served.run.hypervisor.observe();
    const vm6 = obs.domains.find((d) => d.name === 'vm6')!;
    const { stdout } = await run(bin, [uri, 'vm6', '2', '610000', '2'], { timeout: 20_000 });
    const lines = stdout.trim().split('\n').map((l) => l.split(' '));
    const one = (key: string) => lines.find((l) => l[0] === key)!;
    assert.deepEqual(lines.filter((l) => l[0] === 'domain').map((l) => [l[1], l[2]]), obs.domains.map((d) => [d.name, d.uuid]));
    assert.deepEqual(one('lookup'), ['lookup', vm6.uuid, 'vm6']);
    assert.deepEqual(one('info').map(Number).slice(1), [1, vm6.balloon!.maximumKiB, vm6.balloon!.currentKiB, 1, vm6.vcpus[0]!.timeNs]);
    assert.deepEqual(one('node'), ['node', 'x86_64', String(16384 * 1024), '4', '2400']);
    assert.deepEqual(one('vcpu').map(Number).slice(1), [0, vm6.vcpus[0]!.pcpu, vm6.vcpus[0]!.timeNs, ...vm6.vcpus[0]!.affinity]);
    const memstat = new Map(lines.filter((l) => l[0] === 'memstat').map((l) => [Number(l[1]), Number(l[2])]));
    assert.equal(memstat.get(6), vm6.balloon!.currentKiB, 'actual');
    assert.equal(memstat.get(4), vm6.balloon!.unusedKiB, 'unused');
    assert.equal(memstat.get(9), vm6.balloon!.lastUpdate, 'last_update');
    const nodecpu = new Map(lines.filter((l) => l[0] === 'nodecpu').map((l) => [l[1], Number(l[2])]));
    assert.equal(nodecpu.get('user'), served.run.hypervisor.pcpuBusyTimesNs().reduce((a, b) => a + b, 0));
    assert.equal(Number(one('freemem')[1]), obs.host.memoryFreeKiB * 1024);
    const stats = lines.filter((l) => l[0] === 'stats');
    assert.equal(stats.length, 8);
    for (const s of stats) {
      const d = obs.domains.find((x) => x.name === s[1])!;
      // state.state is an int, balloon.current and vcpu.N.time ullong, vcpu.current uint: the C library's typed getters find each.
      assert.deepEqual(s.slice(2).map(Number), [1, d.name === 'vm6' ? vm6.balloon!.currentKiB : d.balloon!.currentKiB, d.vcpus[0]!.timeNs, 1]);
    }
    assert.equal(lines.at(-1)![0], 'closed');
    assert.deepEqual((await truthOf('vm6')).vcpus[0]!.affinity, [2]);
    const truth = served.run.hypervisor.truth().domains.find((d) => d.name === 'vm6')!;
    assert.equal(truth.targetMiB * 1024, 610000);
    assert.equal(truth.statsPeriod, 2);
  });
});
