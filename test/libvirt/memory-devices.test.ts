import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryDeviceXmlError, readVirtioMemDevices, unitBytes, virtioMemRequestXml } from '../../src/libvirt/memory-devices.js';

/** A running domain's live XML as libvirt 9.0 prints it, with the given devices. */
function domainXml(devices: string, metadata = ''): string {
  return `<domain type='qemu' id='3'>
  <name>vbtest-vmem</name>
  <uuid>6f9619ff-8b86-d011-b42d-00cf4fc964ff</uuid>${metadata}
  <maxMemory slots='16' unit='KiB'>4194304</maxMemory>
  <memory unit='KiB'>3145728</memory>
  <currentMemory unit='KiB'>1572864</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <cpu mode='custom' match='exact' check='none'>
    <numa>
      <cell id='0' cpus='0' memory='524288' unit='KiB'/>
    </numa>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${devices}
    <memballoon model='virtio'>
      <stats period='5'/>
      <alias name='balloon0'/>
    </memballoon>
  </devices>
</domain>
`;
}

const ONE = `    <memory model='virtio-mem'>
      <target>
        <size unit='KiB'>2097152</size>
        <node>0</node>
        <block unit='KiB'>2048</block>
        <requested unit='KiB'>1048576</requested>
        <current unit='KiB'>524288</current>
      </target>
      <alias name='virtiomem0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </memory>`;

describe('readVirtioMemDevices', () => {
  test('a domain without virtio-mem has none: the top-level <memory>, a DIMM and the balloon are not devices of it', () => {
    assert.deepEqual(readVirtioMemDevices(domainXml('')), []);
    const dimm = `    <memory model='dimm'>
      <target><size unit='KiB'>524288</size><node>0</node></target>
      <alias name='dimm0'/>
      <address type='dimm' slot='0' base='0x100000000'/>
    </memory>`;
    assert.deepEqual(readVirtioMemDevices(domainXml(dimm)), []);
    assert.deepEqual(readVirtioMemDevices('<domain><memory unit="KiB">1024</memory></domain>'), [], 'no <devices>');
  });

  test('one live device: alias, size, node, block, requested, current in KiB, and the element as it stands', () => {
    const [d, ...rest] = readVirtioMemDevices(domainXml(ONE));
    assert.equal(rest.length, 0);
    assert.deepEqual({ ...d, xml: undefined }, {
      alias: 'virtiomem0', sizeKiB: 2097152, node: 0, blockKiB: 2048, requestedKiB: 1048576, currentKiB: 524288, xml: undefined,
    });
    assert.equal(d!.xml, ONE.trim());
  });

  test('several devices in document order, units MiB, GiB, KiB, bytes, KB and none; double quotes; an inactive one without current or alias', () => {
    const xml = domainXml(`    <memory model='virtio-mem'>
      <target>
        <size unit='GiB'>4</size>
        <node>1</node>
        <block unit='MiB'>2</block>
        <requested unit='MiB'>1536</requested>
        <current unit='KiB'>1572864</current>
      </target>
      <alias name='virtiomem0'/>
    </memory>
    <memory model="virtio-mem" access="shared">
      <source><pagesize unit="KiB">2048</pagesize></source>
      <target>
        <size unit="M">512</size>
        <block unit="bytes">2097152</block>
        <requested>262144</requested>
        <current unit="G">0</current>
      </target>
      <alias name="ua-mem&amp;1"/>
    </memory>
    <memory model='virtio-mem'>
      <target>
        <size unit='KB'>1048576</size>
        <block unit='k'>4096</block>
        <requested unit='KiB'>0</requested>
      </target>
    </memory>`);
    const devices = readVirtioMemDevices(xml).map(({ xml: _, ...d }) => d);
    assert.deepEqual(devices, [
      { alias: 'virtiomem0', sizeKiB: 4194304, node: 1, blockKiB: 2048, requestedKiB: 1572864, currentKiB: 1572864 },
      { alias: 'ua-mem&1', sizeKiB: 524288, blockKiB: 2048, requestedKiB: 262144, currentKiB: 0 },
      // 1048576 KB = 1,048,576,000 bytes = 1,024,000 KiB.
      { sizeKiB: 1024000, blockKiB: 4096, requestedKiB: 0 },
    ]);
  });

  test('a <memory> element in metadata is not a device', () => {
    const metadata = `
  <metadata>
    <x:note xmlns:x='urn:example'><memory model='virtio-mem'><target><size>1</size></target></memory></x:note>
  </metadata>`;
    assert.equal(readVirtioMemDevices(domainXml(ONE, metadata)).length, 1);
  });

  test('a device that lacks what it must say, or says it in an unknown unit, is an error naming it', () => {
    const noBlock = ONE.replace(/<block[^>]*>\d+<\/block>/, '');
    assert.throws(() => readVirtioMemDevices(domainXml(noBlock)), (e: unknown) =>
      e instanceof MemoryDeviceXmlError && e.message === "virtio-mem device 'virtiomem0' has no <block> in its <target>");
    assert.throws(() => readVirtioMemDevices(domainXml(ONE.replace("<size unit='KiB'>", "<size unit='furlong'>"))),
      /virtio-mem device 'virtiomem0': unknown unit 'furlong' in <size>/);
    assert.throws(() => readVirtioMemDevices(domainXml(ONE.replace('<requested unit=\'KiB\'>1048576', '<requested unit=\'KiB\'>1.5'))),
      /<requested> is not a whole number/);
  });

  test('unitBytes follows libvirt: powers of 1024 for k, KiB, M, MiB, ...; of 1000 for KB, MB, ...; case does not matter', () => {
    assert.equal(unitBytes('b'), 1);
    assert.equal(unitBytes('bytes'), 1);
    assert.equal(unitBytes('k'), 1024);
    assert.equal(unitBytes('KiB'), 1024);
    assert.equal(unitBytes('kb'), 1000);
    assert.equal(unitBytes('MiB'), 1024 ** 2);
    assert.equal(unitBytes('MB'), 1e6);
    assert.equal(unitBytes('G'), 1024 ** 3);
    assert.equal(unitBytes('TiB'), 1024 ** 4);
    assert.equal(unitBytes('x'), undefined);
    assert.equal(unitBytes('KiBs'), undefined);
  });
});

