import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { TraceHeader, TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { simulateScenario } from '../../src/control/simulate.js';
import { createSimulatedHost, loadScenario } from '../../src/host/sim/index.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { Dashboard } from '../../src/web/dashboard-server.js';
import type { RunStatus, StateSnapshot } from '../../src/web/run-state.js';
import { get, openEventStream, parsePrometheus, sampleValue } from './helpers.js';

async function trace(name: string, intervals?: number): Promise<{ header: TraceHeader; intervals: TraceInterval[] }> {
  const lines: TraceLine[] = await simulateScenario(loadScenario(resolveScenarioPath(name)), { intervals });
  return { header: lines[0] as TraceHeader, intervals: lines.slice(1) as TraceInterval[] };
}

async function startDashboard(options: Partial<Parameters<typeof Dashboard.start>[0]> = {}): Promise<Dashboard> {
  return Dashboard.start({ listen: { host: '127.0.0.1', port: 0 }, uri: 'sim:test', dryRun: false, heartbeatMs: 100, ...options });
}

test('serves the page, its scripts and uPlot from node_modules, all from this machine', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  const page = await get(d.url);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'] ?? '', /text\/html/);
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  const local = refs.filter((r) => !r.startsWith('data:'));
  assert.ok(local.length >= 4, `page references ${local.join(', ')}`);
  for (const ref of local) {
    assert.doesNotMatch(ref, /^(https?:)?\/\//, `${ref} would need the network`);
    const res = await get(new URL(ref, d.url).href);
    assert.equal(res.status, 200, ref);
    assert.ok(res.body.length > 100, `${ref} is ${res.body.length} bytes`);
  }
  const uplot = await get(`${d.url}assets/uplot.js`);
  assert.match(uplot.body, /uPlot/);
  assert.equal((await get(`${d.url}nothing-here`)).status, 404);
});

test('/api/state gives the header and the last N intervals; history is bounded', async (t) => {
  const run = await trace('cpu-2-all-on-pcpu0', 12);
  const d = await startDashboard({ historyLimit: 10 });
  t.after(() => d.close());
  d.publishHeader(run.header);
  for (const entry of run.intervals) d.publishInterval(entry);
  const all = JSON.parse((await get(`${d.url}api/state`)).body) as StateSnapshot;
  assert.equal(all.header?.target, run.header.target);
  assert.equal(all.intervalsSeen, 12);
  assert.deepEqual(all.intervals.map((i) => i.interval), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const last3 = JSON.parse((await get(`${d.url}api/state?last=3`)).body) as StateSnapshot;
  assert.deepEqual(last3.intervals.map((i) => i.interval), [9, 10, 11]);
  assert.deepEqual(last3.intervals[2], JSON.parse(JSON.stringify(run.intervals[11])));
  assert.equal(last3.status.phase, 'running');
});

test('SSE: hello first, then every interval as it is published, and a heartbeat', async (t) => {
  const run = await trace('memory-1-one-consumer', 5);
  const d = await startDashboard({ heartbeatMs: 80 });
  t.after(() => d.close());
  d.publishHeader(run.header);
  d.publishInterval(run.intervals[0]!);
  const sse = await openEventStream(`${d.url}events`);
  t.after(() => sse.res.destroy());
  const hello = JSON.parse((await sse.next('hello')).data) as { header: TraceHeader; lastInterval: number };
  assert.equal(hello.header.scenario, 'memory-1-one-consumer');
  assert.equal(hello.lastInterval, 0);
  for (const entry of run.intervals.slice(1)) d.publishInterval(entry);
  for (const entry of run.intervals.slice(1)) {
    const e = await sse.next('interval');
    assert.equal(e.id, String(entry.interval));
    assert.deepEqual(JSON.parse(e.data), JSON.parse(JSON.stringify(entry)));
  }
  await sse.next('ping', 1000);
  await sse.next('ping', 1000);
  d.setPhase('finished');
  assert.equal((JSON.parse((await sse.next('status')).data) as { phase: string }).phase, 'finished');
});

test('a client that disconnects mid-stream, or never reads, does not disturb the server or the others', async (t) => {
  const run = await trace('cpu-2-all-on-pcpu0', 30);
  const d = await startDashboard({ heartbeatMs: 50 });
  t.after(() => d.close());
  d.publishHeader(run.header);
  const steady = await openEventStream(`${d.url}events`);
  t.after(() => steady.res.destroy());
  await steady.next('hello');

  // One reader cut off while intervals stream; one raw socket that stops mid-request.
  const leaving = await openEventStream(`${d.url}events`);
  await leaving.next('hello');
  const port = d.port;
  const half = connect(port, '127.0.0.1');
  await new Promise<void>((r) => half.once('connect', () => r()));
  half.write('GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n');
  const stalled = connect(port, '127.0.0.1');
  await new Promise<void>((r) => stalled.once('connect', () => r()));
  stalled.write(`GET /events HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  stalled.pause();

  for (const [k, entry] of run.intervals.entries()) {
    d.publishInterval(entry);
    if (k === 10) leaving.res.destroy();
    if (k === 12) half.destroy();
    await new Promise((r) => setImmediate(r));
  }
  for (let k = 0; k < run.intervals.length; k++) assert.equal((await steady.next('interval')).id, String(k));
  await new Promise((r) => setTimeout(r, 120));
  // The cut-off reader is forgotten; the paused one is still held (its backlog is small).
  assert.equal(d.clients, 2);
  assert.equal((await get(`${d.url}healthz`)).body, 'ok\n');
  stalled.destroy();
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(d.clients, 1);
});

test('a loopback-only server answers only to loopback host names (DNS rebinding)', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  assert.equal((await get(`${d.url}api/state`, { host: 'evil.example:80' })).status, 403);
  assert.equal((await get(`${d.url}api/state`, { host: `localhost:${d.port}` })).status, 200);
  assert.equal((await get(`${d.url}api/state`, { host: `127.0.0.1:${d.port}` })).status, 200);
  const open = await startDashboard({ allowPublic: true });
  t.after(() => open.close());
  assert.equal((await get(`${open.url}api/state`, { host: 'dashboard.example.org' })).status, 200);
});

test('/metrics: Prometheus text from a private registry, following the run', async (t) => {
  const run = await trace('cpu-2-all-on-pcpu0', 6);
  const d = await startDashboard();
  t.after(() => d.close());
  d.publishHeader(run.header);
  for (const entry of run.intervals) d.publishInterval(entry);
  const res = await get(`${d.url}metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parsePrometheus(res.body);
  assert.equal(types.get('virtbalance_pins_changed_total'), 'counter');
  assert.equal(types.get('virtbalance_tick_duration_seconds'), 'histogram');
  const pins = run.intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin').length;
  assert.ok(pins > 0);
  assert.equal(sampleValue(samples, 'virtbalance_pins_changed_total'), pins);
  assert.equal(sampleValue(samples, 'virtbalance_decisions_total', { kind: 'pin' }), pins);
  assert.equal(sampleValue(samples, 'virtbalance_intervals_total'), 6);
  // prom-client's global registry is left alone.
  const { register } = await import('prom-client');
  assert.equal(register.getSingleMetric('virtbalance_pins_changed_total'), undefined);
});

test('close() ends open streams and returns promptly', async () => {
  const d = await startDashboard({ heartbeatMs: 10_000 });
  const sse = await openEventStream(`${d.url}events`);
  await sse.next('hello');
  const ended = new Promise<void>((r) => sse.res.once('close', () => r()));
  const started = performance.now();
  await d.close();
  await ended;
  assert.ok(performance.now() - started < 1000, `close took ${performance.now() - started} ms`);
});

test('connection state and call errors come from the hypervisor calls themselves', async (t) => {
  const sim = createSimulatedHost(loadScenario(resolveScenarioPath('cpu-1-balanced')));
  const d = await startDashboard({ uri: sim.hypervisor.uri });
  t.after(() => d.close());
  const sse = await openEventStream(`${d.url}events`);
  t.after(() => sse.res.destroy());
  assert.equal((JSON.parse((await sse.next('hello')).data) as { status: RunStatus }).status.connection, 'connecting');
  const host = d.instrument(sim.hypervisor);
  await host.observe();
  assert.equal((JSON.parse((await sse.next('status')).data) as RunStatus).connection, 'connected');
  // The daemon goes away under the run: the next observation fails.
  await sim.hypervisor.close();
  await assert.rejects(host.observe(), /closed/);
  const lost = JSON.parse((await sse.next('status')).data) as RunStatus;
  assert.equal(lost.connection, 'reconnecting');
  assert.equal(lost.failedObservations, 1);
  assert.match(lost.connectionError ?? '', /closed/);
  const { samples } = parsePrometheus((await get(`${d.url}metrics`)).body);
  assert.equal(sampleValue(samples, 'virtbalance_hypervisor_call_errors_total', { call: 'observe' }), 1);
  assert.equal(sampleValue(samples, 'virtbalance_hypervisor_call_duration_seconds_count', { call: 'observe' }), 2);
  assert.equal(sampleValue(samples, 'virtbalance_host_connected'), 0);
  await host.close();
  assert.equal((JSON.parse((await sse.next('status')).data) as RunStatus).connection, 'closed');
});
