// `lab run cpu 2` after `lab up 4` replaced and removed the `lab up` guests without asking (issue
// #20, friction 2). A lab run now records itself on its guests and refuses to replace any other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { labDomainXml, readLabMarker, type LabGuestSpec, type LabOrigin } from '../../src/lab/domain-xml.js';
import { LabError, labUp, labUpGuestsInTheWay } from '../../src/lab/lab.js';
import { silentProgress } from '../../src/lab/progress.js';

const root = mkdtempSync(join(tmpdir(), 'vb-run-beside-up-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

function guestXml(name: string, origin?: LabOrigin): string {
  const spec: LabGuestSpec = {
    name, domainType: 'qemu', vcpus: 1, memoryMiB: 512, maxMemoryMiB: 2048, kernel: '/k', initrd: '/i',
    consoleLog: `/lab/${name}/console.log`, workloadSocket: `/lab/${name}/w.sock`, imageKey: 'key', dir: `/lab/${name}`,
    ...(origin ? { origin } : {}),
  };
  return labDomainXml(spec);
}

/** A daemon holding these domains: enough of a client for labUp's checks, and a record of anything else asked. */
function daemonWith(domains: Array<{ name: string; xml: string }>): { client: LibvirtClient; otherCalls: string[] } {
  const otherCalls: string[] = [];
  const list = domains.map((d, i) => ({ name: d.name, uuid: `00000000-0000-0000-0000-00000000000${i}`, id: i + 1 }));
  const client = {
    listAllDomains: async () => list,
    call: async (name: string, args: { dom: { name: string } }) => {
      if (name === 'domainGetXmlDesc') return { xml: domains.find((d) => d.name === args.dom.name)!.xml };
      otherCalls.push(name);
      throw new Error(`unexpected call ${name}`);
    },
  };
  return { client: client as unknown as LibvirtClient, otherCalls };
}

const runGuests = (names: string[]) => names.map((name) => ({ name, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 2048 }));

test('the origin is recorded in the lab marker; a guest without one counts as lab up\'s', () => {
  assert.equal(readLabMarker(guestXml('aos_vm1', 'run'))!.origin, 'run');
  assert.equal(readLabMarker(guestXml('aos_vm1', 'up'))!.origin, 'up');
  assert.equal(readLabMarker(guestXml('aos_vm1'))!.origin, undefined);
});

test('a lab run refuses, before building or removing anything, to replace lab up\'s guests; it names them and the ways out', async () => {
  for (const origin of ['up', undefined] as const) {
    const { client, otherCalls } = daemonWith([
      { name: 'aos_vm1', xml: guestXml('aos_vm1', origin) },
      { name: 'aos_vm2', xml: guestXml('aos_vm2', origin) },
      { name: 'aos_vm3', xml: guestXml('aos_vm3', origin) },
    ]);
    await assert.rejects(
      labUp(client, { origin: 'run', uri: 'test:///x', root, progress: silentProgress, bootTimeoutSeconds: 1, balloonSettleSeconds: 0, guests: runGuests(['aos_vm1', 'aos_vm2']) }),
      (err: unknown) => err instanceof LabError && /^aos_vm1, aos_vm2 are guests of 'lab up', which lab run does not replace: remove them first \(lab down\) or give lab run another --prefix$/.test(err.message),
    );
    assert.deepEqual(otherCalls, [], 'nothing destroyed, undefined or defined');
  }
});

test('an earlier lab run\'s guests (--keep) are its own to replace; other names are not in the way', () => {
  const record = (name: string, origin?: LabOrigin) => ({ domain: { name, uuid: 'u', id: 1 }, marker: readLabMarker(guestXml(name, origin))!, active: true });
  const guests = [record('aos_vm1', 'run'), record('aos_vm2', 'up'), record('aos_vm3'), record('other1', 'up')];
  assert.deepEqual(labUpGuestsInTheWay(guests, ['aos_vm1', 'aos_vm2', 'aos_vm3', 'aos_vm4']), ['aos_vm2', 'aos_vm3']);
  assert.deepEqual(labUpGuestsInTheWay(guests, ['aos_vm1']), []);
});