describe('virtioMemRequestXml', () => {
  const [device] = readVirtioMemDevices(domainXml(ONE));

  test('the element as read with only <requested> changed: alias, address, size, node, block kept', () => {
    const payload = virtioMemRequestXml(device!, 1572864);
    assert.equal(payload, ONE.trim().replace("<requested unit='KiB'>1048576</requested>", "<requested unit='KiB'>1572864</requested>"));
    const [back] = readVirtioMemDevices(`<domain><devices>${payload}</devices></domain>`);
    assert.deepEqual({ ...back, xml: undefined }, { ...device, requestedKiB: 1572864, xml: undefined });
  });

  test('a requested size in other units is rewritten in KiB', () => {
    const [d] = readVirtioMemDevices(domainXml(ONE.replace("<requested unit='KiB'>1048576", "<requested unit='GiB'>1")));
    assert.match(virtioMemRequestXml(d!, 0), /<requested unit='KiB'>0<\/requested>/);
    assert.doesNotMatch(virtioMemRequestXml(d!, 0), /GiB/);
  });

  test('a device without <requested> gets one at the end of its <target>', () => {
    const bare = { ...device!, xml: device!.xml.replace(/<requested[^>]*>\d+<\/requested>\s*/, '') };
    assert.match(virtioMemRequestXml(bare, 2048), /<requested unit='KiB'>2048<\/requested><\/target>/);
  });

  test('sizes the daemon would refuse are refused here, naming the device', () => {
    assert.throws(() => virtioMemRequestXml(device!, 2097152 + 2048), /virtio-mem device 'virtiomem0': requested 2099200 KiB is above its size of 2097152 KiB/);
    assert.throws(() => virtioMemRequestXml(device!, 1024), /not a multiple of its block of 2048 KiB/);
    assert.throws(() => virtioMemRequestXml(device!, -2048), RangeError);
    assert.throws(() => virtioMemRequestXml(device!, 2048.5), RangeError);
    assert.equal(readVirtioMemDevices(`<domain><devices>${virtioMemRequestXml(device!, 2097152)}</devices></domain>`)[0]!.requestedKiB, 2097152);
  });
});
