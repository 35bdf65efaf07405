import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVirtioMemDevices } from '../../src/libvirt/memory-devices.js';
import { labDomainXml, readLabMarker, readWorkloadSocket, WORKLOAD_CHANNEL, type LabGuestSpec } from '../../src/lab/domain-xml.js';

const spec: LabGuestSpec = {
  name: 'aos_vm1',
  domainType: 'qemu',
  vcpus: 2,
  memoryMiB: 512,
  maxMemoryMiB: 2048,
  kernel: '/lab/images/k/vmlinuz',
  initrd: '/lab/images/k/initrd.img',
  cmdline: 'vb.cpu=0.5',
  consoleLog: '/lab/guests/aos_vm1/console.log',
  workloadSocket: '/lab/guests/aos_vm1/workload.sock',
  imageKey: '6.1.0-56-cloud-amd64-abc',
  dir: '/lab/guests/aos_vm1',
};

const one = (xml: string, re: RegExp): string => {
  const m = re.exec(xml);
  assert.ok(m, `${re} not in\n${xml}`);
  return m[1] ?? m[0];
};

test('lab guest XML: direct kernel boot, memory max and current, vcpus, acpi+apic, balloon stats, channel, console file', () => {
  const xml = labDomainXml(spec);
  assert.equal(one(xml, /<domain type='(\w+)'>/), 'qemu');
  assert.equal(one(xml, /<memory unit='MiB'>(\d+)<\/memory>/), '2048');
  assert.equal(one(xml, /<currentMemory unit='MiB'>(\d+)<\/currentMemory>/), '512');
  assert.equal(one(xml, /<vcpu[^>]*>(\d+)<\/vcpu>/), '2');
  assert.equal(one(xml, /<kernel>([^<]+)<\/kernel>/), spec.kernel);
  assert.equal(one(xml, /<initrd>([^<]+)<\/initrd>/), spec.initrd);
  const cmdline = one(xml, /<cmdline>([^<]+)<\/cmdline>/);
  assert.match(cmdline, /console=ttyS0/);
  assert.match(cmdline, /vb\.cpu=0\.5/);
  assert.doesNotMatch(cmdline, /(^| )mem=/, 'mem= is the kernel’s own limit');
  assert.match(one(xml, /<features>([\s\S]*?)<\/features>/), /<acpi\/>[\s\S]*<apic\/>/);
  assert.match(one(xml, /<memballoon model='virtio' freePageReporting='on'>([\s\S]*?)<\/memballoon>/), /<stats period='1'\/>/);
  assert.equal(one(xml, /<serial type='file'>\s*<source path='([^']+)'/), spec.consoleLog);
  assert.equal(readWorkloadSocket(xml), spec.workloadSocket);
  assert.match(xml, new RegExp(`<target type='virtio' name='${WORKLOAD_CHANNEL}'/>`));
  assert.doesNotMatch(xml, /<disk|<interface/, 'no disk unless given one, no network');
  assert.equal(one(labDomainXml({ ...spec, domainType: 'kvm' }), /<domain type='(\w+)'>/), 'kvm');
});

test('paths and command lines with XML specials are escaped and read back intact', () => {
  const odd = { ...spec, dir: "/tmp/a&b's <lab>", consoleLog: "/tmp/a&b's <lab>/console.log", imageKey: 'k&"1' };
  const xml = labDomainXml(odd);
  assert.doesNotMatch(xml.replace(/&(amp|lt|gt|quot|apos);/g, ''), /&|<lab>/);
  assert.deepEqual(readLabMarker(xml), { imageKey: odd.imageKey, dir: odd.dir });
});

