// End to end: `virtbalance lab run SCENARIO -- CMD` judges a foreign controller on real guests. The
// program (a C vCPU scheduler on libvirt-dev, hard-coding qemu:///system, preceded by virsh listing
// every domain) sees only the lab's guests: a domain of the host it was not given stays invisible;
// its pins are scored. Needs libvirtd, QEMU and root (scripts/libvirt-test-host.sh up).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { findLabGuests } from '../../src/lab/guests.js';
import { labRemove } from '../../src/lab/lab.js';
import { labRoot } from '../../src/lab/paths.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { parseTrace } from '../../src/score/index.js';
import { namespaceAvailable } from '../../src/serve/judged-program.js';
import { buildC } from '../serve/tools.js';
import { connectOrSkip, labTestLock, removeStaleGuests, runBin, URI } from './e2e-support.js';

const TAG = 'lab-judge-e2e';
const PREFIX = `vblt${process.pid}j_`;
const FOREIGN = `${PREFIX}foreign`;

// Both guests busy on one pCPU: a scheduler has something to do.
const SCENARIO = `
name: lab-judge-e2e
description: two busy guests pinned to the same pCPU
controllers: [cpu]
interval: 2
intervals: 6
host: { pcpus: 2, memoryMiB: 4096, overheadMiB: 512 }
domains:
  - { name: vm1, memoryMiB: 256, pin: [0], workload: { cpu: 0.9 } }
  - { name: vm2, memoryMiB: 256, pin: [0], workload: { cpu: 0.9 } }
`;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let dir: string | undefined;
let unlock: (() => Promise<void>) | undefined;

describe('lab run -- CMD on real guests', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip } = await connectOrSkip(TAG));
    if (!client) return;
    if (!namespaceAvailable()) {
      if (process.env.CI === 'true') throw new Error('lab run -- CMD with a program that opens qemu:///system needs root and unshare(1)');
      skip = 'needs root and unshare(1)';
      return;
    }
    unlock = await labTestLock(labRoot(), TAG);
    await removeStaleGuests(client, TAG);
    dir = await mkdtemp(path.join(os.tmpdir(), 'vb-lab-judge-'));
  });

  after(async () => {
    try {
      if (client) {
        const left = (await findLabGuests(client)).map((g) => g.domain.name).filter((n) => n.startsWith(PREFIX));
        if (left.length > 0) await labRemove(client, left, consoleProgress(TAG));
        const foreign = (await client.listAllDomains()).find((d) => d.name === FOREIGN);
        if (foreign) await client.call('domainUndefineFlags', { dom: foreign, flags: 0 });
      }
    } finally {
      await unlock?.();
      await client?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  test('the judged program sees only the lab\'s guests, and its pins are scored', async (t) => {
    if (skip) return t.skip(skip);
    // A domain of the host the program is not given (defined, never started: nothing runs).
    await client!.call('domainDefineXmlFlags', { xml: `<domain type='qemu'><name>${FOREIGN}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`, flags: 0 });
    const scheduler = await buildC('vcpu_scheduler');
    const file = path.join(dir!, 'lab-judge-e2e.yaml');
    await writeFile(file, SCENARIO);
    const out = path.join(dir!, 'out');
    const child = runBin(['lab', 'run', file, '--prefix', PREFIX, '--out', out, '--connect', URI, '--',
      'sh', '-c', `virsh -c qemu:///system list --all --name; exec ${scheduler} 2`], TAG);
    const code = await child.exited;
    const text = child.output.join('\n');
    assert.equal(code, 0, text);
    const seen = [...text.matchAll(/\[sh\] (\S+)$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(seen, [`${PREFIX}vm1`, `${PREFIX}vm2`], `virsh inside sees the lab's guests only:\n${text}`);
    assert.match(text, /^=== score of lab-judge-e2e \(6 intervals of 2 s/m);

    const traceFile = path.join(out, 'lab-judge-e2e', 'trace.jsonl');
    const intervals = parseTrace(await readFile(traceFile, 'utf8'), traceFile).filter((l): l is TraceInterval => l.type === 'interval');
    const pins = intervals.flatMap((i) => i.actions).filter((a) => a.kind === 'pin');
    assert.ok(pins.length >= 1 && pins.every((a) => a.reason === 'by the judged program'), `the program's pins are the trace's actions: ${JSON.stringify(pins)}`);
    const last = intervals.at(-1)!.cpu!.vcpus;
    assert.notDeepEqual(last.find((v) => v.domain === `${PREFIX}vm1`)!.affinity, last.find((v) => v.domain === `${PREFIX}vm2`)!.affinity, 'it spread them');
    assert.ok((await client!.listAllDomains()).some((d) => d.name === FOREIGN), 'the foreign domain is still there, untouched');
  });
});
