// The fleet rules (deploy/prometheus/virtbalance-fleet.rules.yml: the descheduler's node pressure
// and the shortfall alert) and the optional Watcher rules (deploy/prometheus/watcher.rules.yml:
// ceilometer_cpu and ceilometer_memory_usage), tested with promtool on synthetic series that cover
// Watcher's 300 s windows; then a real Prometheus (Debian's, 2.42) scraping two simulated hosts in
// real time, where Watcher's instance queries and the descheduler's node query, as they issue them,
// must read what the simulator's truth says within 2 %.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { dashboardUrlOf, get, parsePrometheus, repoRoot, startCli, type CliRun } from '../web/helpers.js';
import { metricNamesIn } from './promql.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { IN_CI, stopChildren, freePort, until, type PromSeries } from './tools.js';

const run = promisify(execFile);
const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS = '/usr/bin/prometheus';

function missingTools(): string | undefined {
  for (const tool of [PROMETHEUS, PROMTOOL]) {
    try {
      accessSync(tool, constants.X_OK);
    } catch {
      return `${tool} is missing (apt-get install -y --no-install-recommends prometheus)`;
    }
  }
  return undefined;
}
const missing = missingTools();
if (missing && IN_CI) throw new Error(missing);

describe('the fleet and Watcher rules under promtool', { skip: missing, timeout: 60_000 }, () => {
  for (const [rules, fixture, count] of [
    ['virtbalance-fleet.rules.yml', 'virtbalance-fleet.rules.test.yml', 2],
    ['watcher.rules.yml', 'watcher.rules.test.yml', 2],
  ] as const) {
    it(`${rules}: promtool check rules, then its unit tests`, async () => {
      const checked = await run(PROMTOOL, ['check', 'rules', join(repoRoot, 'deploy/prometheus', rules)]);
      assert.match(checked.stdout, new RegExp(`SUCCESS: ${count} rules found`));
      const tested = await run(PROMTOOL, ['test', 'rules', join(repoRoot, 'test/deploy/fixtures', fixture)]);
      assert.match(tested.stdout, /SUCCESS/);
    });
  }
});

interface ScenarioDomain {
  name: string;
  vcpus?: number;
  floorMiB: number;
}
interface Scenario {
  host: { pcpus: number; memoryMiB: number; overheadMiB: number; reserveMiB: number };
  domains: ScenarioDomain[];
}

/** Watcher's period here: its default is 300 s (promtool covers that); a live test cannot wait five minutes per query. */
const PERIOD_S = 30;

