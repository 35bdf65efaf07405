#!/usr/bin/env node
// The layer check (docs/architecture.md): fails when a module imports from a layer above its own,
// when a policy imports anything but the ground floor and its own folder, or when a policy does I/O
// (node:fs, node:net, node:child_process, ... or timers).
//
//   node scripts/check-layers.mjs [ROOT]     ROOT defaults to the repository; checks ROOT/src and ROOT/bench
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The layers, lowest first. A module may import from its own layer and those below. */
export const LAYERS = [
  ['ground', 'yaml'],
  ['libvirt'],
  ['host'],
  ['cpu', 'memory'],
  ['control', 'score', 'plot'],
  ['app', 'config', 'serve'],
  ['cli', 'web', 'lab', 'bench'],
];
/** Pure policies: they see the ground floor and their own folder only. */
export const POLICIES = ['cpu', 'memory'];
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|child_process|dgram|http|https|http2|tls|worker_threads|cluster|timers|timers\/promises|readline|os|process)$/;
const TIMERS = /\b(setTimeout|setInterval|setImmediate)\s*\(/;

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank])));

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The top folder a file belongs to: `cpu` for src/cpu/x.ts, `bench` for bench/x.ts. */
function folderOf(root, file) {
  const rel = relative(root, file).split(sep);
  if (rel[0] === 'bench') return 'bench';
  return rel[0] === 'src' && rel.length > 2 ? rel[1] : undefined;
}

function importsOf(text) {
  const specs = [];
  const re = /(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs;
}

export function checkLayers(root) {
  const problems = [];
  const files = [...walk(join(root, 'src')), ...walk(join(root, 'bench'))];
  for (const file of files) {
    const from = folderOf(root, file);
    if (from === undefined) continue;
    const fromRank = rankOf.get(from);
    const where = relative(root, file);
    if (fromRank === undefined) {
      problems.push(`${where}: folder '${from}' is in no layer (add it to LAYERS in scripts/check-layers.mjs and docs/architecture.md)`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    const policy = POLICIES.includes(from);
    for (const spec of importsOf(text)) {
      if (spec.startsWith('.')) {
        const to = folderOf(root, resolve(dirname(file), spec));
        if (to === undefined || to === from) continue;
        const toRank = rankOf.get(to);
        if (toRank === undefined) problems.push(`${where}: imports ${spec}, in no layer`);
        else if (toRank > fromRank) problems.push(`${where}: imports ${spec} (${to}, layer ${toRank}) from layer ${fromRank} (${from}): a module may only import from its own layer or below`);
        else if (policy && to !== 'ground') problems.push(`${where}: the ${from} policy imports ${spec} (${to}): policies import only the ground floor and their own folder`);
      } else if (policy && IO_MODULES.test(spec)) {
        problems.push(`${where}: the ${from} policy imports ${spec}: policies do no I/O`);
      }
    }
    if (policy && TIMERS.test(text)) problems.push(`${where}: the ${from} policy uses a timer: policies are pure functions of their input`);
  }
  return { files: files.length, problems };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const { files, problems } = checkLayers(root);
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length > 0) {
    console.error(`layers: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${files} files`);
    process.exit(1);
  }
  console.log(`layers: ${files} files, every import goes down (docs/architecture.md)`);
}
