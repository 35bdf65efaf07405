// End to end: a domain that is not the test's own, running on the same daemon while the shipped
// controllers run scoped to the test's guests (`vcpu_scheduler`/`memory_coordinator --only`, then
// `virtbalance run` with `--only` naming it by UUID and the config file's `manage: false` taking it
// out again), is never pinned, ballooned or given a balloon stats period. The foreign guest is made
// tempting: pinned to the crowded pCPU0 with the test's busy guests, a balloon with room to take
// back, and no stats period (a coordinator enables stats on every guest it manages). Read from
// libvirt before and after: its vCPU affinity, its balloon size, its live XML's stats period. The
// lab tests run beside it rather than skip (issue #20, friction 3).
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import type { TraceLine } from '../../src/ground/trace-record.js';
import type { LabGuest } from '../../src/lab/lab.js';
import { labWorkloadController } from '../../src/lab/workload-channel.js';
import { connectOrSkip, OUR_GUESTS, runBin, say, sleep, URI, type Child, claimLabDaemon, releaseLabDaemon, upTestGuests } from './e2e-support.js';

const TAG = 'foreign-e2e';
const PREFIX = `vblt${process.pid}f_`;
const FOREIGN = `vbforeign${process.pid}`;
const INTERVAL_S = 1;
const DROP_IN_S = 14;

interface Untouched {
  affinity: number[][];
  actualKiB: number;
  statsPeriod: number;
}

let client: LibvirtClient | undefined;
let skip: string | undefined;
let guests: LabGuest[] = [];
let unlock: (() => Promise<void>) | undefined;
let dir: string | undefined;
const children: Child[] = [];

const dom = (g: LabGuest) => ({ name: g.name, uuid: g.uuid, id: -1 });
const ours = () => guests.filter((g) => g.name !== FOREIGN);
const foreign = () => guests.find((g) => g.name === FOREIGN)!;

/** What a controller could change about a guest, as libvirt reports it. */
async function state(g: LabGuest): Promise<Untouched> {
  const { xml } = await client!.call('domainGetXmlDesc', { dom: dom(g), flags: 0 });
  const period = /<memballoon[^>]*>[\s\S]*?<stats period=['"](\d+)['"]/.exec(xml)?.[1];
  return {
    affinity: await client!.getVcpuPinInfo(dom(g), { vcpus: 1 }),
    actualKiB: (await client!.memoryStats(dom(g))).actual!,
    statsPeriod: Number(period ?? 0),
  };
}

async function traceOf(file: string): Promise<TraceLine[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TraceLine);
}

/** Every action of a trace, as `domain kind`. */
function actionsIn(lines: TraceLine[]): string[] {
  return lines.flatMap((l) => (l.type === 'interval' ? l.actions.map((a) => `${a.domain.name} ${a.kind}`) : []));
}

