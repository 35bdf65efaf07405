// `lab run`: a scenario on real guests. Brings up the guests it names, pins them as it says, plays
// their workloads over time, runs its controllers through the real libvirt Hypervisor with the same
// executeRun as `run` (monitor output, trace), then the same plots and score as `sim`, OOM kills
// from the guest consoles, and takes the guests down unless asked to keep them.
import { join } from 'node:path';
import type { LibvirtClient } from '../libvirt/client.js';
import { DomainAffect } from '../libvirt/protocol.js';
import { loadScenario } from '../host/sim/index.js';
import { executeRun } from '../app/run.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Action } from '../ground/actions.js';
import { namespaceAvailable, prepareSocketDir, startJudgedProgram } from '../serve/judged-program.js';
import { startUpstreamServer } from '../serve/upstream-server.js';
import { openTarget } from '../app/target.js';
import { writePlots } from '../plot/index.js';
import { formatScore, readTrace, scoreTrace, type Score } from '../score/index.js';
import type { DomainType } from './domain-xml.js';
import { LabError, labRemove, labUp, startLabGuest, type LabGuest } from './lab.js';
import { annotateTraceFile, OomWatcher, oomNotice, type SeenOomKill } from './oom-watch.js';
import { virtbalanceCommand } from '../app/invocation.js';
import { labCpuOptions, labMemoryOptions, labRunDirName, planLabRun, type LabGuestPlan, type LabPlan } from './plan.js';
import type { Progress } from './progress.js';
import { ScopedHypervisor } from '../host/scoped-host.js';
import { labWorkloadController } from './workload-channel.js';
import { WorkloadPlayer } from './workload-player.js';

export interface LabRunOptions {
  scenarioPath: string;
  uri: string;
  /** Lab guest name = prefix + scenario domain name. */
  prefix: string;
  /** Leave the guests running afterwards. */
  keep: boolean;
  /** Results go to <outDir>/lab-<scenario>/ (labRunDirName). */
  outDir: string;
  /** Overrides the scenario's interval count. */
  intervals?: number;
  json: boolean;
  quiet: boolean;
  root: string;
  accel?: DomainType;
  /** Free page reporting on every guest's balloon (default true). */
  freePageReporting?: boolean;
  bootTimeoutSeconds: number;
  progress: Progress;
  /** Result lines (stdout); the monitor output goes there too, through executeRun. */
  print?: (line: string) => void;
  /**
   * Judge a foreign controller instead of running ours: the program runs against a filtered view of
   * the daemon (only the lab's guests exist for it) and its changes are the trace's actions.
   */
  judged?: { command: string[]; namespace: boolean };
}

export interface LabRunResult {
  plan: LabPlan;
  dir: string;
  tracePath: string;
  plots: string[];
  score: Score;
  oomKills: SeenOomKill[];
  intervals: number;
  /** Seconds from start until every guest answered. */
  bootSeconds: number;
}

