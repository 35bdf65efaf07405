import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import { shippedScenariosDir } from '../../src/app/target.js';
import { ScopedHypervisor } from '../../src/host/scoped-host.js';
import type { DomainRef, Hypervisor } from '../../src/ground/hypervisor.js';
import { everyDomain, type DomainScope } from '../../src/ground/domain-scope.js';
import { runControlLoop } from '../../src/control/loop.js';
import { memoryOptionsFor } from '../../src/control/simulate.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';

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
  await assert.rejects(scoped.pinVcpu(vm1, 0, [1]), /vm1 is not one of this run's domains/);
  await assert.rejects(scoped.setMemory(vm1, 512 * 1024), /not one of this run's domains/);
  await assert.rejects(scoped.setMemoryStatsPeriod(vm1, 1), /not one of this run's domains/);
  assert.deepEqual((await run.hypervisor.observe()).domains.find((d) => d.name === 'vm1')!.vcpus[0]!.affinity, [0], 'vm1 untouched');
});

/** The calls that reached the host, by domain name, under whatever wraps it. */
function recording(inner: Hypervisor): { host: Hypervisor; calls: Map<string, string[]> } {
  const calls = new Map<string, string[]>();
  const note = (d: DomainRef, what: string) => calls.set(d.name, [...(calls.get(d.name) ?? []), what]);
  return {
    calls,
    host: {
      uri: inner.uri,
      observe: () => inner.observe(),
      pinVcpu: (d, v, p) => (note(d, `pin ${v}`), inner.pinVcpu(d, v, p)),
      setMemory: (d, k) => (note(d, `memory ${k}`), inner.setMemory(d, k)),
      setMemoryStatsPeriod: (d, s) => (note(d, `stats period ${s}`), inner.setMemoryStatsPeriod(d, s)),
      close: () => inner.close(),
    },
  };
}

/** Runs a scenario's controllers for `intervals` on its simulated host, through `wrap`; returns the calls made per domain. */
async function callsOf(scenarioName: string, intervals: number, wrap: (h: Hypervisor, domains: DomainRef[]) => Hypervisor): Promise<Map<string, string[]>> {
  const scenario = loadScenario(`${shippedScenariosDir}${scenarioName}.yaml`);
  const run = createSimulatedHost(scenario);
  const { host, calls } = recording(run.hypervisor);
  const domains = (await run.hypervisor.observe()).domains;
  await runControlLoop(wrap(host, domains), run.clock, {
    intervalSeconds: scenario.intervalSeconds,
    intervals,
    ...(scenario.controllers.includes('cpu') ? { cpu: { ...defaultCpuSchedulerOptions } } : {}),
    ...(scenario.controllers.includes('memory') ? { memory: memoryOptionsFor(scenario) } : {}),
  }, { record: () => {} });
  return calls;
}

test('out of scope, a domain the controllers would have pinned, ballooned and given a stats period gets no call at all', async () => {
  // Unscoped first: which domains do the controllers act on in these scenarios?
  const cpuCalls = await callsOf('cpu-2-all-on-pcpu0', 10, (h) => h);
  const memoryCalls = await callsOf('memory-1-one-consumer', 30, (h) => h);
  const pinned = [...cpuCalls.keys()].sort();
  assert.ok(pinned.length >= 4, `unscoped, the scheduler pins several guests: ${pinned.join(', ')}`);
  const vm2 = memoryCalls.get('vm2') ?? [];
  assert.ok(vm2.some((c) => c.startsWith('stats period')) && vm2.some((c) => c.startsWith('memory')), `unscoped, vm2 gets a stats period and a balloon change: ${vm2.join(', ')}`);

  // The same runs with those domains out of scope, each way a scope can say so.
  const victim = pinned[0]!;
  for (const scope of [
    (d: DomainRef[]) => ({ ...everyDomain, exclude: [victim] }),
    (d: DomainRef[]) => ({ ...everyDomain, exclude: [d.find((x) => x.name === victim)!.uuid.toUpperCase()] }),
    (_d: DomainRef[]) => ({ ...everyDomain, only: ['vm[!' + victim.slice(2) + ']*'] }),
    (_d: DomainRef[]) => ({ ...everyDomain, unmanaged: [victim] }),
  ]) {
    let said = '';
    const calls = await callsOf('cpu-2-all-on-pcpu0', 10, (h, d) => new ScopedHypervisor(h, JSON.parse((said = JSON.stringify(scope(d)))) as DomainScope));
    assert.equal(calls.get(victim), undefined, `${victim} out of scope (${said}) was acted on: ${calls.get(victim)?.join(', ')}`);
    assert.ok(calls.size >= 3, `the others are still balanced: ${[...calls.keys()].join(', ')}`);
  }
  const scoped = await callsOf('memory-1-one-consumer', 30, (h) => new ScopedHypervisor(h, { ...everyDomain, exclude: ['vm2'] }));
  assert.equal(scoped.get('vm2'), undefined, `vm2 excluded got: ${scoped.get('vm2')?.join(', ')}`);
  assert.ok((scoped.get('vm3') ?? []).some((c) => c.startsWith('memory')), 'vm3 is still coordinated');
});

test('the scoped host says which running domains it leaves alone, when that changes', async () => {
  const run = createSimulatedHost(loadScenario(`${shippedScenariosDir}cpu-2-all-on-pcpu0.yaml`));
  const said: string[][] = [];
  const scoped = new ScopedHypervisor(run.hypervisor, { ...everyDomain, only: ['vm1', 'vm2'] }, { onLeftAlone: (n) => said.push(n) });
  await scoped.observe();
  await scoped.observe();
  assert.deepEqual(said, [['vm3', 'vm4', 'vm5', 'vm6', 'vm7', 'vm8']]);
});
