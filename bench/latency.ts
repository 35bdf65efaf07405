// Latency benchmark (issue #11 part 3): a guest marked dedicated, running the latency probe (wake
// every 10 ms, how late each wake-up is) and half busy, beside three busy guests on the lab host.
//   ours     the control loop with the default scheduler and `dedicated: [that guest]`, through the
//            real libvirt host (only these guests): once the guest has been busy for two intervals
//            it gets a pCPU no other vCPU may use;
//   nothing  every vCPU unpinned: the host's own scheduler decides.
// Rounds alternate ours / nothing so slow drifts of the machine's other load hit both alike. Per
// round: the probe's p50/p99/max lateness over a window after ours has settled, and every guest's
// CPU share. Prints the figures and p99(nothing) / p99(ours). Needs libvirtd; without it the
// benchmark says so and returns. Takes the lab lock.
// Run alone with `node dist/bench/latency.js`; VB_LATENCY_BENCH_ROUNDS (2), VB_LATENCY_BENCH_WINDOW_S (15).
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { defaultCpuSchedulerOptions } from '../src/cpu/options.js';
import { describeHostWindow } from '../src/lab/host-processes.js';
import { pct, sleep, withLabBench, type BenchWindow } from '../src/lab/bench-session.js';
import { consoleProgress } from '../src/lab/progress.js';
import { labWorkloadController, type ProbeStatus } from '../src/lab/workload-channel.js';
import { refuseArguments } from './no-arguments.js';

const URI = process.env.VIRTBALANCE_TEST_URI ?? 'qemu:///system';
const ROUNDS = Math.max(1, Number(process.env.VB_LATENCY_BENCH_ROUNDS ?? 2));
const WINDOW_S = Math.max(5, Number(process.env.VB_LATENCY_BENCH_WINDOW_S ?? 15));
const INTERVAL_S = 2;
/** Intervals ours runs before its window: one to measure, two busy ones, one to act, one spare. */
const SETTLE_INTERVALS = 5;
/** The dedicated guest's duty: busy enough to count as busy (≥ dedicatedBusyDemand), idle enough that the probe is not queued behind its own work. */
const DEDICATED_DUTY = 0.5;
const BUSY_GUESTS = 3;

const progress = consoleProgress('bench latency');
function log(s: string): void {
  console.log(`[bench latency] ${s}`);
}

interface Outcome {
  mode: 'ours' | 'nothing';
  probe: ProbeStatus;
  window: BenchWindow;
  placement: string;
  notices: string[];
}

const ms = (us: number | undefined) => (us === undefined ? '-' : `${(us / 1000).toFixed(2)} ms`);

