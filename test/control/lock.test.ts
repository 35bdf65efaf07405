// Controller locks: one controller of a kind per libvirt host, stale locks taken over, the two kinds side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireControllerLock, acquireControllerLocks, LockHeldError, lockPath, normaliseUri, ownerAlive, processStartTicks } from '../../src/control/lock.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vb-lock-'));
}

/** A PID that certainly belongs to no process: a child that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test('spellings of the same target share a lock; other daemons and drivers do not', () => {
  assert.equal(normaliseUri('qemu:///system'), normaliseUri('qemu+unix:///system'));
  assert.equal(normaliseUri('qemu:///system'), normaliseUri('QEMU:///system?socket=/var/run/libvirt/libvirt-sock'));
  assert.notEqual(normaliseUri('qemu:///system'), normaliseUri('test:///default'));
  assert.notEqual(normaliseUri('qemu:///system'), normaliseUri('qemu:///system?socket=/tmp/other-sock'));
  assert.notEqual(normaliseUri('qemu+tcp://a/system'), normaliseUri('qemu+tcp://b/system'));
  assert.notEqual(lockPath('qemu:///system', 'cpu', '/d'), lockPath('qemu:///system', 'memory', '/d'));
});

test('a second controller of the same kind on the same host is refused, naming the holder PID; released, it can start', async () => {
  const dir = tempDir();
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  try {
    const path = lockPath('qemu:///system', 'cpu', dir);
    await new Promise((r) => holder.once('spawn', r));
    writeFileSync(path, JSON.stringify({ pid: holder.pid, startTicks: processStartTicks(holder.pid!), uri: 'qemu:///system', controller: 'cpu', since: 'then' }));
    assert.throws(
      () => acquireControllerLock('qemu+unix:///system', 'cpu', dir),
      (e: unknown) => e instanceof LockHeldError && e.exitCode === 1 && e.message.includes(`PID ${holder.pid}`) && !e.message.includes('\n'),
    );
    // The memory coordinator is another controller: it may run beside the vCPU scheduler.
    const memory = acquireControllerLock('qemu:///system', 'memory', dir);
    memory.release();
    assert.equal(existsSync(memory.path), false);
    holder.kill();
    await new Promise((r) => holder.once('exit', r));
    const cpu = acquireControllerLock('qemu:///system', 'cpu', dir);
    assert.equal(cpu.tookOverFrom?.pid, holder.pid);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
    cpu.release();
  } finally {
    holder.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stale locks are taken over: a dead PID, a reused PID (other start time), an unreadable file', async () => {
  const dir = tempDir();
  try {
    const path = lockPath('test:///default', 'memory', dir);
    const dead = await deadPid();
    for (const content of [
      JSON.stringify({ pid: dead, uri: 'test:///default', controller: 'memory', since: 'x' }),
      // Our own PID with a start time that is not ours: the PID was reused.
      JSON.stringify({ pid: process.pid, startTicks: '1', uri: 'test:///default', controller: 'memory', since: 'x' }),
      '{ half a lock',
    ]) {
      writeFileSync(path, content);
      const lock = acquireControllerLock('test:///default', 'memory', dir);
      assert.ok(lock.tookOverFrom, `took over ${content}`);
      lock.release();
      assert.equal(existsSync(path), false);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ownerAlive: this process is alive, a dead PID is not', async () => {
  assert.equal(ownerAlive({ pid: process.pid, startTicks: processStartTicks(process.pid), uri: '', controller: 'cpu', since: '' }), true);
  assert.equal(ownerAlive({ pid: await deadPid(), uri: '', controller: 'cpu', since: '' }), false);
  assert.equal(ownerAlive({ pid: -1, uri: '', controller: 'cpu', since: '' }), false);
});

test('release removes only our own lock, and acquireControllerLocks gives back what it took when one is held', () => {
  const dir = tempDir();
  try {
    const cpu = acquireControllerLock('test:///default', 'cpu', dir);
    // Someone replaced our file (e.g. after we were presumed dead): release leaves theirs alone.
    writeFileSync(cpu.path, JSON.stringify({ pid: 1, uri: 'test:///default', controller: 'cpu', since: 'other' }));
    cpu.release();
    assert.equal(existsSync(cpu.path), true);
    rmSync(cpu.path);

    const held = acquireControllerLock('test:///default', 'memory', dir);
    // Held by this very process (alive): taking both must fail and leave no cpu lock behind.
    assert.throws(() => acquireControllerLocks('test:///default', ['cpu', 'memory'], dir), LockHeldError);
    assert.equal(existsSync(lockPath('test:///default', 'cpu', dir)), false);
    held.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent starts: of many processes racing for one lock, exactly one wins', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  const moduleUrl = new URL('../../src/control/lock.js', import.meta.url).href;
  const script = `
    const { acquireControllerLock } = await import(${JSON.stringify(moduleUrl)});
    try { acquireControllerLock('qemu:///system', 'cpu', ${JSON.stringify(dir)}); console.log('won'); }
    catch (e) { console.log(e.name); }
    process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  // Every process keeps what it took until all have answered: on a loaded machine a late starter
  // must still meet the winner's lock, not find it released by a winner that already exited.
  const children = Array.from({ length: 8 }, () => spawn(process.execPath, ['--input-type=module', '-e', script]));
  try {
    const runs = children.map((child) => {
      let out = '';
      return new Promise<string>((r) => {
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) r(out.trim());
        });
        child.once('exit', () => r(out.trim()));
      });
    });
    const results = await Promise.all(runs);
    assert.equal(results.filter((r) => r === 'won').length, 1, results.join(','));
    assert.equal(results.filter((r) => r === 'LockHeldError').length, 7, results.join(','));
  } finally {
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => { c.once('exit', r); c.stdin.end(); }))));
    rmSync(dir, { recursive: true, force: true });
  }
});