/** Scenario time steps of the workload player, s. */
const PLAYER_TICK_SECONDS = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function labRun(client: LibvirtClient, opts: LabRunOptions): Promise<LabRunResult> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const { progress } = opts;
  const scenario = loadScenario(opts.scenarioPath);
  const node = await client.nodeInfo();
  const hostAvailableKiB = await client.hostAvailableMemoryKiB().catch(() => undefined);
  const plan = planLabRun(scenario, { prefix: opts.prefix, hostPcpus: node.cpus, hostMemoryMiB: hostAvailableKiB === undefined ? undefined : hostAvailableKiB / 1024, freePageReporting: opts.freePageReporting });
  const intervals = opts.intervals ?? scenario.intervals;
  progress.say(`scenario ${scenario.name}: ${plan.guests.length} guest${plan.guests.length === 1 ? '' : 's'} (${plan.guests.map((g) => g.name).join(', ')}), ${scenario.controllers.join(' + ')} controller${scenario.controllers.length === 1 ? '' : 's'}, ${intervals} intervals of ${scenario.intervalSeconds} s`);
  for (const note of plan.notes) progress.say(note);
  progress.say(`only these guests are observed and managed; other domains on ${opts.uri} are left alone`);

  const names = plan.guests.map((g) => g.name);
  const interrupt = interruptHandler(progress);
  let finished = false;
  try {
    const up = await labUp(client, {
      origin: 'run', uri: opts.uri, root: opts.root, progress,
      accel: opts.accel, bootTimeoutSeconds: opts.bootTimeoutSeconds, balloonSettleSeconds: 60,
      guests: plan.guests.map((g) => ({ name: g.name, vcpus: g.vcpus, memoryMiB: g.memoryMiB, maxMemoryMiB: g.maxMemoryMiB, balloon: g.balloon, start: g.spec.startSeconds === 0, statsPeriod: g.spec.statsPeriod, diskMiB: g.diskMiB, freePageReporting: g.freePageReporting, ...(g.virtioMem ? { virtioMem: g.virtioMem } : {}) })),
      failureNote: opts.keep ? `guests left running (--keep) for a look; ${virtbalanceCommand()} lab down removes them` : 'guests removed (--keep leaves them for a look)',
    });
    interrupt.check();
    const guestByName = new Map(up.guests.map((g) => [g.name, g]));
    const lab = (p: LabGuestPlan) => guestByName.get(p.name)!;

    const player = new WorkloadPlayer(labWorkloadController(opts.root), scenario, plan.guests.map((g) => ({ spec: g.spec, guest: g.name })), PLAYER_TICK_SECONDS);
    const started = plan.guests.filter((g) => lab(g).started);
    const baselines = await progress.step('measuring each guest\'s idle memory use', () => player.measureBaselines(started.map((g) => g.name)),
      (b) => [...b].map(([n, mib]) => `${n} ${mib.toFixed(0)} MiB`).join(', '));
    void baselines;
    for (const g of started) await prepareGuest(client, g, lab(g), plan, progress);
    interrupt.check();

    // The loads of scenario time 0 are in place before the controllers' first measurement.
    const initial = await progress.step('setting the workloads of t=0', () => player.tick(0), (r) => `${r.sent} command${r.sent === 1 ? '' : 's'}${r.failed.length > 0 ? `, not reached: ${r.failed.map((f) => f.guest).join(', ')}` : ''}`);
    for (const f of initial.failed) progress.say(`${f.guest}: ${f.error}`);
    for (const r of initial.reads) progress.say(`t=0 s: ${r.guest}: ${r.command}`);
    const oom = new OomWatcher(up.guests);
    const dir = join(opts.outDir, labRunDirName(scenario.name));
    const tracePath = join(dir, 'trace.jsonl');
    const t0 = Date.now();
    const scenarioClock = playScenario({ client, plan, lab, player, progress, t0, isStopped: () => finished })
      .catch((err: unknown) => progress.say(`the scenario clock stopped: ${(err as Error).message.split('\n')[0]} (workloads no longer follow the scenario)`));
    let scans = Promise.resolve();
    const base = await openTarget({ uri: opts.uri });
    const foreign = opts.judged ? await startForeignController(opts.uri, names, opts.judged, progress) : undefined;
    try {
      await executeRun({
        judged: foreign?.judged,
        target: { ...base, label: `lab:${opts.uri}`, hypervisor: new ScopedHypervisor(base.hypervisor, names, { onLeftAlone: (others) => { if (others.length > 0) progress.say(`left alone (not this run's guests): ${others.join(', ')}`); } }), scenario: scenario.name },
        intervalSeconds: scenario.intervalSeconds,
        cpu: scenario.controllers.includes('cpu') ? labCpuOptions(scenario, opts.prefix) : undefined,
        memory: scenario.controllers.includes('memory') ? labMemoryOptions(scenario, opts.prefix) : undefined,
        dryRun: false,
        json: opts.json,
        quiet: opts.quiet,
        intervals,
        tracePath,
        onInterval: (entry) => {
          scans = scans.then(async () => {
            for (const k of await oom.scan(entry.interval)) progress.say(`${k.domain}: ${oomNotice(k)}`);
          }).catch((err: unknown) => progress.say(`reading the guest consoles failed: ${(err as Error).message.split('\n')[0]}`));
        },
      });
    } finally {
      finished = true;
      await foreign?.stop();
      await scenarioClock;
      await scans;
    }
    const lastInterval = Math.max(0, intervals - 1);
    for (const k of await oom.scan(lastInterval)) progress.say(`${k.domain}: ${oomNotice(k)} (seen after the run)`);

    await annotateTraceFile(tracePath, oom.kills);
    const lines = await readTrace(tracePath);
    const plots = await progress.step('writing plots', () => writePlots(lines, dir, scenario.name), (p) => `${p.length}`);
    const score = scoreTrace(lines);
    const kills = [...oom.kills];
    const done = lines.filter((l) => l.type === 'interval').length;
    if (opts.json) {
      print(JSON.stringify({ type: 'score', score }));
      print(JSON.stringify({ type: 'lab', notes: plan.notes, oomKills: kills, trace: tracePath, plots }));
    } else {
      print(`\n=== score of ${scenario.name} (${done} intervals of ${scenario.intervalSeconds} s, real guests on ${opts.uri})`);
      print(formatScore(score));
      print('');
      print(oomSummary(kills, names));
      print('lab notes:');
      for (const note of plan.notes) print(`  ${note}`);
      print(`trace: ${tracePath}`);
      for (const p of plots) print(`plot:  ${p}`);
    }
    return { plan, dir, tracePath, plots, score, oomKills: kills, intervals: done, bootSeconds: up.bootSeconds };
  } finally {
    finished = true;
    interrupt.release();
    if (opts.keep) progress.say(`keeping ${names.join(', ')} (--keep): ${virtbalanceCommand()} lab down removes them`);
    else await labRemove(client, names, progress);
  }
}

