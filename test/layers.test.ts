import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = join(repo, 'scripts', 'check-layers.mjs');

function check(root: string) {
  return spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
}

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vb-layers-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('the repository itself passes the layer check', () => {
  const r = check(repo);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /every import goes down/);
});

test('a clean tree passes: imports that go down, policies on the ground floor only', () => {
  const root = tree({
    'src/ground/hypervisor.ts': 'export interface H { x: number }\n',
    'src/cpu/scheduler.ts': "import type { H } from '../ground/hypervisor.js';\nimport { helper } from './helper.js';\n",
    'src/cpu/helper.ts': 'export const helper = 1;\n',
    'src/control/loop.ts': "import { helper } from '../cpu/helper.js';\nimport { setTimeout } from 'node:timers/promises';\n",
  });
  try {
    const r = check(root);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an import from a layer above, a policy reaching past the ground floor, and I/O in a policy all fail', () => {
  const root = tree({
    'src/ground/errors.ts': "import { x } from '../cli/main.js';\n",
    'src/cli/main.ts': 'export const x = 1;\n',
    'src/cpu/scheduler.ts': "import type { Action } from '../control/actions.js';\nimport {\n  y,\n} from '../memory/state.js';\n",
    'src/control/actions.ts': 'export type Action = 1;\n',
    'src/memory/state.ts': "import { readFileSync } from 'node:fs';\nexport const y = 2;\n",
    'src/memory/clock.ts': 'export function later(f: () => void) { setTimeout(f, 10); }\n',
    'src/shiny/new.ts': 'export {};\n',
  });
  try {
    const r = check(root);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /src\/ground\/errors\.ts: imports \.\.\/cli\/main\.js \(cli, layer 6\) from layer 0/);
    assert.match(r.stderr, /src\/cpu\/scheduler\.ts: imports \.\.\/control\/actions\.js \(control, layer 4\) from layer 3/);
    assert.match(r.stderr, /src\/cpu\/scheduler\.ts: the cpu policy imports \.\.\/memory\/state\.js \(memory\): policies import only the ground floor/);
    assert.match(r.stderr, /src\/memory\/state\.ts: the memory policy imports node:fs: policies do no I\/O/);
    assert.match(r.stderr, /src\/memory\/clock\.ts: the memory policy uses a timer/);
    assert.match(r.stderr, /src\/shiny\/new\.ts: folder 'shiny' is in no layer/);
    assert.match(r.stderr, /6 problems/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