test('the lab marker survives libvirt rewriting the namespace prefix and quotes', () => {
  // libvirt returns our element with double quotes and may choose its own prefix.
  const fromLibvirt = `<domain type='qemu'><name>aos_vm1</name><metadata>
    <other:thing xmlns:other="https://example.org/x"><other:dir>/no</other:dir></other:thing>
    <lab0:lab xmlns:lab0="https://virtbalance.dev/xmlns/lab/1">
      <lab0:image>key1</lab0:image>
      <lab0:dir>/lab/guests/aos_vm1</lab0:dir>
    </lab0:lab>
  </metadata></domain>`;
  assert.deepEqual(readLabMarker(fromLibvirt), { imageKey: 'key1', dir: '/lab/guests/aos_vm1' });
});

test('a domain without our marker is not a lab guest', () => {
  assert.equal(readLabMarker(`<domain type='kvm'><name>prod</name></domain>`), undefined);
  assert.equal(readLabMarker(`<domain><metadata><vb:lab xmlns:vb="https://virtbalance.dev/xmlns/lab/2"><vb:image>x</vb:image><vb:dir>/d</vb:dir></vb:lab></metadata></domain>`), undefined,
    'another namespace version is not ours');
  assert.equal(readLabMarker(`<domain><metadata><vb:lab xmlns:vb="https://virtbalance.dev/xmlns/lab/1"></vb:lab></metadata></domain>`), undefined,
    'a marker without its fields is not trusted');
});

test('bad specs are refused with a reason', () => {
  assert.throws(() => labDomainXml({ ...spec, name: '../evil' }), /invalid guest name/);
  assert.throws(() => labDomainXml({ ...spec, vcpus: 0 }), /vcpus/);
  assert.throws(() => labDomainXml({ ...spec, maxMemoryMiB: 256 }), /max memory 256 MiB is below memory 512 MiB/);
});

test('balloon variants: a stats period from boot, none (a fresh guest without one), or no balloon device', () => {
  assert.match(one(labDomainXml({ ...spec, statsPeriod: 5 }), /<memballoon model='virtio' freePageReporting='on'>([\s\S]*?)<\/memballoon>/), /<stats period='5'\/>/);
  const none = labDomainXml({ ...spec, statsPeriod: 0 });
  assert.match(none, /<memballoon model='virtio' freePageReporting='on'\/>/);
  assert.doesNotMatch(none, /<stats /);
  assert.match(labDomainXml({ ...spec, balloon: false }), /<memballoon model='none'\/>/);
  assert.throws(() => labDomainXml({ ...spec, statsPeriod: 1.5 }), /whole number/);
});

test('a disk is a read-only virtio disk vda from the raw file given', () => {
  const xml = labDomainXml({ ...spec, disk: "/lab/guests/aos_vm1/disk&1.img" });
  const disk = one(xml, /<disk type='file' device='disk'>([\s\S]*?)<\/disk>/);
  assert.match(disk, /<driver name='qemu' type='raw'\/>/);
  assert.equal(one(disk, /<source file='([^']+)'\/>/), '/lab/guests/aos_vm1/disk&amp;1.img');
  assert.match(disk, /<target dev='vda' bus='virtio'\/>/);
  assert.match(disk, /<readonly\/>/, 'the guest only reads it');
  assert.equal(xml.match(/<disk /g)?.length, 1);
});

test('free page reporting: on by default and when asked, left out when turned off, never on a guest without a balloon', () => {
  assert.match(labDomainXml(spec), /<memballoon model='virtio' freePageReporting='on'>\s*<stats period='1'\/>\s*<\/memballoon>/);
  assert.match(labDomainXml({ ...spec, freePageReporting: true }), /<memballoon model='virtio' freePageReporting='on'>\s*<stats period='1'\/>\s*<\/memballoon>/);
  const off = labDomainXml({ ...spec, freePageReporting: false });
  assert.doesNotMatch(off, /freePageReporting/);
  assert.match(off, /<memballoon model='virtio'>\s*<stats period='1'\/>\s*<\/memballoon>/);
  assert.doesNotMatch(labDomainXml({ ...spec, statsPeriod: 0, freePageReporting: false }), /freePageReporting/);
  assert.match(labDomainXml({ ...spec, freePageReporting: true }), /freePageReporting='on'/);
  assert.doesNotMatch(labDomainXml({ ...spec, balloon: false }), /freePageReporting/);
  assert.equal(labDomainXml(spec).match(/freePageReporting/g)?.length, 1);
});

