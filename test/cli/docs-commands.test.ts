// The docs' command lines work from a checkout after `npm ci` (issue #20, friction 4): there the
// commands are not on the PATH, so a line to type says `npx virtbalance`, and none says `sudo`
// (the docs say where root is needed; a test machine's user is root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../web/helpers.js';

const BINS = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
const DOCS = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** Every line inside a fenced code block, with its file and line number. */
function codeLines(file: string): Array<{ where: string; line: string }> {
  const out: Array<{ where: string; line: string }> = [];
  let inBlock = false;
  readFileSync(join(repoRoot, file), 'utf8').split('\n').forEach((line, i) => {
    if (line.startsWith('```')) inBlock = !inBlock;
    else if (inBlock) out.push({ where: `${file}:${i + 1}`, line });
  });
  return out;
}

test('no command line in the docs runs a package command bare or under sudo', () => {
  // After optional VAR=value assignments, a line that starts a command of ours.
  const command = new RegExp(`^\\s*(sudo\\s+)?(\\w+=\\S*\\s+)*(${BINS.join('|')})\\s`);
  const bad = DOCS.flatMap(codeLines).filter(({ line }) => command.test(line) || /^\s*sudo\s/.test(line));
  assert.deepEqual(bad.map(({ where, line }) => `${where}: ${line.trim()}`), []);
});

test('no doc tells the reader to sudo', () => {
  const bad = DOCS.flatMap((file) => readFileSync(join(repoRoot, file), 'utf8').split('\n').map((line, i) => ({ where: `${file}:${i + 1}`, line })))
    .filter(({ line }) => /(^|[\s`(])sudo\s/.test(line));
  assert.deepEqual(bad.map(({ where, line }) => `${where}: ${line.trim()}`), []);
});

test('the docs\' own examples name commands that exist', () => {
  // npx finds these from a checkout because they are the package's own bins.
  for (const { where, line } of DOCS.flatMap(codeLines)) {
    const m = /^\s*(?:\w+=\S*\s+)*npx\s+(\S+)/.exec(line);
    if (m) assert.ok(BINS.includes(m[1]!), `${where}: npx ${m[1]} is not a bin of the package`);
  }
});
