// The fleet as Prometheus sees it: a real Prometheus server (Debian's `prometheus` package) on
// loopback scrapes two agents on two simulated hosts every second and evaluates the shipped
// alerting rules; the Grafana dashboard's queries are checked against what the agents export and
// run against that server. Everything started here is stopped here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { dashboardUrlOf, get, parsePrometheus, repoRoot, startCli, type CliRun } from '../web/helpers.js';
import { grafanaQueries, metricNamesIn, substituteGrafanaVariables } from './promql.js';
import { IN_CI, stopChildren, freePort, until, type PromSeries } from './tools.js';

const run = promisify(execFile);
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const rulesPath = join(repoRoot, 'deploy/prometheus/virtbalance.rules.yml');
const dashboardPath = join(repoRoot, 'deploy/grafana/virtbalance-fleet.json');
/** Series Prometheus makes itself rather than scraping. */
const PROMETHEUS_OWN = new Set(['up', 'ALERTS', 'ALERTS_FOR_STATE']);

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

interface Rule {
  alert: string;
  expr: string;
}
const rules = (parseYaml(readFileSync(rulesPath, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8'));

describe('Prometheus scraping two agents', { skip: missing, timeout: 180_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'vb-prometheus-'));
  const agents: { name: string; run: CliRun; instance: string }[] = [];
  let prometheus: ChildProcess | undefined;
  let api = '';

  async function query(promql: string): Promise<PromSeries[]> {
    const res = await get(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = JSON.parse(res.body) as { status: string; error?: string; data?: { resultType: string; result: PromSeries[] } };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    return body.data!.resultType === 'vector' ? body.data!.result : [];
  }

  async function firing(alertname: string): Promise<Set<string>> {
    return new Set((await query(`ALERTS{alertname="${alertname}", alertstate="firing"}`)).map((s) => s.metric.instance!));
  }

  before(async () => {
    const scenarios = [
      ['healthy', 'demo-grader'],
      ['short-of-memory', 'memory-4-host-too-small'],
    ] as const;
    const ports = [await freePort(), await freePort()];
    const instances = ports.map((p) => `127.0.0.1:${p}`);
    // The rules as shipped, only with every `for:` cut to 1 s so the test need not wait minutes.
    writeFileSync(join(work, 'rules.yml'), readFileSync(rulesPath, 'utf8').replace(/^(\s+for:).*$/gm, '$1 1s'));
    writeFileSync(
      join(work, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files: [rules.yml]',
        'scrape_configs:',
        '  - job_name: virtbalance',
        '    static_configs:',
        `      - targets: [${instances.map((i) => `'${i}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const log = openSync(join(work, 'prometheus.log'), 'w');
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', log, log],
    });
    await until('Prometheus ready', 30_000, async () => ((await get(`${api}/-/ready`)).status === 200 ? true : undefined));
    // Prometheus first, so it sees every counter from its start. A: the demo (both controllers, a
    // healthy host). B: a host too small for its guests, where the memory coordinator cannot keep
    // every guest fed and the guests' OOM killers run (from interval 16). Both run longer than the
    // test (8 virtual seconds per second), which stops them.
    for (const [i, [name, scenario]] of scenarios.entries()) {
      const agent = { name, instance: instances[i]!, run: startCli(['sim', scenario, '--quiet', '--out', join(work, name), '--http', instances[i]!, '--pace', '4', '--intervals', '1000']) };
      agents.push(agent);
      await dashboardUrlOf(agent.run);
    }
  });

  after(async () => {
    await stopChildren([...agents.map((a) => a.run.child), ...(prometheus ? [prometheus] : [])]);
    rmSync(work, { recursive: true, force: true });
  });

  it('promtool accepts the rules and the example configuration', async () => {
    const checked = await run(PROMTOOL, ['check', 'rules', rulesPath]);
    assert.match(checked.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    await run(PROMTOOL, ['check', 'config', join(repoRoot, 'deploy/prometheus/prometheus.example.yml')]);
  });

  it('promtool unit tests: each rule fires for exactly the host that breaks it, after its for:', async () => {
    const fixture = join(repoRoot, 'test/deploy/fixtures/virtbalance.rules.test.yml');
    const tested = (parseYaml(readFileSync(fixture, 'utf8')) as { tests: { alert_rule_test: { alertname: string }[] }[] }).tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname));
    assert.deepEqual([...new Set(tested)].sort(), rules.map((r) => r.alert).sort(), 'every rule has a promtool test');
    const result = await run(PROMTOOL, ['test', 'rules', fixture]);
    assert.match(result.stdout, /SUCCESS/);
  });

  it("both hosts' series arrive", async () => {
    const instances = agents.map((a) => a.instance).sort();
    await until('both agents scraped and up', 30_000, async () => {
      const up = await query('up{job="virtbalance"} == 1');
      return up.length === 2 ? true : undefined;
    });
    const targets = await until('target info of both hosts', 15_000, async () => {
      const r = await query('virtbalance_target_info');
      return r.length === 2 ? r : undefined;
    });
    assert.deepEqual(targets.map((s) => s.metric.instance).sort(), instances);
    assert.deepEqual(targets.map((s) => [s.metric.target, s.metric.hypervisor]).sort(), [
      ['sim:demo-grader', 'simulated'],
      ['sim:memory-4-host-too-small', 'simulated'],
    ]);
    const guests = await until('guests of both hosts', 15_000, async () => {
      const r = await query('count by (instance) (virtbalance_balloon_actual_bytes)');
      return r.length === 2 ? r : undefined;
    });
    assert.deepEqual(guests.map((s) => s.metric.instance).sort(), instances);
    assert.equal((await query('virtbalance_intervals_total > 0')).length, 2);
  });

  it("each guest's prediction error and CPU weight arrive, per guest, on the host whose vCPU scheduler runs", async () => {
    const [healthy] = agents.map((a) => a.instance);
    // demo-grader: eight one-vCPU guests, the vCPU scheduler predicting their shares from its second decision on.
    const errors = await until('prediction errors of the demo guests', 30_000, async () => {
      const r = await query(`virtbalance_vcpu_prediction_error_ratio{instance="${healthy}"}`);
      return r.length === 8 ? r : undefined;
    });
    assert.deepEqual(errors.map((s) => s.metric.domain).sort(), ['vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6', 'vm7', 'vm8']);
    for (const e of errors) assert.ok(Number(e.value[1]) >= 0 && Number(e.value[1]) <= 1, `${e.metric.domain}: ${e.value[1]}`);
    const mean = await query(`virtbalance_cpu_prediction_error_ratio{instance="${healthy}"}`);
    assert.equal(mean.length, 1);
    const weights = await query(`virtbalance_cpu_weight{instance="${healthy}"} == 1`);
    assert.equal(weights.length, 8, 'no guest of the demo is weighted');
    // One clock-bound mark per vCPU; the demo's guests are steady (none bursty), so none is learned clock-bound.
    const marks = await query(`virtbalance_vcpu_clock_bound{instance="${healthy}"}`);
    assert.deepEqual(marks.map((s) => `${s.metric.domain}/${s.metric.vcpu}=${s.value[1]}`).sort(), ['vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6', 'vm7', 'vm8'].map((d) => `${d}/0=0`));
  });

  it('the rules and the dashboard read only metrics the agents export', async () => {
    const exported = new Set<string>();
    for (const a of agents) for (const sample of parsePrometheus((await get(`http://${a.instance}/metrics`)).body).samples) exported.add(sample.name);
    assert.ok(exported.has('virtbalance_build_info') && exported.has('process_cpu_seconds_total'));
    const queries = [...rules.map((r) => r.expr), ...grafanaQueries(dashboard)];
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    const unknown = new Map<string, string>();
    for (const q of queries) {
      const names = metricNamesIn(substituteGrafanaVariables(q));
      assert.ok(names.size > 0, `no metric in ${q}`);
      for (const n of names) if (!exported.has(n) && !PROMETHEUS_OWN.has(n)) unknown.set(n, q);
    }
    assert.deepEqual([...unknown], []);
  });

  it('alerts fire on the host that breaks them, not on the healthy one', async () => {
    const [healthy, short] = agents.map((a) => a.instance);
    await until('VirtbalanceGuestStarved on the short host', 120_000, async () => ((await firing('VirtbalanceGuestStarved')).has(short!) ? true : undefined));
    await until('VirtbalanceGuestOOM on the short host', 120_000, async () => ((await firing('VirtbalanceGuestOOM')).has(short!) ? true : undefined));
    for (const alert of rules.map((r) => r.alert)) assert.equal((await firing(alert)).has(healthy!), false, `${alert} fires on the healthy host`);
  });

  it("every dashboard query runs on Prometheus, and the fleet panels have data", async () => {
    const [healthy] = agents.map((a) => a.instance);
    const empty: string[] = [];
    for (const q of grafanaQueries(dashboard)) {
      if (/^\s*label_values\(/.test(q)) continue;
      const result = await query(substituteGrafanaVariables(q, { job: 'virtbalance', host: '.+', domain: '.+' }));
      if (result.length === 0) empty.push(q);
    }
    // Only the alert table may be empty at a given moment; every other panel shows something.
    assert.deepEqual(empty.filter((q) => !q.startsWith('ALERTS')), []);
    // Drilling down to one host shows only its guests.
    const one = await query(substituteGrafanaVariables('virtbalance_balloon_actual_bytes{job="$job", instance=~"$host"}', { job: 'virtbalance', host: healthy!.replace(/\./g, '\\\\.') }));
    assert.ok(one.length > 0);
    assert.deepEqual([...new Set(one.map((s) => s.metric.instance))], [healthy]);
  });

  it('an agent that stops is reported down', async () => {
    const [first] = agents;
    first!.run.child.kill('SIGTERM');
    await first!.run.exited;
    await until('VirtbalanceDown on the stopped agent', 30_000, async () => ((await firing('VirtbalanceDown')).has(first!.instance) ? true : undefined));
  });
});
