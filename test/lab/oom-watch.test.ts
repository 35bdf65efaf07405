import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { annotateOomKills, OomWatcher } from '../../src/lab/oom-watch.js';
import { parseTrace } from '../../src/score/index.js';

const KILL = (pid: number) => `[   41.5] Out of memory: Killed process ${pid} (vb-workload) total-vm:900000kB, anon-rss:800000kB\n`;

test('the watcher reports each console OOM kill once, in the interval it was first seen', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-oom-'));
  try {
    const a = path.join(dir, 'a.log');
    const b = path.join(dir, 'b.log');
    await writeFile(a, 'vb-init: modules loaded\n');
    const w = new OomWatcher([{ name: 'g1', consoleLog: a }, { name: 'g2', consoleLog: b }]); // b does not exist yet
    assert.deepEqual(await w.scan(0), []);
    await appendFile(a, KILL(97));
    const first = await w.scan(3);
    assert.deepEqual(first.map((k) => [k.domain, k.pid, k.interval]), [['g1', 97, 3]]);
    assert.deepEqual(await w.scan(4), [], 'not reported twice');
    await appendFile(a, KILL(101));
    await writeFile(b, KILL(55));
    assert.deepEqual((await w.scan(7)).map((k) => [k.domain, k.pid, k.interval]), [['g1', 101, 7], ['g2', 55, 7]]);
    assert.equal(w.kills.length, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kills go into their interval as oomKills and a notice; the annotated trace still parses', () => {
  const header: TraceLine = { type: 'header', version: 1, target: 'lab:qemu:///system', intervalSeconds: 2, controllers: { cpu: false, memory: true }, pcpus: 2, startedAt: '2026-01-01T00:00:00Z', options: {} };
  const interval = (i: number): TraceInterval => ({ type: 'interval', interval: i, timeMs: i * 2000, domains: ['g1'], actions: [], failures: [], notices: [] });
  const lines = [header, interval(0), interval(1), interval(2)];
  const out = annotateOomKills(lines, [
    { domain: 'g1', pid: 97, process: 'vb-workload', line: '', interval: 1 },
    { domain: 'g1', pid: 101, process: 'vb-workload', line: '', interval: 9 }, // after the last interval
  ]);
  const intervals = out.filter((l): l is TraceInterval => l.type === 'interval');
  assert.deepEqual(intervals.map((i) => i.oomKills!.map((k) => k.pid)), [[], [97], [101]]);
  assert.match(intervals[1]!.notices[0]!.message, /OOM killer in the guest killed vb-workload \(pid 97\)/);
  assert.equal(intervals[1]!.notices[0]!.domain, 'g1');
  assert.equal(lines[2]!.type === 'interval' && lines[2]!.notices.length, 0, 'the input is not changed');
  assert.equal(parseTrace(out.map((l) => JSON.stringify(l)).join('\n')).length, 4);
});
