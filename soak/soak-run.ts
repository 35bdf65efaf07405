// The soak run itself, in a child process started by soak.test.ts with --expose-gc so that heap
// samples are taken after a full collection. It does nothing unless started with --soak (the test
// runner also loads every file under soak/).
//
//   node --expose-gc dist/soak/soak-run.js --soak [intervals] [domains]
//
// Progress goes to stderr; the result is one JSON line on stdout.
import { runControlLoop } from '../src/control/loop.js';
import { memoryOptionsFor } from '../src/control/simulate.js';
import { defaultCpuSchedulerOptions } from '../src/cpu/options.js';
import { createSimulatedHost } from '../src/host/sim/index.js';
import { FaultyHost, seededRandom, type FaultCounts } from '../test/hardening/faulty-host.js';
import { largeScenario } from '../test/hardening/harness.js';
import { memoryViolation } from '../test/hardening/checks.js';

export interface SoakResult {
  intervals: number;
  recorded: number;
  domains: number;
  seconds: number;
  msPerInterval: number;
  heapSamplesMB: number[];
  heapSecondQuarterMedianMB: number;
  heapLastQuarterMedianMB: number;
  violations: string[];
  faults: FaultCounts;
  failures: number;
  actions: number;
  oomEvents: number;
  maxPinChangesPerVcpuHour: number;
  pinChangesPerHour: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}

/** A progress line every 1,000 intervals on a full soak, every tenth of a shorter one. */
export function progressInterval(intervals: number): number {
  return intervals >= 10_000 ? 1_000 : Math.max(1, Math.floor(intervals / 10));
}

export async function soak(intervals: number, domains: number, progress: (line: string) => void): Promise<SoakResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const scenario = largeScenario(domains, 64);
  const sim = createSimulatedHost(scenario, { seed: 11 });
  const host = new FaultyHost(
    sim.hypervisor,
    { observeFails: 0.01, actionFails: 0.01, vanish: 0.0005, vanishFor: 4, partialStats: 0.001, noBalloon: 0.0005, paused: 0.0005, noDelay: 0.001, latencyMs: 300, slowActions: 0.01 },
    seededRandom(5),
    (ms) => sim.hypervisor.advance(ms),
  );
  const memory = memoryOptionsFor(scenario);
  const violations: string[] = [];
  const heap: number[] = [];
  const pinChanges = new Map<string, number>();
  let recorded = 0;
  let failures = 0;
  let actions = 0;
  let oomEvents = 0;
  let pinTotal = 0;
  let lastInterval = -1;
  const started = performance.now();
  let lap = started;
  // 40 heap samples whatever the length; a progress line every 1,000 intervals (every tenth of a shorter run).
  const sampleEvery = Math.max(1, Math.floor(intervals / 40));
  const progressEvery = progressInterval(intervals);
  await runControlLoop(
    host,
    sim.clock,
    { intervalSeconds: scenario.intervalSeconds, cpu: { ...defaultCpuSchedulerOptions }, memory, intervals },
    {
      record(entry) {
        recorded++;
        if (entry.interval !== lastInterval + 1) violations.push(`interval ${entry.interval} recorded after ${lastInterval}`);
        lastInterval = entry.interval;
        failures += entry.failures.length;
        actions += entry.actions.length;
        const truth = sim.truth();
        oomEvents += truth.oomEvents.length;
        const v = memoryViolation([entry], []);
        if (v && violations.length < 20) violations.push(v);
        for (const a of entry.actions) {
          if (a.kind !== 'pin' || a.pcpus.join() === a.previous.join()) continue;
          pinTotal++;
          const key = `${a.domain.uuid}/${a.vcpu}`;
          pinChanges.set(key, (pinChanges.get(key) ?? 0) + 1);
        }
        const n = entry.interval + 1;
        if (n % sampleEvery === 0) {
          gc?.();
          heap.push(process.memoryUsage().heapUsed / 1e6);
        }
        if (n % progressEvery === 0) {
          const now = performance.now();
          progress(`soak: ${n}/${intervals} intervals, ${((now - lap) / progressEvery).toFixed(1)} ms/interval over the last ${progressEvery}, heap ${heap.at(-1)?.toFixed(0)} MB, ${failures} failed actions so far`);
          lap = now;
        }
      },
    },
  );
  for (const v of host.violations.slice(0, 10)) violations.push(`action on a paused domain: ${v}`);
  const seconds = (performance.now() - started) / 1000;
  const quarter = Math.floor(heap.length / 4);
  const hours = (intervals * scenario.intervalSeconds) / 3600;
  return {
    intervals,
    recorded,
    domains,
    seconds,
    msPerInterval: (seconds * 1000) / intervals,
    heapSamplesMB: heap.map((h) => Math.round(h)),
    heapSecondQuarterMedianMB: median(heap.slice(quarter, 2 * quarter)),
    heapLastQuarterMedianMB: median(heap.slice(3 * quarter)),
    violations,
    faults: host.counts,
    failures,
    actions,
    oomEvents,
    maxPinChangesPerVcpuHour: Math.max(0, ...pinChanges.values()) / hours,
    pinChangesPerHour: pinTotal / hours,
  };
}

if (process.argv[2] === '--soak') {
  const intervals = Number(process.argv[3] ?? 10_000);
  const domains = Number(process.argv[4] ?? 1000);
  soak(intervals, domains, (line) => process.stderr.write(line + '\n')).then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (err: unknown) => {
      process.stderr.write(`soak crashed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
