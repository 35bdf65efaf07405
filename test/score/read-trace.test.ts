import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrace, readTrace, TraceFormatError } from '../../src/score/read-trace.js';
import { UsageError } from '../../src/ground/errors.js';
import { cpuTrace, guest, header, memoryInterval } from './fixtures.js';

const good = () => cpuTrace(2, [{ name: 'a', demand: 0.5 }, { name: 'b', demand: 0.5 }], 3, () => [0, 1]);
const text = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

function rejects(source: string, line: number, pattern: RegExp): void {
  assert.throws(() => parseTrace(source, 'run.jsonl'), (err: unknown) => {
    assert.ok(err instanceof TraceFormatError, String(err));
    assert.ok(err instanceof UsageError, 'bad input exits 2');
    assert.equal(err.line, line);
    assert.match(err.message, new RegExp(`^run\\.jsonl:${line}: `));
    assert.match(err.message, pattern);
    return true;
  });
}

test('a well-formed trace round-trips', () => {
  const lines = good();
  assert.deepEqual(parseTrace(text(lines)), JSON.parse(JSON.stringify(lines)));
  const mem = [header(1), memoryInterval(0, [guest('a', 512, 100)])];
  assert.equal(parseTrace(text(mem)).length, 2);
});

test('broken JSON is reported with its line number, counting blank lines', () => {
  const lines: unknown[] = good();
  lines.splice(2, 0, '', '{"type":"interval",');
  rejects(text(lines), 4, /not valid JSON/);
});

test('a missing or wrong field names the field', () => {
  const lines = good() as unknown as Record<string, any>[];
  delete lines[2]!.timeMs;
  rejects(text(lines), 3, /timeMs must be a number, got nothing/);

  const badCpu = good() as unknown as Record<string, any>[];
  badCpu[1]!.cpu.vcpus[1].usage = 'high';
  rejects(text(badCpu), 2, /cpu\.vcpus\[1\]\.usage must be a number/);

  const badAction = good() as unknown as Record<string, any>[];
  badAction[3]!.actions = [{ kind: 'migrate', domain: { name: 'a', uuid: 'u' } }];
  rejects(text(badAction), 4, /actions\[0\]\.kind must be pin, set-memory, set-stats-period, set-cpu-weight or resize-memory-device/);

  // A virtio-mem resize (#19) reads back; one without its requested size names the field.
  const resize = { kind: 'resize-memory-device', domain: { name: 'a', uuid: 'u' }, fromKiB: 0, requestedKiB: 524288, reason: 'r' };
  const withResize = good() as unknown as Record<string, any>[];
  withResize[3]!.actions = [resize];
  assert.equal(parseTrace(text(withResize)).length, withResize.length);
  const { requestedKiB: _, ...noSize } = resize;
  withResize[3]!.actions = [noSize];
  rejects(text(withResize), 4, /actions\[0\]\.requestedKiB must be a number/);

  const badKills = [header(1), { ...memoryInterval(0, [guest('a', 512, 100)]), oomKills: [{ process: 'x', pid: 1 }] }];
  rejects(text(badKills), 2, /oomKills\[0\]\.domain must be a string/);
  assert.equal(parseTrace(text([header(1), { ...memoryInterval(0, [guest('a', 512, 100)]), oomKills: [{ domain: 'a', process: 'x', pid: 1 }] }])).length, 2);

  const badMem = [header(1), memoryInterval(0, [guest('a', 512, 100)])] as unknown as Record<string, any>[];
  badMem[1]!.memory.guests[0].actualKiB = null;
  rejects(text(badMem), 2, /memory\.guests\[0\]\.actualKiB must be a number/);
});

test('a short window is marked in the CPU part; traces from before the mark read as they did', () => {
  const lines = good() as unknown as Record<string, any>[];
  assert.equal(lines[2]!.cpu.shortWindow, undefined, 'the fixture is an old trace');
  assert.equal(parseTrace(text(lines)).length, lines.length);
  lines[2]!.cpu.shortWindow = true;
  lines[2]!.cpu.elapsedNs = 0.112e9;
  const parsed = parseTrace(text(lines)) as unknown as Record<string, any>[];
  assert.equal(parsed[2]!.cpu.shortWindow, true);
  assert.equal(parsed[1]!.cpu.shortWindow, undefined);
  lines[2]!.cpu.shortWindow = 'yes';
  rejects(text(lines), 3, /cpu\.shortWindow must be true or false, got "yes"/);
});

test('the header must come first, once, with a known version', () => {
  const lines = good();
  rejects(text(lines.slice(1)), 1, /first line must be the trace header/);
  rejects(text([lines[0], lines[1], lines[0]]), 3, /second header/);
  rejects(text([{ ...lines[0], version: 2 }]), 1, /unsupported trace version 2/);
  rejects('\n\n', 1, /empty trace/);
});

test('readTrace reads a file and names a missing one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vb-score-'));
  const path = join(dir, 'run.jsonl');
  await writeFile(path, text(good()));
  assert.equal((await readTrace(path)).length, 4);
  await assert.rejects(readTrace(join(dir, 'nope.jsonl')), (err: unknown) => err instanceof UsageError && /cannot read trace .*nope\.jsonl: no such file/.test(err.message));
  await writeFile(path, text(good()) + '{"type":"interval"}\n');
  await assert.rejects(readTrace(path), (err: unknown) => err instanceof TraceFormatError && err.message.startsWith(`${path}:5: `));
});
