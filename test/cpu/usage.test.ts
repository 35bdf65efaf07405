import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainObservation, HostObservation, VcpuObservation } from '../../src/ground/hypervisor.js';
import { measureCpu, normalizeAffinity } from '../../src/cpu/usage.js';

const s = 1e9;

function host(timeNs: number, domains: DomainObservation[], pcpus = 4): HostObservation {
  return { timeNs, host: { hostname: 'h', pcpus, memoryTotalKiB: 1 << 24, memoryFreeKiB: 1 << 23 }, domains };
}

function domain(name: string, vcpus: VcpuObservation[], state: DomainObservation['state'] = 'running'): DomainObservation {
  return { name, uuid: `uuid-${name}`, state, vcpus };
}

function vcpu(index: number, timeNs: number, extra: Partial<VcpuObservation> = {}): VcpuObservation {
  return { index, timeNs, affinity: [0, 1, 2, 3], ...extra };
}

const close = (actual: number | undefined, expected: number, what = ''): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what} expected ${expected}, got ${actual}`);
};

test('usage divides by the elapsed time between the observations, not a nominal interval', () => {
  // 2.5 s passed although the loop meant to wake every 2 s: 1.25 s of vCPU time is 50 %.
  const m = measureCpu(host(10 * s, [domain('a', [vcpu(0, 4 * s, { affinity: [1] })])]), host(12.5 * s, [domain('a', [vcpu(0, 5.25 * s, { affinity: [1] })])]));
  assert.equal(m.elapsedNs, 2.5 * s);
  assert.equal(m.vcpus.length, 1);
  close(m.vcpus[0]?.usage, 0.5, 'usage');
  close(m.vcpus[0]?.demand, 0.5, 'demand without delay');
  close(m.pcpuUsage[1], 0.5, 'pCPU1 usage');
  close(m.pcpuUsage[0], 0, 'pCPU0 usage');
});

test('demand adds the time the vCPU waited for a pCPU', () => {
  const prev = host(0, [domain('a', [vcpu(0, 0, { delayNs: 0, affinity: [0] })])]);
  const cur = host(1 * s, [domain('a', [vcpu(0, 0.25 * s, { delayNs: 0.75 * s, affinity: [0] })])]);
  const m = measureCpu(prev, cur);
  close(m.vcpus[0]?.usage, 0.25, 'usage');
  close(m.vcpus[0]?.demand, 1, 'demand');
  close(m.pcpuDemand[0], 1, 'pCPU0 demand');
});

test('rates are clamped to [0, 1]', () => {
  const prev = host(0, [domain('a', [vcpu(0, 0, { delayNs: 0 })])]);
  const cur = host(1 * s, [domain('a', [vcpu(0, 1.2 * s, { delayNs: 0.5 * s })])]);
  const v = measureCpu(prev, cur).vcpus[0];
  assert.equal(v?.usage, 1);
  assert.equal(v?.demand, 1);
});

test('a restarted domain (counters went backwards) gives no negative usage: it is skipped this interval', () => {
  const prev = host(0, [domain('a', [vcpu(0, 50 * s, { delayNs: 9 * s }), vcpu(1, 50 * s, { delayNs: 9 * s })])]);
  const cur = host(1 * s, [domain('a', [vcpu(0, 0.1 * s, { delayNs: 0 }), vcpu(1, 50.5 * s, { delayNs: 8 * s })])]);
  const m = measureCpu(prev, cur);
  assert.deepEqual(m.vcpus, []);
  for (const u of [...m.pcpuUsage, ...m.pcpuDemand]) assert.ok(u >= 0);
});

test('new domains wait for their first delta; vanished and stopped domains drop out', () => {
  const prev = host(0, [domain('old', [vcpu(0, 0)]), domain('stays', [vcpu(0, 0)]), domain('stopping', [vcpu(0, 0)])]);
  const cur = host(1 * s, [domain('stays', [vcpu(0, 0.3 * s)]), domain('new', [vcpu(0, 5 * s)]), domain('stopping', [vcpu(0, 0.2 * s)], 'shutoff')]);
  const m = measureCpu(prev, cur);
  assert.deepEqual(m.vcpus.map((v) => v.domain.name), ['stays']);
  close(m.vcpus[0]?.usage, 0.3);
});

test('domains are matched by UUID, not by list position or name', () => {
  const prev = host(0, [domain('b', [vcpu(0, 1 * s)]), domain('a', [vcpu(0, 0)])]);
  const renamed = { ...domain('a', [vcpu(0, 0.4 * s)]), name: 'a-renamed' };
  const cur = host(1 * s, [renamed, domain('b', [vcpu(0, 1.1 * s)])]);
  const m = measureCpu(prev, cur);
  const byName = new Map(m.vcpus.map((v) => [v.domain.name, v.usage]));
  close(byName.get('a-renamed'), 0.4, 'a');
  close(byName.get('b'), 0.1, 'b');
});

test('a hot-plugged vCPU without a previous reading is skipped, its siblings are measured', () => {
  const prev = host(0, [domain('a', [vcpu(0, 0)])]);
  const cur = host(1 * s, [domain('a', [vcpu(0, 0.6 * s), vcpu(1, 0.9 * s)])]);
  assert.deepEqual(measureCpu(prev, cur).vcpus.map((v) => v.vcpu), [0]);
});

test('no time elapsed: nothing is measured, nothing divides by zero', () => {
  const obs = host(5 * s, [domain('a', [vcpu(0, 1 * s)])]);
  const m = measureCpu(obs, obs);
  assert.equal(m.vcpus.length, 0);
  assert.deepEqual(m.pcpuUsage, [0, 0, 0, 0]);
  const backwards = measureCpu(host(6 * s, []), host(5 * s, []));
  assert.equal(backwards.elapsedNs, 0);
});

test('pCPU usage: a pinned vCPU counts on its pCPU, a vCPU allowed on several fills the least busy of them; demand spreads over the affinity', () => {
  const prev = host(0, [domain('pinned', [vcpu(0, 0, { affinity: [2] })]), domain('free', [vcpu(0, 0, { affinity: [0, 1, 2, 3], pcpu: 3 })]), domain('two', [vcpu(0, 0, { affinity: [0, 1] })])]);
  const cur = host(1 * s, [
    domain('pinned', [vcpu(0, 0.4 * s, { affinity: [2], pcpu: 2 })]),
    domain('free', [vcpu(0, 0.8 * s, { affinity: [0, 1, 2, 3], pcpu: 3 })]),
    domain('two', [vcpu(0, 0.2 * s, { affinity: [0, 1] })]),
  ]);
  const m = measureCpu(prev, cur);
  // usage: pinned → pCPU2; two (the more constrained) levels 0 and 1 at 0.1; free's 0.8 then raises
  // pCPUs 3, 0, 1 to a common 1/3 (below pCPU2's 0.4), wherever it was seen last.
  [1 / 3, 1 / 3, 0.4, 1 / 3].forEach((u, p) => close(m.pcpuUsage[p], u, `usage pCPU${p}`));
  assert.ok(Math.abs(m.pcpuUsage.reduce((a, b) => a + b, 0) - 1.4) < 1e-9, 'usage is conserved');
  // demand: free's 0.8 spread over 4 pCPUs, two's 0.2 over 2.
  [0.3, 0.3, 0.6, 0.2].forEach((d, p) => close(m.pcpuDemand[p], d, `demand pCPU${p}`));
});

test('two busy unpinned vCPUs last seen on the same pCPU do not make it read 200 %', () => {
  const prev = host(0, [domain('a', [vcpu(0, 0, { pcpu: 1 })]), domain('b', [vcpu(0, 0, { pcpu: 1 })])]);
  const cur = host(1 * s, [domain('a', [vcpu(0, 1 * s, { pcpu: 1 })]), domain('b', [vcpu(0, 1 * s, { pcpu: 1 })])]);
  const m = measureCpu(prev, cur);
  assert.ok(Math.max(...m.pcpuUsage) <= 1 + 1e-9, `usage ${m.pcpuUsage.join(', ')}`);
  close(m.pcpuUsage.reduce((a, b) => a + b, 0), 2, 'total usage');
});

test('affinity and current pCPU outside the host are ignored', () => {
  const prev = host(0, [domain('a', [vcpu(0, 0, { affinity: [1, 9] })])], 2);
  const cur = host(1 * s, [domain('a', [vcpu(0, 0.5 * s, { affinity: [1, 9, -1], pcpu: 7 })])], 2);
  const v = measureCpu(prev, cur).vcpus[0];
  assert.deepEqual(v?.affinity, [1]);
  assert.equal(v?.pcpu, undefined);
  assert.deepEqual(normalizeAffinity([5, 6], 2), [0, 1]);
  assert.deepEqual(normalizeAffinity([3, 1, 1], 4), [1, 3]);
});
