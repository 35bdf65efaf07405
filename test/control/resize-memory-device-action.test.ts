// The resize-memory-device action (#19) goes through every wrapper to the host, is refused where the
// host has no virtio-mem or the domain is out of scope, and reads in the monitor like the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResizeMemoryDeviceAction } from '../../src/ground/actions.js';
import type { DomainRef, HostObservation, Hypervisor } from '../../src/ground/hypervisor.js';
import { applyAction } from '../../src/control/loop.js';
import { formatAction } from '../../src/control/monitor.js';
import { ScopedHypervisor } from '../../src/host/scoped-host.js';
import { InstrumentedHypervisor, type CallReport } from '../../src/web/instrumented-hypervisor.js';

function fakeHost(withDevice: boolean): { host: Hypervisor; calls: string[] } {
  const calls: string[] = [];
  const host: Hypervisor = {
    uri: 'fake',
    observe: async (): Promise<HostObservation> => ({ timeNs: 0, host: { hostname: 'h', pcpus: 1, memoryTotalKiB: 1, memoryFreeKiB: 1 }, domains: [] }),
    pinVcpu: async () => undefined,
    setMemory: async () => undefined,
    setMemoryStatsPeriod: async () => undefined,
    close: async () => undefined,
  };
  if (withDevice) host.resizeMemoryDevice = async (d: DomainRef, kib: number) => void calls.push(`${d.name} ${kib}`);
  return { host, calls };
}

const action = (name: string): ResizeMemoryDeviceAction => ({ kind: 'resize-memory-device', domain: { name, uuid: 'u' }, fromKiB: 0, requestedKiB: 1048576, reason: 'needs room' });

test('applyAction reaches the host through the scope and the instrumentation, and each says what it refuses', async () => {
  const { host, calls } = fakeHost(true);
  const reports: CallReport[] = [];
  const wrapped = new InstrumentedHypervisor(new ScopedHypervisor(host, ['vm1']), (r) => reports.push(r));
  await applyAction(wrapped, action('vm1'));
  assert.deepEqual(calls, ['vm1 1048576']);
  assert.equal(reports.at(-1)?.call, 'resize-memory-device');
  await assert.rejects(applyAction(wrapped, action('vm2')), /vm2 is not one of this run's domains; left alone/);
  assert.deepEqual(calls, ['vm1 1048576'], 'an out-of-scope domain is never resized');
  assert.ok(reports.at(-1)?.error, 'the refusal is reported as a failed call');

  const bare = fakeHost(false);
  await assert.rejects(applyAction(bare.host, action('vm1')), /this host cannot resize memory devices/);
  await assert.rejects(applyAction(new ScopedHypervisor(bare.host, ['vm1']), action('vm1')), /this host cannot resize memory devices/);
});

test('the monitor line says from and to, in MiB, with the reason', () => {
  assert.equal(formatAction({ ...action('vm1'), fromKiB: 524288 }), 'virtio-mem vm1 512 -> 1024 MiB requested: needs room');
});
