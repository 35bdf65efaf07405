// The service configuration file: every field read, every mistake named with file, line and field;
// flags override the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/config-file.js';
import { resolveRunOptions } from '../../src/config/run-options.js';
import { dashboardRequest } from '../../src/web/live-run.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { defaultMemoryOptions } from '../../src/memory/coordinator.js';
import { UsageError } from '../../src/ground/errors.js';
import { dashboardUrlOf, get, runCli, startCli } from '../web/helpers.js';

const FULL = `# all fields
connect: qemu+ssh://root@kvm1/system
interval: 5
controllers: [cpu, memory]
dryRun: false
restore: true
trace: /var/lib/virtbalance/trace.jsonl
http: 127.0.0.1:9464
cpu:
  margin: 12
  persistIntervals: 3
  urgentGain: 20
memory:
  floorMiB: 256
  reserveMiB: 2048
  minActualMiB: 300
  statsPeriod: 2
  minChangeMiB: 32
  coldReclaimMiBps: 8
  refaultWatch: 45
  refaultMiBps: 4
  hotMemory: 600
  refaultHorizon: 900
  roomMiB: 2048
vms:
  web1: { weight: 2, floorMiB: 400 }
  db.prod:
    floorMiB: 1024
`;

test('a full configuration is read field by field', () => {
  const c = parseConfig(FULL, 'config.yaml');
  assert.deepEqual(c, {
    source: 'config.yaml',
    connect: 'qemu+ssh://root@kvm1/system',
    intervalSeconds: 5,
    controllers: { cpu: true, memory: true },
    dryRun: false,
    restore: true,
    trace: '/var/lib/virtbalance/trace.jsonl',
    http: { host: '127.0.0.1', port: 9464 },
    cpu: { marginPoints: 12, persistIntervals: 3, urgentGainPoints: 20 },
    memory: {
      floorMiB: 256, reserveMiB: 2048, minActualMiB: 300, statsPeriodSeconds: 2, minChangeMiB: 32,
      coldReclaimMiBps: 8, refaultWatchSeconds: 45, refaultMiBps: 4, hotMemorySeconds: 600,
      refaultHorizonSeconds: 900, roomMiB: 2048,
    },
    vms: { web1: { weight: 2, floorMiB: 400 }, 'db.prod': { floorMiB: 1024 } },
  });
});

test('an empty file is everything at its default', () => {
  assert.deepEqual(parseConfig('# nothing set\n', 'c.yaml'), { source: 'c.yaml', cpu: {}, memory: {}, vms: {} });
  const o = resolveRunOptions({}, parseConfig('', 'c.yaml'));
  assert.equal(o.connect, 'qemu:///system');
  assert.equal(o.intervalSeconds, 2);
  assert.deepEqual(o.cpu, defaultCpuSchedulerOptions);
  assert.deepEqual(o.memory, defaultMemoryOptions);
});

