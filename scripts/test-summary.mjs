// A `node --test` reporter that ends the run with what its own counts leave out: every skipped test
// or suite with its reason (a skipped suite is not even in node's `# skipped` count), then one line
// saying how many real-VM tests (the files test/lab/*-e2e.test.*, which boot guests on libvirtd)
// ran and passed. Used beside the usual reporter by scripts/run-tests.mjs.

/** A test file that boots real guests. */
export const REAL_VM_FILE = /(^|[\\/])lab[\\/][^\\/]+-e2e\.test\.[cm]?[jt]s$/;

/**
 * The summary lines for a run's events (`{ type, data }` as a reporter receives them): one line per
 * skipped suite and per skipped file and reason, then the real-VM line, always last.
 */
export function summarize(events, { cwd = process.cwd(), isRealVm = (file) => REAL_VM_FILE.test(file ?? '') } = {}) {
  const rel = (file) => (file === undefined ? '(no file)' : file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file);
  const real = { total: 0, passed: 0, failed: 0, skipped: 0, files: new Set() };
  /** `file\0reason` -> how many tests skipped for it; suites kept apart, their tests are never reported. */
  const skippedTests = new Map();
  const skippedSuites = [];
  for (const { type, data } of events) {
    if ((type !== 'test:pass' && type !== 'test:fail') || data === undefined) continue;
    const reason = data.skip === true ? 'no reason given' : data.skip;
    const vm = isRealVm(data.file);
    if (data.details?.type === 'suite') {
      if (reason) skippedSuites.push({ file: rel(data.file), name: data.name, reason, vm });
      if (reason && vm) real.files.add(data.file);
      continue;
    }
    if (vm) {
      real.total++;
      real.files.add(data.file);
    }
    if (reason) {
      const key = `${rel(data.file)}\0${reason}`;
      skippedTests.set(key, (skippedTests.get(key) ?? 0) + 1);
      if (vm) real.skipped++;
    } else if (vm) {
      if (type === 'test:pass') real.passed++;
      else real.failed++;
    }
  }
  const lines = [];
  for (const s of skippedSuites) lines.push(`skipped suite "${s.name}" (${s.file}${s.vm ? ', real-VM' : ''}): ${s.reason}`);
  for (const [key, n] of skippedTests) {
    const [file, reason] = key.split('\0');
    lines.push(`skipped ${n} ${n === 1 ? 'test' : 'tests'} in ${file}: ${reason}`);
  }
  const ran = real.total - real.skipped;
  const vmSuites = skippedSuites.filter((s) => s.vm).length;
  if (real.total === 0 && vmSuites === 0) lines.push('real-VM tests: none in this run');
  else {
    const skipped = [real.skipped > 0 ? `${real.skipped} skipped` : '', vmSuites > 0 ? `${vmSuites} ${vmSuites === 1 ? 'suite' : 'suites'} skipped` : ''].filter(Boolean).join(', ');
    lines.push(`real-VM tests: ${ran === 0 ? 'NONE ran' : `${ran} ran`} (${real.passed} passed, ${real.failed} failed${skipped ? `, ${skipped}: see above` : ''}) in ${real.files.size} ${real.files.size === 1 ? 'file' : 'files'}`);
  }
  return lines;
}

export default async function* testSummary(source) {
  const events = [];
  for await (const event of source) if (event.type === 'test:pass' || event.type === 'test:fail') events.push(event);
  yield `\n${summarize(events).map((l) => `# ${l}\n`).join('')}`;
}
