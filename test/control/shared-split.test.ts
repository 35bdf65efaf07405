// vCPUs that share a pCPU set (issue #20, friction 6): the monitor listed such a vCPU only where it
// was at the moment, while the usage per pCPU pours it over its set, so `1 - usage: 55.0 | mapping []`.
// Its usage is now split over its set; the monitor and the dashboard page (same rule) add up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { sharedSplit } from '../../src/control/shared-split.js';
import { formatCpuMonitor } from '../../src/control/monitor.js';
import { pcpuUsageOf } from '../../src/cpu/usage.js';
import type { TraceInterval, TraceVcpu } from '../../src/ground/trace-record.js';

const PAGE = fileURLToPath(new URL('../../../src/web/page/cpu-rules.js', import.meta.url));
type Split = (vcpus: readonly TraceVcpu[], pcpuUsage: readonly number[]) => Array<Map<number, number> | undefined>;
const pageSplit = (() => {
  const sandbox: { virtbalanceRules?: { sharedSplit: Split } } = {};
  vm.runInNewContext(readFileSync(PAGE, 'utf8'), sandbox);
  return sandbox.virtbalanceRules!.sharedSplit;
})();

const vcpu = (domain: string, affinity: number[], usage: number, pcpu = affinity[0]): TraceVcpu => ({ domain, vcpu: 0, pcpu, affinity, usage, demand: usage });
/** The usage per pCPU as the vCPU scheduler measures it. */
const usageOf = (vcpus: TraceVcpu[], pcpus: number) => pcpuUsageOf(vcpus.map((v) => ({ ...v, domain: { name: v.domain, uuid: v.domain } })), pcpus);

function entryOf(vcpus: TraceVcpu[], pcpus: number): TraceInterval {
  return {
    type: 'interval', interval: 1, timeMs: 2000, domains: vcpus.map((v) => v.domain), actions: [], failures: [], notices: [],
    cpu: { elapsedNs: 2e9, pcpuUsage: usageOf(vcpus, pcpus), pcpuDemand: usageOf(vcpus, pcpus), vcpus },
  } as unknown as TraceInterval;
}

test('the monitor lists a vCPU on a set where its usage counts, and every line adds up', () => {
  // The case: vm1 at 80 % on {0,1}, at the moment on pCPU 0, beside vm2 at 30 % pinned to 0.
  const vcpus = [vcpu('vm1', [0, 1], 0.8, 0), vcpu('vm2', [0], 0.3), vcpu('vm3', [2], 0.2), vcpu('vm4', [0, 1, 2], 0, 0)];
  const lines = formatCpuMonitor(entryOf(vcpus, 3));
  assert.equal(lines.length, 3);
  const single = new Map(vcpus.filter((v) => v.affinity.length === 1).map((v) => [v.domain, v.usage * 100]));
  for (const line of lines) {
    const m = /^(\d+) - usage: ([\d.]+) \| mapping \[(.*)\]$/.exec(line);
    assert.ok(m, line);
    const names = m[3] === '' ? [] : m[3]!.split(', ');
    const sum = names.reduce((s, n) => s + (/ ([\d.]+)'$/.exec(n) ? Number(/ ([\d.]+)'$/.exec(n)![1]) : single.get(n.replace(/'/g, '')) ?? 0), 0);
    assert.ok(Math.abs(sum - Number(m[2])) < 0.15, `${line}: the names add up to ${sum.toFixed(1)}`);
    if (Number(m[2]) > 0) assert.ok(names.length > 0, `${line}: usage and nobody listed`);
  }
  assert.match(lines[1]!, /^1 - usage: 55\.0 \| mapping \['vm1 \[0-1\] 55\.0'\]$/);
  assert.match(lines[0]!, /'vm4'/, 'an idle shared vCPU is listed where it is now');
});

test('split: every pCPU\'s parts add up to its usage, every vCPU\'s parts to its usage; the page computes the same', () => {
  const arb = fc.integer({ min: 1, max: 6 }).chain((pcpus) => fc.array(
    fc.record({
      set: fc.uniqueArray(fc.integer({ min: 0, max: pcpus - 1 }), { minLength: 1, maxLength: pcpus }),
      usage: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    { minLength: 1, maxLength: 10 },
  ).map((list) => ({ pcpus, vcpus: list.map((v, i) => vcpu(`vm${i}`, [...v.set].sort((a, b) => a - b), v.usage)) })));
  fc.assert(fc.property(arb, ({ pcpus, vcpus }) => {
    const usage = usageOf(vcpus, pcpus);
    const split = sharedSplit(vcpus, usage);
    const perPcpu = new Array<number>(pcpus).fill(0);
    vcpus.forEach((v, i) => {
      const parts = split[i];
      if (!parts) {
        perPcpu[v.affinity[0]!]! += v.usage;
        return;
      }
      let own = 0;
      for (const [p, part] of parts) {
        assert.ok(v.affinity.includes(p) && part >= -1e-12, 'only on its own set');
        perPcpu[p]! += part;
        own += part;
      }
      assert.ok(Math.abs(own - v.usage) < 1e-9, `vCPU ${v.domain}: parts ${own} of usage ${v.usage}`);
    });
    perPcpu.forEach((sum, p) => assert.ok(Math.abs(sum - usage[p]!) < 1e-9, `pCPU ${p}: ${sum} of ${usage[p]}`));
    const page = pageSplit(vcpus, usage);
    // Through JSON: the page's Maps and arrays come from another realm (node:vm).
    const plain = (list: Array<Map<number, number> | undefined>) => JSON.parse(JSON.stringify(list.map((m) => (m ? [...m] : null)))) as unknown;
    assert.deepEqual(plain(page), plain(split));
  }), { numRuns: 1000 });
});
