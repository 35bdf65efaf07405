// End to end: `virtbalance lab run SCENARIO` (the shipped CLI) on real guests. A 4-pCPU scenario
// with two guests pinned to pCPU2 and pCPU3 runs on this host with the pins mapped (p mod host
// pCPUs) and says so; it prints the monitor output, writes trace, plot and score, reports OOM
// kills, and removes its guests — also when interrupted with Ctrl-C. Bad input fails before any
// guest is started. Needs libvirtd (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { findLabGuests } from '../../src/lab/guests.js';
import { labRemove } from '../../src/lab/lab.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { parseTrace } from '../../src/score/index.js';
import { runBin, say, until, URI, claimLabDaemon } from './e2e-support.js';

const TAG = 'lab-run-e2e';
const PREFIX = `vblt${process.pid}r_`;

const SCENARIO = (intervals: number) => `
name: lab-run-e2e
description: two lightly loaded guests pinned to scenario pCPUs 2 and 3 of 4
controllers: [cpu]
interval: 2
intervals: ${intervals}
host: { pcpus: 4, memoryMiB: 4096, overheadMiB: 512 }
domains:
  - { name: vm1, memoryMiB: 256, pin: [2], workload: { cpu: 0.3 } }
  - { name: vm2, memoryMiB: 256, pin: [3], workload: { cpu: 0.3 } }
`;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let dir: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let hostPcpus = 0;

async function ourGuests(): Promise<string[]> {
  return (await findLabGuests(client!)).map((g) => g.domain.name).filter((n) => n.startsWith(PREFIX));
}

describe('lab run on real guests', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    hostPcpus = (await client.nodeInfo()).cpus;
    dir = await mkdtemp(path.join(os.tmpdir(), 'vb-lab-run-'));
  });

  after(async () => {
    try {
      if (client) {
        const left = await ourGuests();
        if (left.length > 0) await labRemove(client, left, consoleProgress(TAG));
      }
    } finally {
      await unlock?.();
      await client?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  test('plays the scenario with its pins mapped, prints monitor + score + OOM summary, writes trace and plot, removes its guests', async (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir!, 'lab-run-e2e.yaml');
    await writeFile(file, SCENARIO(4));
    const out = path.join(dir!, 'out');
    const child = runBin(['lab', 'run', file, '--prefix', PREFIX, '--out', out, '--connect', URI], TAG);
    const code = await child.exited;
    const text = child.output.join('\n');
    assert.equal(code, 0, text);
    const expected = hostPcpus < 4
      ? `scenario pCPU p runs on host pCPU p mod ${hostPcpus}`
      : 'pins are kept';
    assert.ok(child.output.some((l) => l.includes(expected)), `the pCPU mapping is said (${expected}):\n${text}`);
    assert.match(text, /^virtbalance: vCPU scheduler on lab:/m);
    assert.match(text, /^--- interval 3 /m);
    assert.match(text, /^\d - usage: [\d.]+ \| mapping \[/m);
    assert.match(text, /^=== score of lab-run-e2e \(4 intervals of 2 s, real guests on /m);
    assert.match(text, /^OOM kills \(guest consoles\): none in 2 guests$/m);
    assert.match(text, /^lab notes:$/m);

    const traceFile = path.join(out, 'lab-run-e2e', 'trace.jsonl');
    const lines = parseTrace(await readFile(traceFile, 'utf8'), traceFile);
    const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
    assert.equal(intervals.length, 4);
    assert.ok(intervals.every((i) => Array.isArray(i.oomKills) && i.oomKills.length === 0), 'every interval says it looked for OOM kills');
    assert.deepEqual(intervals[0]!.domains.sort(), [`${PREFIX}vm1`, `${PREFIX}vm2`], 'only the run\'s guests are observed');
    const first = intervals[1]!.cpu!.vcpus;
    const pinOf = (n: string) => first.find((v) => v.domain === `${PREFIX}${n}`)!.affinity;
    assert.deepEqual([pinOf('vm1'), pinOf('vm2')], [[2 % hostPcpus], [3 % hostPcpus]], 'initial pins mapped from scenario pCPUs 2 and 3');
    assert.ok(existsSync(path.join(out, 'lab-run-e2e', 'lab-run-e2e-cpu.svg')), 'CPU plot written');
    assert.deepEqual(await ourGuests(), [], 'guests removed afterwards');
  });

  test('Ctrl-C stops the run, the partial trace is scored, the guests are removed', async (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir!, 'lab-run-e2e-long.yaml');
    await writeFile(file, SCENARIO(60));
    const out = path.join(dir!, 'out-int');
    const child = runBin(['lab', 'run', file, '--prefix', PREFIX, '--out', out, '--connect', URI], TAG);
    await until('the run to reach interval 2', 120_000, async () => (child.output.some((l) => l.startsWith('--- interval 2 ')) ? true : undefined));
    assert.ok((await ourGuests()).length === 2, 'guests running during the run');
    child.process.kill('SIGINT');
    const code = await child.exited;
    const text = child.output.join('\n');
    assert.equal(code, 0, text);
    assert.match(text, /interrupted: finishing this step, then removing the guests/);
    assert.match(text, /^=== score of lab-run-e2e \(\d+ intervals of 2 s/m);
    assert.deepEqual(await ourGuests(), [], 'guests removed after Ctrl-C');
    say(TAG, `interrupted run: ${text.match(/=== score of .*$/m)?.[0]}`);
  });

  test('a bad scenario file or option fails with one line and exit 2, before any guest starts', async (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir!, 'bad.yaml');
    await writeFile(file, SCENARIO(4).replace('memoryMiB: 256, pin: [2]', 'memoryMiB: 256, pin: [2], colour: red'));
    const bad = runBin(['lab', 'run', file, '--prefix', PREFIX, '--connect', URI], TAG);
    assert.equal(await bad.exited, 2);
    assert.equal(bad.output.length, 1, bad.output.join('\n'));
    assert.match(bad.output[0]!, /unknown field 'colour'/);
    const wrongCase = runBin(['lab', 'run', 'cpu', '99', '--connect', URI], TAG);
    assert.equal(await wrongCase.exited, 2);
    assert.match(wrongCase.output.join('\n'), /no shipped scenario 'cpu 99'/);
    assert.deepEqual(await ourGuests(), []);
  });
});
