import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeTarget, parseUri, shellQuote, sshArgs, SYSTEM_SOCKET, UriError } from '../../src/libvirt/uri.js';

describe('libvirt URIs', () => {
  test('qemu:///system: local socket, name unchanged', () => {
    const t = parseUri('qemu:///system');
    assert.equal(t.transport, 'unix');
    assert.equal(t.socketPath, SYSTEM_SOCKET);
    assert.equal(t.openName, 'qemu:///system');
    assert.equal(t.host, undefined);
  });

  test('test+unix:///default and test:///default both reach the daemon as test:///default', () => {
    for (const uri of ['test+unix:///default', 'test:///default']) {
      const t = parseUri(uri);
      assert.equal(t.transport, 'unix');
      assert.equal(t.openName, 'test:///default');
      assert.equal(t.socketPath, SYSTEM_SOCKET);
    }
  });

  test('?socket= picks the socket and is not passed to the daemon; other params are', () => {
    const t = parseUri('qemu+unix:///system?socket=/tmp/x%20y/sock&mode=legacy&foo=1');
    assert.equal(t.socketPath, '/tmp/x y/sock');
    assert.equal(t.openName, 'qemu:///system?foo=1');
  });

  test('qemu:///session uses the per-user socket', () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = '/run/user/1000';
    try {
      assert.equal(parseUri('qemu:///session').socketPath, '/run/user/1000/libvirt/libvirt-sock');
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  test('qemu+tcp://host/system: port 16509 unless given; host, user and port stay out of the name', () => {
    const t = parseUri('qemu+tcp://kvm1/system');
    assert.deepEqual([t.transport, t.host, t.port, t.openName], ['tcp', 'kvm1', 16509, 'qemu:///system']);
    const u = parseUri('qemu+tcp://admin@[::1]:16600/system');
    assert.deepEqual([u.host, u.port, u.user], ['::1', 16600, 'admin']);
    assert.equal(describeTarget(u), 'tcp [::1]:16600');
  });

  test('qemu+ssh://user@host:port/system: ssh argv with the remote netcat helper', () => {
    const t = parseUri('qemu+ssh://root@kvm1:2222/system?keyfile=/k/id&no_verify=1');
    assert.equal(t.transport, 'ssh');
    assert.deepEqual(sshArgs(t), ['-p', '2222', '-l', 'root', '-i', '/k/id', '-o', 'StrictHostKeyChecking=no', '-T', '-e', 'none', '--', 'kvm1', `nc -U ${SYSTEM_SOCKET}`]);
    assert.equal(t.openName, 'qemu:///system');
    const n = parseUri("qemu+ssh://kvm1/system?netcat=/usr/bin/nc.openbsd&socket=/var/run/my sock");
    assert.deepEqual(sshArgs(n).slice(-2), ['kvm1', "/usr/bin/nc.openbsd -U '/var/run/my sock'"]);
    assert.equal(n.port, undefined);
  });

  test('shell quoting survives quotes', () => {
    assert.equal(shellQuote("/a b/it's"), `'/a b/it'\\''s'`);
    assert.equal(shellQuote('/plain/path-1.sock'), '/plain/path-1.sock');
  });

  test('bad URIs are refused with a message naming them', () => {
    assert.throws(() => parseUri('system'), (e: unknown) => e instanceof UriError && /'system'/.test(e.message));
    assert.throws(() => parseUri('qemu://host/system'), /TLS is not supported/);
    assert.throws(() => parseUri('qemu+tls://host/system'), /transport 'tls' is not supported/);
    assert.throws(() => parseUri('qemu+ssh:///system'), /needs a host/);
    assert.throws(() => parseUri('qemu+unix://host/system'), /cannot name a host/);
  });
});
