import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import { shippedScenariosDir } from '../../src/app/target.js';
import { ScopedHypervisor } from '../../src/lab/scoped-host.js';

test('a scoped host shows and lets act on only the named domains', async () => {
  const run = createSimulatedHost(loadScenario(`${shippedScenariosDir}cpu-2-all-on-pcpu0.yaml`));
  const scoped = new ScopedHypervisor(run.hypervisor, ['vm2', 'vm5']);
  const full = await run.hypervisor.observe();
  const seen = await scoped.observe();
  assert.equal(full.domains.length, 8);
  assert.deepEqual(seen.domains.map((d) => d.name).sort(), ['vm2', 'vm5']);
  assert.deepEqual(seen.host, full.host);
  const vm2 = seen.domains.find((d) => d.name === 'vm2')!;
  await scoped.pinVcpu(vm2, 0, [3]);
  assert.deepEqual((await run.hypervisor.observe()).domains.find((d) => d.name === 'vm2')!.vcpus[0]!.affinity, [3]);
  const vm1 = full.domains.find((d) => d.name === 'vm1')!;
  await assert.rejects(scoped.pinVcpu(vm1, 0, [1]), /vm1 is not one of this run's guests/);
  await assert.rejects(scoped.setMemory(vm1, 512 * 1024), /not one of this run's guests/);
  await assert.rejects(scoped.setMemoryStatsPeriod(vm1, 1), /not one of this run's guests/);
  assert.deepEqual((await run.hypervisor.observe()).domains.find((d) => d.name === 'vm1')!.vcpus[0]!.affinity, [0], 'vm1 untouched');
});