/** Statistics period and initial pins of a guest that has just come up. */
async function prepareGuest(client: LibvirtClient, g: LabGuestPlan, guest: LabGuest, plan: LabPlan, progress: Progress): Promise<void> {
  const dom = { name: guest.name, uuid: guest.uuid };
  const pins: string[] = [];
  for (const [vcpu, set] of g.pins.entries()) {
    if (set === null) continue;
    await client.pinVcpu(dom, vcpu, set, { pcpus: plan.hostPcpus });
    const from = g.spec.pin[vcpu]!;
    pins.push(`vCPU${vcpu}→${set.join(',')}${from.join(',') !== set.join(',') ? ` (scenario ${from.join(',')})` : ''}`);
  }
  const memory = plan.scenario.controllers.includes('memory');
  const stats = !g.balloon ? ', no balloon' : memory ? `, balloon stats ${g.spec.statsPeriod === 0 ? 'off until a coordinator sets a period' : `every ${g.spec.statsPeriod} s`}` : '';
  progress.say(`${guest.name}: ${pins.length > 0 ? `pinned ${pins.join(' ')}` : 'unpinned'}${stats}`);
}

interface ScenarioPlay {
  client: LibvirtClient;
  plan: LabPlan;
  lab: (p: LabGuestPlan) => LabGuest;
  player: WorkloadPlayer;
  progress: Progress;
  /** Scenario time 0, ms since the epoch. */
  t0: number;
  isStopped: () => boolean;
}

/**
 * The scenario's clock: every tick, the guests' start, stop and stats-stop events that are due,
 * then the workloads at scenario time t (seconds since t0). Runs until the run is finished.
 */
