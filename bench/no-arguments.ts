// Benchmarks that take no arguments (their knobs are environment variables) say so on any argument,
// in one line with exit 2, instead of ignoring it: `--help` must not start real guests.

export function refuseArguments(bench: string, knobs = ''): void {
  const given = process.argv.slice(2);
  if (given.length === 0) return;
  console.error(`bench ${bench}: takes no arguments, got '${given.join(' ')}'${knobs ? ` (it is set with environment variables: ${knobs})` : ''}`);
  process.exit(2);
}
