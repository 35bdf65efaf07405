import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkListenAddress, dashboardUrl, isLoopbackAddress, parseListenAddress } from '../../src/config/listen-address.js';
import { UsageError } from '../../src/ground/errors.js';
import { fixture, runCli } from '../web/helpers.js';

test('parses [HOST:]PORT with the loopback default', () => {
  assert.deepEqual(parseListenAddress('8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListenAddress(':9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListenAddress('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseListenAddress('[::1]:8080'), { host: '::1', port: 8080 });
  for (const bad of ['', 'http', '80a', '65536', 'host:', '::1:80', '[nothost]:80', '1.2.3.4:-1']) {
    assert.throws(() => parseListenAddress(bad), UsageError, bad);
  }
});

test('loopback: 127/8 and ::1 only', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.10', '128.0.0.1', 'localhost']) assert.ok(!isLoopbackAddress(a), a);
});

test('refuses an address beyond loopback unless public serving was asked for', async () => {
  await checkListenAddress({ host: '127.0.0.1', port: 1 }, false);
  await checkListenAddress({ host: 'localhost', port: 1 }, false);
  await checkListenAddress({ host: '::1', port: 1 }, false);
  await assert.rejects(checkListenAddress({ host: '0.0.0.0', port: 8080 }, false), /--http-public/);
  await assert.rejects(checkListenAddress({ host: '192.0.2.7', port: 8080 }, false), /not a loopback address/);
  await checkListenAddress({ host: '0.0.0.0', port: 8080 }, true);
  assert.equal(dashboardUrl('::1', 8080), 'http://[::1]:8080/');
  assert.equal(dashboardUrl('0.0.0.0', 81), 'http://localhost:81/');
});

test('CLI: --http beyond loopback is one line and exit 2, before anything runs; --http-public allows it', async () => {
  const refused = await runCli(['run', '--sim', fixture('late-pileup.yaml'), '--http', '0.0.0.0:0', '--quiet']);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /^virtbalance: --http 0\.0\.0\.0:0 would serve the dashboard beyond this machine .*--http-public/);
  assert.equal(refused.stdout, '');

  const paceOnRealHost = await runCli(['run', '--connect', 'test:///default', '--pace', '2']);
  assert.equal(paceOnRealHost.code, 2);
  assert.match(paceOnRealHost.stderr, /--pace only applies to a simulated host/);
  const badPort = await runCli(['sim', 'cpu-1-balanced', '--http', 'localhost:http']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--http 'localhost:http': 'http' is not a port number/);
  const publicWithoutHttp = await runCli(['sim', 'cpu-1-balanced', '--http-public']);
  assert.equal(publicWithoutHttp.code, 2);
});