describe('a foreign domain beside the scoped controllers', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    dir = await mkdtemp(path.join(os.tmpdir(), 'vb-foreign-'));
    const up = await upTestGuests(client, TAG, [
        { name: `${PREFIX}1`, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 1024, statsPeriod: 1 },
        { name: `${PREFIX}2`, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 1024, statsPeriod: 0 },
        { name: FOREIGN, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 1024, statsPeriod: 0 },
      ]);
    guests = up.guests;
    say(TAG, `${guests.length} guests up in ${up.bootSeconds.toFixed(1)} s (domain type ${up.accel.domainType}); ${FOREIGN} plays someone else's VM`);
    const pcpus = (await client.nodeInfo()).cpus;
    const wl = labWorkloadController();
    for (const g of guests) {
      await client.pinVcpu(dom(g), 0, [0], { pcpus });
      await wl.setCpu(g.name, 1);
    }
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, children, labGuests: guests.map((g) => g.name), dir });
  });

  test('the lab tests run beside the foreign guest and name it', async (t) => {
    if (skip) return t.skip(skip);
    const said: string[] = [];
    const write = process.stderr.write;
    let r: Awaited<ReturnType<typeof connectOrSkip>>;
    try {
      process.stderr.write = ((chunk: string | Uint8Array) => { said.push(String(chunk)); return true; }) as typeof process.stderr.write;
      r = await connectOrSkip(TAG);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(r.skip, undefined, `not skipped beside ${FOREIGN}`);
    assert.ok(r.client, 'a client while a foreign domain runs');
    await r.client.close();
    assert.ok(said.some((l) => l.includes(FOREIGN) && l.includes('left alone')), `says it runs beside ${FOREIGN}: ${said.join('')}`);
  });

  test('vcpu_scheduler and memory_coordinator --only our guests, then run --only … with manage: false, never touch it', async (t) => {
    if (skip) return t.skip(skip);
    const before = await state(foreign());
    const oursBefore = await Promise.all(ours().map(state));
    say(TAG, `${FOREIGN} before: affinity ${JSON.stringify(before.affinity)}, balloon ${before.actualKiB / 1024} MiB, stats period ${before.statsPeriod}`);
    assert.deepEqual(before.affinity, [[0]]);
    assert.equal(before.statsPeriod, 0);

    const cpuTrace = path.join(dir!, 'cpu.jsonl');
    const memTrace = path.join(dir!, 'memory.jsonl');
    const scheduler = runBin(['vcpu_scheduler', String(INTERVAL_S), '--connect', URI, '--only', OUR_GUESTS, '--trace', cpuTrace], TAG);
    const coordinator = runBin(['memory_coordinator', String(INTERVAL_S), '--connect', URI, '--only', OUR_GUESTS, '--trace', memTrace], TAG);
    children.push(scheduler, coordinator);
    const end = Date.now() + DROP_IN_S * 1000;
    while (Date.now() < end) {
      assert.equal(scheduler.process.exitCode, null, `vcpu_scheduler exited early:\n${scheduler.output.join('\n')}`);
      assert.equal(coordinator.process.exitCode, null, `memory_coordinator exited early:\n${coordinator.output.join('\n')}`);
      assert.deepEqual(await state(foreign()), before, `${FOREIGN} changed while the drop-ins ran`);
      await sleep(1_000);
    }
    assert.equal(await scheduler.stop(), 0);
    assert.equal(await coordinator.stop(), 0);
    for (const c of [scheduler, coordinator]) {
      const said = c.output.find((l) => l.includes('left alone (out of scope): '));
      assert.ok(said?.split('left alone (out of scope): ')[1]!.split(', ').includes(FOREIGN), `says it leaves ${FOREIGN} alone:\n${c.output.slice(0, 8).join('\n')}`);
    }
    // The controllers did act, on our guests only.
    const cpuActions = actionsIn(await traceOf(cpuTrace));
    const memActions = actionsIn(await traceOf(memTrace));
    say(TAG, `scheduler: ${cpuActions.join(', ') || 'no actions'}; coordinator: ${memActions.join(', ') || 'no actions'}`);
    assert.ok(cpuActions.some((a) => a.startsWith(PREFIX) && a.endsWith(' pin')), 'the scheduler pinned one of our guests');
    assert.ok(memActions.some((a) => a === `${PREFIX}2 set-stats-period`), `the coordinator enabled our second guest's stats: ${memActions.join(', ')}`);
    assert.equal([...cpuActions, ...memActions].filter((a) => !a.startsWith(PREFIX)).length, 0);
    const oursAfter = await Promise.all(ours().map(state));
    assert.notDeepEqual(oursAfter, oursBefore, 'our guests were changed');
    assert.equal(oursAfter[1]!.statsPeriod, 1, 'our guest without stats got a period (the foreign one did not)');

    // `run`: --only also names the foreign guest (by UUID), and the config file's manage: false takes it out.
    const config = path.join(dir!, 'config.yaml');
    await writeFile(config, `vms:\n  ${FOREIGN}: { manage: false }\n`);
    const runTrace = path.join(dir!, 'run.jsonl');
    const run = runBin(['run', '--connect', URI, '--interval', String(INTERVAL_S), '--intervals', '6', '--config', config, '--only', `${OUR_GUESTS},${foreign().uuid}`, '--trace', runTrace], TAG);
    children.push(run);
    assert.equal(await run.exited, 0, run.output.join('\n'));
    assert.ok(run.output.some((l) => l.includes(`not ${FOREIGN} (manage: false)`)), run.output.slice(0, 4).join('\n'));
    const runLines = await traceOf(runTrace);
    assert.ok(runLines.every((l) => l.type !== 'interval' || l.domains.every((d) => d.startsWith(PREFIX))), 'run observed only our guests');
    assert.equal(actionsIn(runLines).filter((a) => !a.startsWith(PREFIX)).length, 0);

    const after = await state(foreign());
    say(TAG, `${FOREIGN} after: affinity ${JSON.stringify(after.affinity)}, balloon ${after.actualKiB / 1024} MiB, stats period ${after.statsPeriod}`);
    assert.deepEqual(after, before, `${FOREIGN} was never pinned, ballooned or given a stats period`);
  });
});