const BAD: Array<[string, string, RegExp]> = [
  ['interval: 0\n', 'interval', /^c\.yaml:1: interval: 0 is out of range/],
  ['interval: fast\n', 'interval', /^c\.yaml:1: interval: expected a number, got "fast"/],
  ['connect: qemu:///system\nintervall: 2\n', 'intervall', /^c\.yaml:2: intervall: unknown field 'intervall'/],
  ['connect: "qemu://remote/system"\n', 'connect', /^c\.yaml:1: connect: URI .* names a host but no transport/],
  ['connect: not a uri\n', 'connect', /^c\.yaml:1: connect: invalid libvirt URI/],
  ['controllers: [cpu, disk]\n', 'controllers[1]', /^c\.yaml:1: controllers\[1\]: expected cpu or memory, got "disk"/],
  ['controllers: [cpu, cpu]\n', 'controllers[1]', /lists cpu twice/],
  ['controllers: []\n', 'controllers', /expected a list of cpu and\/or memory/],
  ['cpu:\n  margin: -1\n', 'cpu.margin', /^c\.yaml:2: cpu\.margin: -1 is out of range/],
  ['cpu:\n  persistIntervals: 1.5\n', 'cpu.persistIntervals', /expected a whole number, got 1\.5/],
  ['memory:\n  reserveMiB: lots\n', 'memory.reserveMiB', /^c\.yaml:2: memory\.reserveMiB: expected a number/],
  ['memory:\n  floor: 200\n', 'memory.floor', /^c\.yaml:2: memory\.floor: unknown field 'floor' \(allowed: floorMiB/],
  ['memory:\n  coldReclaimMiBps: 0\n', 'memory.coldReclaimMiBps', /^c\.yaml:2: memory\.coldReclaimMiBps: 0 is out of range \(must be > 0/],
  ['memory:\n  floorMiB: 100\n  refaultWatch: 30s\n', 'memory.refaultWatch', /^c\.yaml:3: memory\.refaultWatch: expected a number, got "30s"/],
  ['memory:\n  refaultMiBps: -2\n', 'memory.refaultMiBps', /^c\.yaml:2: memory\.refaultMiBps: -2 is out of range/],
  ['memory:\n  hotMemory: 1e9\n', 'memory.hotMemory', /^c\.yaml:2: memory\.hotMemory: 1000000000 is out of range \(must be ≥ 0 and ≤ 604800/],
  ['memory:\n  refaultWatchSeconds: 30\n', 'memory.refaultWatchSeconds', /unknown field 'refaultWatchSeconds' \(allowed: .*refaultWatch/],
  ['memory:\n  refaultHorizon: 0\n', 'memory.refaultHorizon', /^c\.yaml:2: memory\.refaultHorizon: 0 is out of range \(must be > 0 and ≤ 86400/],
  ['memory:\n  refaultHorizon: 100000\n', 'memory.refaultHorizon', /^c\.yaml:2: memory\.refaultHorizon: 100000 is out of range/],
  ['memory:\n  refaultHorizon: 10m\n', 'memory.refaultHorizon', /^c\.yaml:2: memory\.refaultHorizon: expected a number, got "10m"/],
  ['memory:\n  refaultHorizonSeconds: 600\n', 'memory.refaultHorizonSeconds', /unknown field 'refaultHorizonSeconds' \(allowed: .*refaultHorizon, roomMiB, unplugAfter\)/],
  ['memory:\n  roomMiB: -1\n', 'memory.roomMiB', /^c\.yaml:2: memory\.roomMiB: -1 is out of range \(must be ≥ 0/],
  ['memory:\n  roomMiB: plenty\n', 'memory.roomMiB', /^c\.yaml:2: memory\.roomMiB: expected a number, got "plenty"/],
  ['vms:\n  web1:\n    weight: 0\n', 'vms.web1.weight', /^c\.yaml:3: vms\.web1\.weight: 0 is out of range \(must be > 0/],
  ['vms:\n  web1: 3\n', 'vms.web1', /^c\.yaml:2: vms\.web1: expected a mapping, got 3/],
  ['vms:\n  web1:\n    cpuWeight: 0\n', 'vms.web1.cpuWeight', /^c\.yaml:3: vms\.web1\.cpuWeight: 0 is out of range/],
  ['vms:\n  web1:\n    cpuWeight: 300\n', 'vms.web1.cpuWeight', /^c\.yaml:3: vms\.web1\.cpuWeight: 300 is out of range/],
  ['dryRun: yes please\n', 'dryRun', /expected true or false/],
  ['cpu:\n  definitionPins: ignore\n', 'cpu.definitionPins', /^c\.yaml:2: cpu\.definitionPins: expected keep or manage, got "ignore"/],
  ['vms:\n  db1:\n    dedicated: always\n', 'vms.db1.dedicated', /^c\.yaml:3: vms\.db1\.dedicated: expected true or false/],
  ['- just\n- a list\n', '(top level)', /^c\.yaml:1: \(top level\): expected a mapping, got a list/],
  ['interval: [1\n', '(syntax)', /^c\.yaml:\d+: YAML syntax:/],
  ['http: 127.0.0.1:99999\n', 'http', /^c\.yaml:1: http: '127\.0\.0\.1:99999': port 99999 is above 65535/],
  ['http: localhost:web\n', 'http', /^c\.yaml:1: http: 'localhost:web': 'web' is not a port number/],
  ['http: [8080]\n', 'http', /^c\.yaml:1: http: expected a non-empty string, got a list/],
  ['httpPublic: true\n', 'httpPublic', /^c\.yaml:1: httpPublic: needs http/],
  ['metrics:\n  libvirtNames: 1\n', 'metrics.libvirtNames', /^c\.yaml:2: metrics\.libvirtNames: expected true or false/],
  ['metrics:\n  nodeNames: yes please\n', 'metrics.nodeNames', /^c\.yaml:2: metrics\.nodeNames: expected true or false/],
  ['metrics:\n  hostNames: true\n', 'metrics.hostNames', /^c\.yaml:2: metrics\.hostNames:/],
];

for (const [text, field, message] of BAD) {
  test(`bad config (${field}): one line naming file, line and field`, () => {
    assert.throws(
      () => parseConfig(text, 'c.yaml'),
      (e: unknown) => e instanceof ConfigError && e.exitCode === 2 && e.field === field && message.test(e.message) && !e.message.includes('\n'),
    );
  });
}

test('vms.NAME.dedicated reaches the vCPU scheduler as its list of dedicated domains', () => {
  const config = parseConfig('vms:\n  db1: { dedicated: true }\n  db2: { dedicated: false, floorMiB: 300 }\n  web: { weight: 2 }\n', 'c.yaml');
  assert.equal(config.vms.db1!.dedicated, true);
  assert.deepEqual(resolveRunOptions({}, config).cpu!.dedicated, ['db1']);
  assert.equal(resolveRunOptions({ memory: true }, config).cpu, undefined);
});

test('cpu.definitionPins: keep (the default) leaves guests with defined pins to them; manage reaches the loop, not the scheduler\'s options', () => {
  assert.equal(resolveRunOptions({}, parseConfig('', 'c.yaml')).manageDefinitionPins, undefined);
  assert.equal(resolveRunOptions({}, parseConfig('cpu:\n  definitionPins: keep\n', 'c.yaml')).manageDefinitionPins, undefined);
  const manage = resolveRunOptions({}, parseConfig('cpu:\n  definitionPins: manage\n', 'c.yaml'));
  assert.equal(manage.manageDefinitionPins, true);
  assert.equal((manage.cpu as unknown as Record<string, unknown>).definitionPins, undefined);
  assert.equal(resolveRunOptions({ memory: true }, parseConfig('cpu:\n  definitionPins: manage\n', 'c.yaml')).manageDefinitionPins, undefined, 'no vCPU scheduler, nothing to re-pin');
});

test('http: a port alone, HOST:PORT or [IPv6]:PORT; httpPublic allows beyond loopback', () => {
  assert.deepEqual(parseConfig('http: 9464\n', 'c.yaml').http, { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseConfig('http: "[::1]:0"\n', 'c.yaml').http, { host: '::1', port: 0 });
  const pub = parseConfig('http: 0.0.0.0:9464\nhttpPublic: true\n', 'c.yaml');
  assert.deepEqual([pub.http, pub.httpPublic], [{ host: '0.0.0.0', port: 9464 }, true]);
});

test('metrics.libvirtNames: off unless set; reaches the dashboard request like --libvirt-names', async () => {
  assert.equal(parseConfig('http: 9464\n', 'c.yaml').metrics, undefined);
  const config = parseConfig('http: 9464\nmetrics:\n  libvirtNames: true\n', 'c.yaml');
  assert.deepEqual(config.metrics, { libvirtNames: true });
  assert.equal((await dashboardRequest({}, false, 'run', config)).libvirtNames, true);
  assert.equal((await dashboardRequest({ http: '0' }, false, 'run')).libvirtNames, undefined);
  assert.equal((await dashboardRequest({ http: '0', 'libvirt-names': true }, false, 'run')).libvirtNames, true);
  await assert.rejects(dashboardRequest({ 'libvirt-names': true }, false, 'run'), /--libvirt-names needs --http/);
  const both = parseConfig('http: 9464\nmetrics:\n  libvirtNames: false\n  nodeNames: true\n', 'c.yaml');
  assert.deepEqual(both.metrics, { libvirtNames: false, nodeNames: true });
  const request = await dashboardRequest({}, false, 'run', both);
  assert.deepEqual([request.libvirtNames, request.nodeNames], [undefined, true]);
});

test('loadConfig: a missing or unreadable file is one clear line', () => {
  assert.throws(() => loadConfig('/nonexistent/virtbalance.yaml'), (e: unknown) => e instanceof UsageError && e.message === 'cannot read config /nonexistent/virtbalance.yaml: no such file');
  const dir = mkdtempSync(join(tmpdir(), 'vb-config-'));
  try {
    assert.throws(() => loadConfig(dir), (e: unknown) => e instanceof UsageError && /is a directory/.test(e.message));
    writeFileSync(join(dir, 'c.yaml'), 'interval: 3\n');
    assert.equal(loadConfig(join(dir, 'c.yaml')).intervalSeconds, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flags override the file; the file overrides the defaults', () => {
  const c = parseConfig(FULL, 'c.yaml');
  const fromFile = resolveRunOptions({}, c);
  assert.equal(fromFile.connect, 'qemu+ssh://root@kvm1/system');
  assert.equal(fromFile.intervalSeconds, 5);
  assert.equal(fromFile.restore, true);
  assert.equal(fromFile.cpu!.marginPoints, 12);
  assert.equal(fromFile.cpu!.persistIntervals, 3);
  assert.equal(fromFile.memory!.floorMiB, 256);
  assert.equal(fromFile.memory!.reserveMiB, 2048);
  assert.deepEqual(
    [fromFile.memory!.coldReclaimMiBps, fromFile.memory!.refaultWatchSeconds, fromFile.memory!.refaultMiBps, fromFile.memory!.hotMemorySeconds,
      fromFile.memory!.refaultHorizonSeconds, fromFile.memory!.roomMiB],
    [8, 45, 4, 600, 900, 2048],
  );
  assert.deepEqual(fromFile.memory!.floorsMiB, { web1: 400, 'db.prod': 1024 });
  assert.deepEqual(fromFile.memory!.weights, { web1: 2 });
  assert.equal(fromFile.tracePath, '/var/lib/virtbalance/trace.jsonl');

  const flagged = resolveRunOptions({ connect: 'test:///default', interval: '1', 'cpu-margin': '5', 'memory-reserve': '512', trace: '/tmp/t.jsonl' }, c);
  assert.equal(flagged.connect, 'test:///default');
  assert.equal(flagged.intervalSeconds, 1);
  assert.equal(flagged.cpu!.marginPoints, 5);
  assert.equal(flagged.cpu!.persistIntervals, 3, 'a flag overrides one field, the file keeps the rest');
  assert.equal(flagged.memory!.reserveMiB, 512);
  assert.equal(flagged.tracePath, '/tmp/t.jsonl');

  // --cpu alone runs only the vCPU scheduler, whatever the file lists.
  const onlyCpu = resolveRunOptions({ cpu: true }, c);
  assert.ok(onlyCpu.cpu && !onlyCpu.memory);
  assert.throws(() => resolveRunOptions({ cpu: true, 'memory-floor': '100' }, c), /--memory-floor needs the memory coordinator/);
  // The file's controller list applies when no flag names one.
  const memOnly = resolveRunOptions({}, parseConfig('controllers: [memory]\n', 'c.yaml'));
  assert.ok(!memOnly.cpu && memOnly.memory);
  // Defaults are never mutated by a run's settings.
  assert.equal(defaultMemoryOptions.floorsMiB.web1, undefined);
});

test('the shipped example configuration (docs/config.md and systemd/config.yaml) is valid', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const example = loadConfig(join(root, 'systemd/config.yaml'));
  assert.equal(example.connect, 'qemu:///system');
  const doc = readFileSync(join(root, 'docs/config.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/config.md has a yaml example');
  parseConfig(block[1]!, 'docs/config.md');
});

test('scope: only/exclude in the file, vms.NAME.manage: false, flags replace the lists', () => {
  const c = parseConfig('only: [web*, 6695eb01-f6a4-8304-79aa-97f2502e193f]\nexclude: web-test\nvms:\n  db1: { manage: false }\n  web2: { manage: true, weight: 2 }\n', 'c.yaml');
  assert.deepEqual(c.only, ['web*', '6695eb01-f6a4-8304-79aa-97f2502e193f']);
  assert.deepEqual(c.exclude, ['web-test']);
  assert.deepEqual(c.vms, { db1: { manage: false }, web2: { manage: true, weight: 2 } });
  assert.deepEqual(resolveRunOptions({}, c).scope, { only: ['web*', '6695eb01-f6a4-8304-79aa-97f2502e193f'], exclude: ['web-test'], unmanaged: ['db1'] });
  assert.deepEqual(resolveRunOptions({ only: ['a,b', 'c'], exclude: ['x'] }, c).scope, { only: ['a', 'b', 'c'], exclude: ['x'], unmanaged: ['db1'] });
  assert.deepEqual(resolveRunOptions({}).scope, { only: [], exclude: [], unmanaged: [] });
  assert.throws(() => resolveRunOptions({ only: [','] }), /--only: give a domain name, glob or UUID/);
  assert.throws(() => parseConfig('vms:\n  db1: { manage: no }\n', 'c.yaml'), /c\.yaml:2: vms\.db1\.manage: /);
  assert.throws(() => parseConfig('only: []\n', 'c.yaml'), /c\.yaml:1: only: expected a domain name, glob or UUID, or a list of them/);
  assert.throws(() => parseConfig('exclude: [web1, 3]\n', 'c.yaml'), /c\.yaml:1: exclude\[1\]: expected a non-empty string, got 3/);
});

test('run --config: http: serves the dashboard and /metrics; a public address needs httpPublic', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vb-config-http-'));
  try {
    writeFileSync(join(dir, 'served.yaml'), 'http: 127.0.0.1:0\n');
    const live = startCli(['run', '--config', join(dir, 'served.yaml'), '--sim', 'cpu-1-balanced', '--quiet', '--pace', '20']);
    try {
      const url = await dashboardUrlOf(live);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.match((await get(`${url}metrics`)).body, /virtbalance_intervals_total/);
    } finally {
      live.child.kill('SIGTERM');
      await live.exited;
    }
    writeFileSync(join(dir, 'public.yaml'), 'http: 0.0.0.0:0\n');
    const refused = await runCli(['run', '--config', join(dir, 'public.yaml'), '--sim', 'cpu-1-balanced', '--quiet']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /public\.yaml: http 0\.0\.0\.0:0 would serve the dashboard beyond this machine .*set httpPublic: true/);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vms.NAME.cpuWeight: read per guest and handed to the run as the weights to set', () => {
  const c = parseConfig('vms:\n  db: { cpuWeight: 3 }\n  web1: { weight: 2 }\n', 'c.yaml');
  assert.equal(c.vms.db!.cpuWeight, 3);
  assert.deepEqual(resolveRunOptions({}, c).cpuWeights, { db: 3 });
  assert.equal(resolveRunOptions({}, parseConfig('vms:\n  web1: { weight: 2 }\n', 'c.yaml')).cpuWeights, undefined);
});

test('memory.unplugAfter: seconds 0-86400, reaching the memory coordinator as unplugAfterSeconds (default 30)', () => {
  for (const v of [0, 20, 86_400]) {
    const config = parseConfig(`memory:\n  unplugAfter: ${v}\n`, 'c.yaml');
    assert.deepEqual(config.memory, { unplugAfterSeconds: v });
    assert.equal(resolveRunOptions({}, config).memory!.unplugAfterSeconds, v);
  }
  assert.throws(() => parseConfig('memory:\n  unplugAfter: -1\n', 'c.yaml'), /memory\.unplugAfter/);
  assert.equal(resolveRunOptions({}, parseConfig('', 'c.yaml')).memory!.unplugAfterSeconds, 30);
});

test('memory.refaultHorizon and memory.roomMiB: their edge values are taken and reach the memory coordinator', () => {
  for (const [text, horizon, room] of [
    ['memory:\n  refaultHorizon: 86400\n  roomMiB: 0\n', 86_400, 0],
    ['memory:\n  refaultHorizon: 0.5\n  roomMiB: 512.5\n', 0.5, 512.5],
  ] as const) {
    const config = parseConfig(text, 'c.yaml');
    assert.deepEqual(config.memory, { refaultHorizonSeconds: horizon, roomMiB: room });
    const memory = resolveRunOptions({}, config).memory!;
    assert.deepEqual([memory.refaultHorizonSeconds, memory.roomMiB], [horizon, room]);
  }
  const unset = resolveRunOptions({}, parseConfig('memory:\n  floorMiB: 100\n', 'c.yaml')).memory!;
  assert.deepEqual([unset.refaultHorizonSeconds, unset.roomMiB], [defaultMemoryOptions.refaultHorizonSeconds, defaultMemoryOptions.roomMiB]);
});