export async function runLatencyBench(): Promise<void> {
  log(`start: ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} of ours (dedicated) and nothing (unpinned), ${WINDOW_S} s windows, on ${URI}`);
  const prefix = `vbbench${process.pid}_`;
  const dedicated = `${prefix}dedi`;
  const busy = Array.from({ length: BUSY_GUESTS }, (_, i) => `${prefix}busy${i + 1}`);
  await withLabBench({
    uri: URI, prefix, progress, log,
    guests: [dedicated, ...busy].map((name) => ({ name, vcpus: 1, memoryMiB: 256, maxMemoryMiB: 256, statsPeriod: 1 })),
  }, async (bench) => {
    const workload = labWorkloadController();
    await workload.setCpu(dedicated, DEDICATED_DUTY);
    for (const name of busy) await workload.setCpu(name, 1);
    const short = (name: string) => bench.short(name);
    const measure = async (): Promise<{ probe: ProbeStatus; window: BenchWindow }> => {
      await workload.setProbe(dedicated, true);
      const first = await bench.sample();
      await sleep(WINDOW_S * 1000);
      const last = await bench.sample();
      const status = await workload.setProbe(dedicated, false);
      if (!status.probe) throw new Error('the guest workload program has no latency probe (an old image?)');
      return { probe: status.probe, window: bench.window(first, last) };
    };

    const outcomes: Outcome[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of ['ours', 'nothing'] as const) {
        await bench.pinAll(bench.all);
        await sleep(2_000);
        let shown = '';
        let notices: string[] = [];
        let result: { probe: ProbeStatus; window: BenchWindow };
        if (mode === 'ours') {
          result = await progress.step(`round ${round}: ours (vCPU scheduler, ${short(dedicated)} dedicated, every ${INTERVAL_S} s)`, async () => {
            const loop = await bench.startLoop({ ...defaultCpuSchedulerOptions, dedicated: [dedicated] }, INTERVAL_S);
            try {
              await loop.until(SETTLE_INTERVALS);
              const r = await measure();
              shown = await bench.placement();
              notices = loop.notices;
              return r;
            } finally {
              await loop.stop();
            }
          }, (r) => `p99 ${ms(r.probe.p99Us)}`);
        } else {
          result = await progress.step(`round ${round}: nothing (all vCPUs unpinned, the host's scheduler)`, async () => {
            const r = await measure();
            shown = await bench.placement();
            return r;
          }, (r) => `p99 ${ms(r.probe.p99Us)}`);
        }
        outcomes.push({ mode, ...result, placement: shown, notices });
      }
    }

    log(`results: ${short(dedicated)} (1 vCPU, duty ${DEDICATED_DUTY}, probe every 10 ms) beside ${BUSY_GUESTS} busy 1-vCPU guests on ${bench.hostPcpus} pCPUs, software-emulated; load average ${os.loadavg()[0]!.toFixed(1)}`);
    log('round  mode     wake-ups  p50        p99        max        dedi share  busy guests\' shares         other work  placement at the end  (non-guest processes, /proc)');
    let round = 0;
    for (const o of outcomes) {
      if (o.mode === 'ours') round++;
      const shares = [...o.window.guestShare.entries()];
      const dedi = shares.find(([n]) => n === dedicated)?.[1] ?? 0;
      const others = shares.filter(([n]) => n !== dedicated).map(([, v]) => pct(v).padStart(7)).join(' ');
      log(`${String(round).padEnd(6)} ${o.mode.padEnd(8)} ${String(o.probe.samples).padStart(8)}  ${ms(o.probe.p50Us).padEnd(9)}  ${ms(o.probe.p99Us).padEnd(9)}  ${ms(o.probe.maxUs).padEnd(9)}  ${pct(dedi).padStart(9)}   ${others}   ${o.window.otherWork.toFixed(2)} pCPU  ${o.placement}${o.window.host ? `  (${describeHostWindow(o.window.host)})` : ''}`);
    }
    for (const n of new Set(outcomes.flatMap((o) => o.notices))) log(`ours said: ${n}`);
    const mean = (mode: 'ours' | 'nothing', f: (o: Outcome) => number | undefined) => {
      const xs = outcomes.filter((o) => o.mode === mode).map(f).filter((x): x is number => x !== undefined);
      return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const oursP99 = mean('ours', (o) => o.probe.p99Us);
    const nothingP99 = mean('nothing', (o) => o.probe.p99Us);
    const oursP50 = mean('ours', (o) => o.probe.p50Us);
    const nothingP50 = mean('nothing', (o) => o.probe.p50Us);
    const ratio = nothingP99 / oursP99;
    log(`p99 lateness (mean over ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}): ours ${ms(oursP99)}, nothing ${ms(nothingP99)}: nothing / ours = ${ratio.toFixed(2)}` +
      (ratio > 1.2 ? ' (dedicated is better)' : ratio < 1 / 1.2 ? ' (dedicated is WORSE than doing nothing)' : ' (a tie within 20 %)'));
    log(`p50 lateness: ours ${ms(oursP50)}, nothing ${ms(nothingP50)}: nothing / ours = ${(nothingP50 / oursP50).toFixed(2)}`);
    // Round by round (each ours beside the nothing that followed it): a mean can be one bad round.
    const pairs = outcomes.filter((o) => o.mode === 'ours').map((o, i) => [o, outcomes.filter((x) => x.mode === 'nothing')[i]!] as const);
    const perRound = (f: (o: Outcome) => number | undefined) => pairs.map(([a, b]) => (f(b) ?? Number.NaN) / (f(a) ?? Number.NaN));
    const geo = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
    const p99Ratios = perRound((o) => o.probe.p99Us);
    const p50Ratios = perRound((o) => o.probe.p50Us);
    log(`per round nothing / ours: p99 ${p99Ratios.map((r) => r.toFixed(2)).join(', ')} (ours lower in ${p99Ratios.filter((r) => r > 1).length} of ${pairs.length}, geometric mean ${geo(p99Ratios).toFixed(2)}); ` +
      `p50 ${p50Ratios.map((r) => r.toFixed(2)).join(', ')} (ours lower in ${p50Ratios.filter((r) => r > 1).length} of ${pairs.length}, geometric mean ${geo(p50Ratios).toFixed(2)})`);
    const otherWork = outcomes.reduce((a, o) => a + o.window.otherWork, 0) / outcomes.length;
    if (otherWork > 0.25) {
      log(`warning: ${otherWork.toFixed(2)} pCPU on average went to work other than these guests (other processes on this machine): they also run on the dedicated pCPU, which only keeps our other vCPUs off it`);
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  refuseArguments('latency', 'VB_LATENCY_BENCH_ROUNDS, VB_LATENCY_BENCH_WINDOW_S, VIRTBALANCE_TEST_URI');
  await runLatencyBench();
}