test('a virtio-mem guest: boot memory in <memory> and one NUMA cell, <maxMemory slots> for boot + device, the device on node 0, the kernel argument', () => {
  const xml = labDomainXml({ ...spec, memoryMiB: 512, maxMemoryMiB: 512, virtioMem: { sizeMiB: 1536 } });
  assert.equal(one(xml, /<memory unit='MiB'>(\d+)<\/memory>/), '512');
  assert.equal(one(xml, /<currentMemory unit='MiB'>(\d+)<\/currentMemory>/), '512');
  assert.match(xml, /<maxMemory slots='2' unit='MiB'>2048<\/maxMemory>/);
  assert.match(one(xml, /<cpu>([\s\S]*?)<\/cpu>/), /<numa>\s*<cell id='0' cpus='0-1' memory='512' unit='MiB'\/>\s*<\/numa>/);
  const device = one(xml, /<memory model='virtio-mem'>([\s\S]*?)<\/memory>/);
  assert.match(device, /<size unit='MiB'>1536<\/size>\s*<node>0<\/node>\s*<block unit='MiB'>2<\/block>\s*<requested unit='MiB'>0<\/requested>/);
  assert.match(one(xml, /<devices>([\s\S]*?)<\/devices>/), /<memory model='virtio-mem'>/, 'a device among the devices');
  const cmdline = one(xml, /<cmdline>([^<]+)<\/cmdline>/);
  assert.match(cmdline, /(^| )memhp_default_state=online_movable( |$)/);
  assert.match(cmdline, /vb\.cpu=0\.5/, 'the workload arguments stay');
  // libvirt's own reader finds exactly one device with these figures (as LibvirtHost reads it).
  assert.deepEqual(readVirtioMemDevices(xml).map(({ xml: _x, ...d }) => d), [{ sizeKiB: 1536 * 1024, node: 0, blockKiB: 2048, requestedKiB: 0 }]);
  const one4 = labDomainXml({ ...spec, vcpus: 1, maxMemoryMiB: 768, virtioMem: { sizeMiB: 1024, blockMiB: 4, requestedMiB: 256 } });
  assert.match(one4, /<cell id='0' cpus='0-0' memory='768' unit='MiB'\/>/);
  assert.match(one4, /<maxMemory slots='2' unit='MiB'>1792<\/maxMemory>/);
  assert.match(one4, /<block unit='MiB'>4<\/block>\s*<requested unit='MiB'>256<\/requested>/);
});

test('a guest without virtio-mem has none of it: no <maxMemory>, NUMA cell, device or memhp argument', () => {
  const xml = labDomainXml(spec);
  assert.doesNotMatch(xml, /maxMemory|<numa>|virtio-mem|memhp_default_state/);
});

test('virtio-mem sizes the daemon would refuse are refused before it sees them', () => {
  assert.throws(() => labDomainXml({ ...spec, virtioMem: { sizeMiB: 1023 } }), /size must be a positive multiple of its 2 MiB block, got 1023 MiB/);
  assert.throws(() => labDomainXml({ ...spec, virtioMem: { sizeMiB: 0 } }), /positive multiple/);
  assert.throws(() => labDomainXml({ ...spec, virtioMem: { sizeMiB: 1024, blockMiB: 3 } }), /power of two of at least 2 MiB, got 3 MiB/);
  assert.throws(() => labDomainXml({ ...spec, virtioMem: { sizeMiB: 1024, requestedMiB: 1026 } }), /requested size .* from 0 to its size 1024 MiB, got 1026 MiB/);
  assert.throws(() => labDomainXml({ ...spec, virtioMem: { sizeMiB: 1024, blockMiB: 4, requestedMiB: 2 } }), /multiple of its 4 MiB block/);
});