describe('a real Prometheus on two simulated hosts: Watcher\'s and the descheduler\'s queries against the truth', { skip: missing, timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'vb-fleet-prometheus-'));
  const hosts: { name: string; fqdn: string; instance: string; scenario: Scenario; run: CliRun }[] = [];
  let prometheus: ChildProcess | undefined;
  let api = '';
  let started = 0;

  async function query(promql: string): Promise<PromSeries[]> {
    const res = await get(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = JSON.parse(res.body) as { status: string; error?: string; data?: { resultType: string; result: PromSeries[] } };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    return body.data!.resultType === 'vector' ? body.data!.result : [];
  }

  /** The simulator's truth over the last PERIOD_S virtual seconds of a host's trace (steady workloads: the windows need not line up). */
  function truth(host: (typeof hosts)[number]): { cpuPercent: Map<string, number>; memoryMiB: Map<string, number>; cpuDemand: number; cpuReceived: Map<string, number>; pressure: number; hostCpuPercent: number; hostUsedKiB: number } {
    const lines = readFileSync(join(work, host.name, 'trace.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TraceInterval | { type: 'header' });
    const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval' && !!(l as TraceInterval).truth);
    const end = intervals[intervals.length - 1]!.timeMs;
    const window = intervals.filter((i) => i.timeMs > end - PERIOD_S * 1000);
    const received = new Map<string, number>();
    const memory = new Map<string, number>();
    let demand = 0;
    let hostBusy = 0;
    let hostFreeKiB = 0;
    for (const i of window) {
      hostBusy += (i.truth!.vcpus.reduce((sum, v) => sum + v.received, 0) + (i.truth!.otherLoad?.received ?? []).reduce((a, b) => a + b, 0)) / window.length;
      // The simulator's own free memory (an observation of it has no error).
      hostFreeKiB += i.memory!.hostFreeKiB / window.length;
      for (const v of i.truth!.vcpus) {
        received.set(v.domain, (received.get(v.domain) ?? 0) + v.received / window.length);
        demand += v.demand / window.length;
      }
      for (const [d, kib] of Object.entries(i.truth!.memoryDemandKiB)) memory.set(d, (memory.get(d) ?? 0) + kib / 1024 / window.length);
    }
    const cpuPercent = new Map(host.scenario.domains.map((d) => [d.name, (100 * received.get(d.name)!) / (d.vcpus ?? 1)]));
    const h = host.scenario.host;
    const need = host.scenario.domains.reduce((s, d) => s + memory.get(d.name)! + d.floorMiB, 0);
    const pressure = Math.min(1, Math.max(demand / h.pcpus, need / (h.memoryMiB - h.overheadMiB - h.reserveMiB)));
    return { cpuPercent, memoryMiB: memory, cpuDemand: demand, cpuReceived: received, pressure, hostCpuPercent: (100 * hostBusy) / h.pcpus, hostUsedKiB: h.memoryMiB * 1024 - hostFreeKiB };
  }

  const within = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 0.02 * Math.abs(want), `${what}: Prometheus says ${got}, the truth ${want} (more than 2 % apart)`);

  /**
   * Runs `check` again, once, a full window later when it misses. A rate over the window reads 30/29 of
   * the truth for as long as one of its 30 scrapes sits in it a second off (a paced simulator that
   * stalled and caught up, a delayed scrape): seen once in a dozen CI runs, 51.72 % for 50 %. A wrong
   * query misses both times.
   */
  async function againAfterAWindow(what: string, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (err) {
      if (!(err instanceof assert.AssertionError)) throw err;
      console.log(`# ${what}: ${err.message.split('\n')[0]}; read again after a full window`);
      await new Promise((r) => setTimeout(r, (PERIOD_S + 2) * 1000));
      await check();
    }
  }

  before(async () => {
    const ports = [await freePort(), await freePort()];
    const names = ['fleet-a', 'fleet-b'];
    const instances = ports.map((p) => `127.0.0.1:${p}`);
    const rules = ['virtbalance-fleet.rules.yml', 'watcher.rules.yml'];
    // The shipped rules, only with every `for:` cut to 1 s.
    for (const r of rules) writeFileSync(join(work, r), readFileSync(join(repoRoot, 'deploy/prometheus', r), 'utf8').replace(/^(\s+for:).*$/gm, '$1 1s'));
    writeFileSync(
      join(work, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        `rule_files: [${rules.join(', ')}]`,
        'scrape_configs:',
        '  - job_name: virtbalance',
        '    static_configs:',
        ...instances.flatMap((i, n) => [`      - targets: ['${i}']`, '        labels:', `          fqdn: ${names[n]}.example.net`]),
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const log = openSync(join(work, 'prometheus.log'), 'w');
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
    await until('Prometheus ready', 30_000, async () => ((await get(`${api}/-/ready`)).status === 200 ? true : undefined));
    // Each host an interval of 0.25 s, paced at 4 intervals a second: virtual time runs as real
    // time, so per-second rates in Prometheus are per-second rates in the simulator.
    for (const [n, name] of names.entries()) {
      const file = join(repoRoot, 'test/deploy/fixtures/fleet', `${name}.yaml`);
      const run = startCli(['sim', file, '--quiet', '--out', work, '--http', instances[n]!, '--pace', '4', '--libvirt-names', '--node-names']);
      hosts.push({ name, fqdn: `${name}.example.net`, instance: instances[n]!, scenario: parseYaml(readFileSync(file, 'utf8')) as Scenario, run });
      await dashboardUrlOf(run);
    }
    started = Date.now();
  });

  after(async () => {
    await stopChildren([...hosts.map((h) => h.run.child), ...(prometheus ? [prometheus] : [])]);
    rmSync(work, { recursive: true, force: true });
  });

  it('the fleet and Watcher rules read only series the agents export (with --libvirt-names and --node-names)', async () => {
    const exported = new Set<string>();
    for (const h of hosts) for (const sample of parsePrometheus((await get(`http://${h.instance}/metrics`)).body).samples) exported.add(sample.name);
    for (const file of ['virtbalance-fleet.rules.yml', 'watcher.rules.yml']) {
      const rules = (parseYaml(readFileSync(join(repoRoot, 'deploy/prometheus', file), 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules);
      for (const r of rules) for (const name of metricNamesIn(r.expr)) assert.ok(exported.has(name), `${file}: ${name} is not exported`);
    }
  });

  it(`Watcher's instance CPU and memory queries (period ${PERIOD_S} s) read the truth within 2 %`, async () => {
    // A full window of scrapes after the guests' balloon statistics have settled.
    await new Promise((r) => setTimeout(r, Math.max(0, started + (PERIOD_S + 12) * 1000 - Date.now())));
    const figures: string[] = [];
    await againAfterAWindow("Watcher's instance queries", async () => {
      figures.length = 0;
      for (const host of hosts) {
        const t = truth(host);
        const uuids = await query(`virtbalance_domain_info{fqdn="${host.fqdn}"}`);
        assert.equal(uuids.length, host.scenario.domains.length, `${host.name}: every guest has its UUID`);
        for (const d of host.scenario.domains) {
          const uuid = uuids.find((u) => u.metric.domain === d.name)!.metric.uuid!;
          const vcpus = d.vcpus ?? 1;
          // As Watcher's Prometheus data source builds them (instance_cpu_usage, instance_ram_usage; aggregate mean).
          const cpu = await query(`clamp_max((avg by (resource)(rate(ceilometer_cpu{resource='${uuid}'}[${PERIOD_S}s]))/10e+8) *(100/${vcpus}), 100)`);
          const ram = await query(`avg_over_time(ceilometer_memory_usage{resource='${uuid}'}[${PERIOD_S}s])`);
          assert.equal(cpu.length, 1, `${host.name}/${d.name}: one CPU answer`);
          assert.equal(ram.length, 1, `${host.name}/${d.name}: one memory answer`);
          assert.equal(ram[0]!.metric.fqdn, host.fqdn, 'the fqdn target label is kept');
          within(Number(cpu[0]!.value[1]), t.cpuPercent.get(d.name)!, `${host.name}/${d.name} CPU %`);
          within(Number(ram[0]!.value[1]), t.memoryMiB.get(d.name)!, `${host.name}/${d.name} memory MB`);
          figures.push(`${host.name}/${d.name}: CPU ${Number(cpu[0]!.value[1]).toFixed(2)} % (truth ${t.cpuPercent.get(d.name)!.toFixed(2)}), memory ${Number(ram[0]!.value[1]).toFixed(1)} MB (truth ${t.memoryMiB.get(d.name)!.toFixed(1)})`);
        }
      }
    });
    console.log(`# ${figures.join('\n# ')}`);
  });

  it(`Watcher's host CPU and memory queries (node_exporter's names from --node-names, by fqdn, period ${PERIOD_S} s) read the truth within 2 %`, async () => {
    const figures: string[] = [];
    await againAfterAWindow("Watcher's host queries", async () => {
      figures.length = 0;
      for (const host of hosts) {
        const t = truth(host);
        const cpu = await query(`100 - (avg by (fqdn)(rate(node_cpu_seconds_total{mode='idle',fqdn='${host.fqdn}'}[${PERIOD_S}s])) * 100)`);
        const ram = await query(`(node_memory_MemTotal_bytes{fqdn='${host.fqdn}'} - avg_over_time(node_memory_MemAvailable_bytes{fqdn='${host.fqdn}'}[${PERIOD_S}s])) / 1024`);
        assert.equal(cpu.length, 1, `${host.name}: one host CPU answer`);
        assert.equal(ram.length, 1, `${host.name}: one host memory answer`);
        within(Number(cpu[0]!.value[1]), t.hostCpuPercent, `${host.name} host CPU %`);
        within(Number(ram[0]!.value[1]), t.hostUsedKiB, `${host.name} host memory used (KB)`);
        figures.push(`${host.name}: host CPU ${Number(cpu[0]!.value[1]).toFixed(2)} % (truth ${t.hostCpuPercent.toFixed(2)}), used ${Number(ram[0]!.value[1]).toFixed(0)} KB (truth ${t.hostUsedKiB.toFixed(0)})`);
      }
    });
    console.log(`# ${figures.join('\n# ')}`);
  });

  it("the descheduler's node query reads each host's pressure within 2 % of the truth; the short host names its guest to move and alerts", async () => {
    const figures: string[] = [];
    for (const host of hosts) {
      const t = truth(host);
      // The query as the descheduler's LowNodeUtilization issues it: one 0-1 value per node.
      const r = await query('virtbalance:node_pressure:ratio');
      const mine = r.find((s) => s.metric.instance === host.instance);
      assert.ok(mine, `${host.name}: a node pressure`);
      within(Number(mine.value[1]), t.pressure, `${host.name} node pressure`);
      figures.push(`${host.name}: pressure ${Number(mine.value[1]).toFixed(4)} (truth ${t.pressure.toFixed(4)}), CPU demand ${t.cpuDemand.toFixed(3)} pCPUs`);
    }
    assert.equal(r2(await query('count(virtbalance:node_pressure:ratio)')), 2);
    // fleet-b: 2.8 pCPUs wanted of 2; app1 (0.9) is the smallest guest that covers the 0.8 short.
    const b = hosts[1]!;
    const tb = truth(b);
    const short = await query(`virtbalance_shortfall_cpu_ratio{instance="${b.instance}"}`);
    within(Number(short[0]!.value[1]), tb.cpuDemand - b.scenario.host.pcpus, 'fleet-b CPU shortfall (pCPUs)');
    const relief = await query(`virtbalance_shortfall_relief{instance="${b.instance}"}`);
    assert.deepEqual(relief.map((s) => [s.metric.resource, s.metric.domain]), [['cpu', 'app1']]);
    assert.equal((await query(`virtbalance_shortfall_relief{instance="${hosts[0]!.instance}"}`)).length, 0, 'fleet-a is not short');
    const firing = await until('VirtbalanceHostShortfall on fleet-b', 30_000, async () => {
      const a = await query('ALERTS{alertname="VirtbalanceHostShortfall", alertstate="firing"}');
      return a.length > 0 ? a : undefined;
    });
    assert.deepEqual(firing.map((s) => [s.metric.instance, s.metric.resource]), [[b.instance, 'cpu']]);
    figures.push(`fleet-b: short ${Number(short[0]!.value[1]).toFixed(3)} pCPUs (truth ${(tb.cpuDemand - b.scenario.host.pcpus).toFixed(3)}), move ${relief[0]!.metric.domain}`);
    console.log(`# ${figures.join('\n# ')}`);
  });
});

function r2(series: PromSeries[]): number {
  return Number(series[0]?.value[1]);
}
