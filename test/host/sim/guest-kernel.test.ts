import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedHost } from '../../../src/host/sim/simulated-host.js';
import { parseScenario } from '../../../src/host/sim/scenario.js';

// A simulated guest with the figures of the lab's real guests (scenario `guestKernel`, issue #18), against
// what cache-policy-e2e's scanner (Debian cloud kernel 6.1, booted at 2048 MiB, ballooned to 512) said
// in its /proc/meminfo: idle MemTotal 443, MemFree 399, MemAvailable 330; after reading 1.5 GiB of its
// disk MemFree 65, MemAvailable 281, Buffers 338 (Cached 3).

const MiB = 1024;

function guest(kernel: boolean) {
  const text = `name: gk
interval: 1
intervals: 60
host: { pcpus: 1, memoryMiB: 8192, diskReadMiBps: 200 }
domains:
  - name: vm1
    memoryMiB: 512
    maxMemoryMiB: 2048
    statsPeriod: 1
${kernel ? '    guestKernel: { reservedMiB: 69, minFreeMiB: 65, reserveMiB: 70, lowWatermarkMiB: 51 }\n' : ''}    workload: { usedMiB: 113, reads: [{ scan: 1536, rate: 100, at: 10 }] }
`;
  const r = createSimulatedHost(parseScenario(text, 'gk.yaml'));
  return async (s: number) => {
    r.clock.sleep(s * 1000 - r.clock.nowMs());
    const b = (await r.hypervisor.observe()).domains[0]!.balloon!;
    return { total: b.availableKiB! / MiB, free: b.unusedKiB! / MiB, available: b.usableKiB! / MiB, caches: b.diskCachesKiB! / MiB };
  };
}

test('guestKernel: MemTotal, MemFree and MemAvailable as the real lab guest reported them, idle and full of cold cache', async () => {
  const at = guest(true);
  const idle = await at(5);
  assert.deepEqual([idle.total, idle.free, idle.available].map(Math.round), [443, 399, 329]);
  const full = await at(40);
  // The cache fills all but the 65 MiB the kernel keeps free: 334 MiB (the real guest: Buffers 338).
  assert.deepEqual([full.free, full.caches].map(Math.round), [65, 334]);
  // MemFree − 70 + cache − 51: 278 (the real guest: 281).
  assert.equal(Math.round(full.available), 278);
});

test('without guestKernel the simulated guest is the idealised one: MemTotal = balloon, every free page fills, MemAvailable = MemFree + cache', async () => {
  const at = guest(false);
  const full = await at(40);
  assert.equal(full.total, 512);
  assert.equal(Math.round(full.free), 0);
  assert.equal(Math.round(full.available), 512 - 113);
});