async function playScenario(p: ScenarioPlay): Promise<void> {
  const { client, plan, progress } = p;
  const done = new Set<string>();
  const unreachable = new Map<string, string>();
  const once = async (key: string, due: boolean, what: () => Promise<string>) => {
    if (!due || done.has(key)) return;
    done.add(key);
    try {
      progress.say(await what());
    } catch (err) {
      progress.say(`${key} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  for (let tick = 0; !p.isStopped(); tick++) {
    const t = (Date.now() - p.t0) / 1000;
    for (const g of plan.guests) {
      const guest = p.lab(g);
      const dom = { name: guest.name, uuid: guest.uuid };
      await once(`start ${g.name}`, g.spec.startSeconds > 0 && t >= g.spec.startSeconds, async () => {
        await startLabGuest(client, guest);
        await prepareGuest(client, g, guest, plan, progress);
        return `t=${t.toFixed(0)} s: started ${g.name} (the scenario starts it at ${g.spec.startSeconds} s)`;
      });
      await once(`stop ${g.name}`, g.spec.stopSeconds !== null && t >= g.spec.stopSeconds, async () => {
        await client.call('domainDestroyFlags', { dom, flags: 0 });
        return `t=${t.toFixed(0)} s: destroyed ${g.name} (the scenario stops it at ${g.spec.stopSeconds} s)`;
      });
      await once(`stats-stop ${g.name}`, g.spec.statsStopSeconds !== null && t >= g.spec.statsStopSeconds && g.balloon, async () => {
        await client.call('domainSetMemoryStatsPeriod', { dom, period: 0, flags: DomainAffect.Live });
        return `t=${t.toFixed(0)} s: ${g.name}'s balloon stats stopped (stats period 0; the scenario stops them at ${g.spec.statsStopSeconds} s)`;
      });
    }
    const result = await p.player.tick(t);
    for (const r of result.reads) progress.say(`t=${t.toFixed(0)} s: ${r.guest}: ${r.command}`);
    const failedNow = new Map(result.failed.map((f) => [f.guest, f.error]));
    for (const [guest, error] of failedNow) {
      if (!unreachable.has(guest)) progress.say(`t=${t.toFixed(0)} s: cannot set ${guest}'s workload: ${error}`);
      unreachable.set(guest, error);
    }
    for (const guest of [...unreachable.keys()]) {
      if (!failedNow.has(guest)) {
        unreachable.delete(guest);
        progress.say(`t=${t.toFixed(0)} s: ${guest}'s workload answers again`);
      }
    }
    const next = p.t0 + (tick + 1) * PLAYER_TICK_SECONDS * 1000;
    while (!p.isStopped() && Date.now() < next) await sleep(Math.min(200, next - Date.now()));
  }
}

export function oomSummary(kills: readonly SeenOomKill[], guests: readonly string[]): string {
  if (kills.length === 0) return `OOM kills (guest consoles): none in ${guests.length} guest${guests.length === 1 ? '' : 's'}`;
  const lines = [`OOM kills (guest consoles): ${kills.length}`];
  for (const k of kills) lines.push(`  ${k.domain}: ${k.process} (pid ${k.pid}), seen after interval ${k.interval}`);
  return lines.join('\n');
}

/**
 * Ctrl-C during a lab run: the first one lets the current step end and removes the guests (the
 * control loop stops by its own handler); a second one quits at once and leaves them for `lab down`.
 */
function interruptHandler(progress: Progress): { check(): void; release(): void } {
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) {
      progress.say(`interrupted again: quitting now; \`${virtbalanceCommand()} lab down\` removes the guests`);
      process.exit(130);
    }
    interrupted = true;
    progress.say('interrupted: finishing this step, then removing the guests (Ctrl-C again quits at once)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    check() {
      if (interrupted) throw new LabError('interrupted');
    },
    release() {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

/** The judged program, started against the daemon filtered to the lab's guests (see src/serve/). */
async function startForeignController(uri: string, names: string[], judged: { command: string[]; namespace: boolean }, progress: Progress) {
  const socketDir = mkdtempSync(join(tmpdir(), 'virtbalance-lab-judge-'));
  let actions: Action[] = [];
  const served = await startUpstreamServer({
    upstream: uri, only: names, socket: prepareSocketDir(socketDir),
    onWarning: (m) => progress.say(`filter: ${m}`), onAction: (a) => actions.push(a),
  });
  const program = startJudgedProgram(judged.command, socketDir, { namespace: judged.namespace && namespaceAvailable(), log: (line) => progress.say(line) });
  progress.say(`${judged.command.join(' ')} sees only ${names.join(', ')}, through ${program.how}`);
  return {
    judged: {
      description: `judging ${judged.command.join(' ')}`,
      takeActions: () => {
        const out = actions;
        actions = [];
        return out;
      },
    },
    async stop() {
      await program.stop();
      await served.close();
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
