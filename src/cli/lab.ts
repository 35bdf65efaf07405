// `virtbalance lab`: the real-VM lab (up, status, down, image, workload).
import { FatalError, UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { nonNegativeNumber, positiveInteger, positiveNumber } from '../ground/numbers.js';
import { LibvirtClient } from '../libvirt/client.js';
import { LibvirtConnectError } from '../libvirt/errors.js';
import { UriError } from '../libvirt/uri.js';
import type { DomainType } from '../lab/domain-xml.js';
import { buildImage } from '../lab/image.js';
import { DEFAULT_DISK_MIB, LabError, labDown, labStatus, labUp, type LabGuestStatus } from '../lab/lab.js';
import { labRoot } from '../lab/paths.js';
import { consoleProgress } from '../lab/progress.js';
import { formatCpuLoad, parseCpuLoads, WorkloadController, WorkloadError, type CpuLoad, type HotSchedule, type ScanSchedule, type WorkloadStatus } from '../lab/workload-channel.js';
import { findLabGuests } from '../lab/guests.js';
import { guestFilesIn } from '../lab/paths.js';
import { loadScenario } from '../host/sim/index.js';
import { resolveScenarioPath, shippedScenariosDir } from '../app/target.js';
import { checkGuestName } from '../lab/domain-xml.js';
import { DEFAULT_LAB_RUN_PREFIX, shippedScenarioByNumber, shippedScenarioCases } from '../lab/plan.js';
import { labRun } from '../lab/run.js';

const HELP = `usage: virtbalance lab <subcommand> [options]

Real QEMU guests on libvirt for trying the coordinators: a Debian cloud kernel
booted directly with a tiny initramfs running vb-workload, whose CPU and memory
load can be changed while the guest runs.

  lab up N [options]        define and start N guests <prefix>1..<prefix>N
      --vcpus V             vCPUs per guest (default 1)
      --memory MiB          balloon size at start (default 512)
      --max-memory MiB      the most a guest can get (default 2048)
      --prefix NAME         guest name prefix (default aos_vm)
      --cpu DUTY[@MS]       initial CPU duty of every vCPU, 0..1 (default 0), busy for
                            DUTY of every MS ms (10..60000, default 100)
      --disk MiB            each guest's disk, a sparse raw file (default 8192; 0 = none)
      --no-free-page-reporting
                            balloon without free page reporting (default: on, so
                            memory a guest frees goes back to the host by itself)
      --virtio-mem          boot each guest at --memory with a virtio-mem device for
                            the rest of --max-memory (nothing plugged at boot), instead
                            of booting at --max-memory with the balloon inflated
      --accel kvm|qemu      skip the KVM probe and use this domain type
      --timeout S           seconds a guest may take to come up (default 120)
  lab run SCENARIO [options]   play a scenario on real guests with its controllers:
                            bring up <prefix><domain> for each scenario domain, pin and load
                            them as it says, run the controllers (monitor output), then
                            trace, plots, score and OOM kills in DIR/lab-<scenario>/;
                            the guests are removed afterwards. The controllers manage only
                            these guests; every other domain on the host is left alone
  lab run cpu|memory N      the same for the shipped grader case N: \`lab run cpu 2\` plays
                            scenarios/cpu-2-*.yaml, \`lab run memory 1\` memory-1-*.yaml
      --intervals N         stop after N intervals (default: the scenario's)
      --prefix NAME         guest name prefix (default aos_: vm1 -> aos_vm1); a run
                            will not replace \`lab up\` guests of those names
      --out DIR             results directory (default out)
      --keep                leave the guests running afterwards
      --json                JSON lines per interval and the score as JSON
      --quiet               no monitor output per interval
      --accel, --timeout    as for lab up
      --no-free-page-reporting
                            every balloon without free page reporting (default: as the
                            scenario's freePageReporting says, off unless it says on)
  lab run SCENARIO [options] [--no-namespace] -- CMD ARGS...
                            the same, judging the program CMD instead of our controllers:
                            it runs against the daemon filtered to the lab's guests (other
                            domains are invisible and untouchable), reached as for
                            \`virtbalance judge\` (LIBVIRT_DEFAULT_URI; as root, qemu:///system
                            in a private mount namespace); its changes are scored
  lab status [--json]       every lab guest: state, vCPU time, balloon, virtio-mem
                            (boot, plugged, requested), page cache, read rate,
                            workload, OOM kills
  lab down [--prefix P]     destroy and undefine every lab guest (or those named
                            P...), remove its files; other domains are never touched
  lab image [--rebuild]     build (or show) the cached guest image
  lab workload NAME CMD...  send a command to a guest's workload program:
                            cpu 0.8 | cpu 1,0.2 | cpu 0.4@50 | mem rate=40 target=900 [hold=10]
                            | mem release | scan 1536 [rate=50] | scan stop
                            | hot 600 every=10 [rate=R] | hot off | drop
                            | probe on | probe off | status

  -c, --connect URI         libvirt URI (default qemu:///system)

Files live under $VIRTBALANCE_LAB_DIR (default ~/.cache/virtbalance/lab); QEMU
must be able to read them (see docs/lab.md).`;

const connectOption = { connect: { type: 'string', short: 'c', default: 'qemu:///system' } } as const;
const helpOption = { help: { type: 'boolean', short: 'h' } } as const;

async function connect(uri: string): Promise<LibvirtClient> {
  try {
    return await LibvirtClient.connect(uri);
  } catch (err) {
    if (err instanceof UriError) throw new UsageError(err.message);
    if (err instanceof LibvirtConnectError) {
      const cause = err.causeText;
      if (/ENOENT|ECONNREFUSED/.test(cause)) throw new FatalError(`libvirtd is not running: nothing answers on ${err.target} (on a test machine: bash scripts/libvirt-test-host.sh up)`);
      if (/EACCES|EPERM/.test(cause)) throw new FatalError(`no permission on libvirt's ${err.target}: run as root or as a member of the group that owns it`);
      if (/polkit|system bus|authenticat|access denied/i.test(cause)) throw new FatalError(`libvirtd refused this user (${cause}): run as root, or allow this user in libvirt's polkit rules`);
      throw new FatalError(err.message);
    }
    throw err;
  }
}

async function withClient<T>(uri: string, fn: (c: LibvirtClient) => Promise<T>): Promise<T> {
  const client = await connect(uri);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof LabError || err instanceof WorkloadError) throw new FatalError(err.message);
    throw err;
  } finally {
    await client.close();
  }
}

function wholeMiB(value: string | undefined, what: string): number {
  const n = nonNegativeNumber(value, what);
  if (!Number.isInteger(n)) throw new UsageError(`${what} must be a whole number of MiB, got '${value}'`);
  return n;
}

/** `0.8`, `0.4@50` (per vCPU: `1,0.4@50`) as vb-workload takes them; bad input is a usage error. */
export function cpuLoads(value: string, what: string): Required<CpuLoad>[] {
  try {
    return parseCpuLoads(value);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

async function up(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    ...connectOption, ...helpOption,
    vcpus: { type: 'string', default: '1' },
    memory: { type: 'string', default: '512' },
    'max-memory': { type: 'string', default: '2048' },
    prefix: { type: 'string', default: 'aos_vm' },
    cpu: { type: 'string' },
    disk: { type: 'string', default: String(DEFAULT_DISK_MIB) },
    accel: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    'no-free-page-reporting': { type: 'boolean' },
    'virtio-mem': { type: 'boolean' },
  }, 'lab up');
  if (values.help) return help();
  if (positionals.length !== 1) throw new UsageError('lab up: give the number of guests, e.g. `lab up 4`');
  const count = positiveInteger(positionals[0], 'lab up: number of guests');
  if (count > 64) throw new UsageError(`lab up: at most 64 guests, got ${count}`);
  const memoryMiB = positiveInteger(values.memory, '--memory');
  const maxMemoryMiB = positiveInteger(values['max-memory'], '--max-memory');
  if (maxMemoryMiB < memoryMiB) throw new UsageError(`--max-memory ${maxMemoryMiB} is below --memory ${memoryMiB}`);
  if (memoryMiB < 64) throw new UsageError(`--memory must be at least 64 MiB, got ${memoryMiB}`);
  const virtioMem = values['virtio-mem'] === true;
  if (virtioMem && !(maxMemoryMiB > memoryMiB && (maxMemoryMiB - memoryMiB) % 2 === 0)) {
    throw new UsageError(`--virtio-mem: the device is --max-memory less --memory (${maxMemoryMiB} - ${memoryMiB} MiB), which must be a positive multiple of its 2 MiB block`);
  }
  const accel = values.accel;
  if (accel !== undefined && accel !== 'kvm' && accel !== 'qemu') throw new UsageError(`--accel must be kvm or qemu, got '${accel}'`);
  const prefix = values.prefix;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/.test(prefix)) throw new UsageError(`--prefix '${prefix}' must be letters, digits, '_', '.', '-' (at most 41)`);
  const progress = consoleProgress('lab');
  const result = await withClient(values.connect, (client) => labUp(client, {
    count, vcpus: positiveInteger(values.vcpus, '--vcpus'), memoryMiB, maxMemoryMiB, prefix, uri: values.connect, diskMiB: wholeMiB(values.disk, '--disk'),
    root: labRoot(), progress, accel: accel as DomainType | undefined, freePageReporting: !values['no-free-page-reporting'], virtioMem,
    cpuLoad: values.cpu !== undefined ? cpuLoads(values.cpu, '--cpu') : undefined,
    bootTimeoutSeconds: positiveNumber(values.timeout, '--timeout'), balloonSettleSeconds: 60,
  }));
  console.log(`${result.guests.length} guest${result.guests.length === 1 ? '' : 's'} up in ${result.bootSeconds.toFixed(1)} s (domain type ${result.accel.domainType}, image ${result.image.key}):`);
  for (const g of result.guests) {
    const device = g.virtioMem ? `  virtio-mem ${g.virtioMem.sizeMiB} MiB beside ${g.memoryMiB} MiB boot memory` : '';
    console.log(`  ${g.name}  console ${g.consoleLog}  workload ${g.workloadSocket}${device}`);
  }
  return 0;
}

const mib = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(0));

function workloadSummary(w: WorkloadStatus): string {
  const parts = [`cpu=${w.cpu.map((duty, i) => formatCpuLoad({ duty, periodMs: w.cpuPeriodMs[i] })).join(',')}`, `mem=${w.memMiB}MiB(${w.memPhase})`];
  const d = w.disk;
  if (d && d.scanPhase !== 'idle') parts.push(`scan=${d.scanMiB}/${d.scanTargetMiB}MiB(${d.scanPhase})`);
  if (d && d.hotMiB > 0) parts.push(`hot=${d.hotMiB}MiB/${d.hotEverySeconds}s(${d.hotPasses} passes)`);
  return parts.join(' ');
}

/**
 * Boot, plugged and requested memory of a guest with virtio-mem (plugged out of the device's size),
 * MiB; '-' for the other guests. libvirt's balloon figures beside them count plugged memory in.
 */
export function memoryDeviceCells(r: LabGuestStatus): [string, string, string] {
  const d = r.memoryDevice;
  if (!d) return ['-', '-', '-'];
  return [mib(d.bootMiB), `${d.pluggedMiB === undefined ? '-' : mib(d.pluggedMiB)}/${mib(d.sizeMiB)}`, mib(d.requestedMiB)];
}

function printStatus(rows: LabGuestStatus[]): void {
  if (rows.length === 0) {
    console.log('no lab guests');
    return;
  }
  const header = ['name', 'state', 'vcpus', 'vcpu-s', 'boot', 'plugged', 'requested', 'balloon MiB', 'unused', 'usable', 'cache', 'read MiB/s', 'disk read', 'workload', 'oom'];
  const lines = rows.map((r) => {
    const d = r.workload?.disk;
    return [
      r.name, r.state, String(r.vcpus), r.vcpuSeconds.toFixed(1),
      ...memoryDeviceCells(r),
      r.balloon ? `${mib(r.balloon.currentMiB)}/${mib(r.balloon.maximumMiB)}` : '-',
      mib(r.balloon?.unusedMiB), mib(r.balloon?.usableMiB), mib(r.balloon?.diskCachesMiB),
      d ? `${d.readMiBps.toFixed(1)} (disk ${d.diskReadMiBps.toFixed(1)})` : '-',
      r.blockReadMiB !== undefined ? `${r.blockReadMiB.toFixed(0)} MiB` : '-',
      r.workload ? workloadSummary(r.workload) : (r.workloadError ? 'no answer' : '-'),
      String(r.oomKills.length),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  for (const l of [header, ...lines]) console.log(l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const r of rows) for (const k of r.oomKills) console.log(`${r.name}: OOM killed ${k.process} (pid ${k.pid})`);
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...connectOption, ...helpOption, json: { type: 'boolean' } }, 'lab status');
  if (values.help) return help();
  if (positionals.length > 0) throw new UsageError(`lab status: unexpected '${positionals[0]}'`);
  const rows = await withClient(values.connect, (c) => labStatus(c));
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  else printStatus(rows);
  return 0;
}

async function down(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...connectOption, ...helpOption, prefix: { type: 'string', default: '' } }, 'lab down');
  if (values.help) return help();
  if (positionals.length > 0) throw new UsageError(`lab down: unexpected '${positionals[0]}'`);
  const removed = await withClient(values.connect, (c) => labDown(c, consoleProgress('lab'), values.prefix));
  console.log(removed.length > 0 ? `removed ${removed.join(', ')}` : `no lab guests${values.prefix ? ` named ${values.prefix}*` : ''}`);
  return 0;
}

async function image(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...helpOption, rebuild: { type: 'boolean' } }, 'lab image');
  if (values.help) return help();
  if (positionals.length > 0) throw new UsageError(`lab image: unexpected '${positionals[0]}'`);
  try {
    const img = await buildImage({ root: labRoot(), progress: consoleProgress('lab'), force: values.rebuild });
    console.log(`image ${img.key} (${img.cached ? 'cached' : 'built'})\n  kernel ${img.kernel} (${img.kernelPackage.name} ${img.kernelPackage.version})\n  initrd ${img.initrd}\n  modules ${img.modules.join(' ')}`);
  } catch (err) {
    throw new FatalError(`building the guest image failed: ${(err as Error).message}`);
  }
  return 0;
}

async function workload(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...connectOption, ...helpOption }, 'lab workload');
  if (values.help) return help();
  const [name, ...words] = positionals;
  if (!name || words.length === 0) throw new UsageError('lab workload: give a guest and a command, e.g. `lab workload aos_vm1 cpu 0.8`');
  return withClient(values.connect, async (c) => {
    const guest = (await findLabGuests(c)).find((g) => g.domain.name === name);
    if (!guest) throw new FatalError(`${name} is not a lab guest (see virtbalance lab status)`);
    const controller = new WorkloadController(() => guestFilesIn(guest.marker.dir).workloadSocket);
    const [verb, ...rest] = words;
    if (verb === 'cpu') {
      const loads = cpuLoads(rest.join(',').split(',').filter(Boolean).join(','), 'cpu duty');
      console.log(`cpu=${(await controller.setCpuLoads(name, loads)).map(formatCpuLoad).join(',')}`);
    } else if (verb === 'mem' && rest.length === 1 && rest[0] === 'release') {
      console.log(JSON.stringify(await controller.setMemory(name, 'release')));
    } else if (verb === 'mem') {
      const kv = new Map(rest.map((w) => w.split('=') as [string, string]));
      for (const k of kv.keys()) if (!['rate', 'target', 'hold', 'release'].includes(k)) throw new UsageError(`lab workload mem: unknown '${k}' (rate=, target=, hold=, release=)`);
      if (!kv.has('target')) throw new UsageError('lab workload mem: needs target=<MiB>');
      const num = (k: string) => (kv.has(k) ? nonNegativeNumber(kv.get(k), `mem ${k}`) : undefined);
      console.log(JSON.stringify(await controller.setMemory(name, {
        rateMiBps: num('rate') ?? 0, targetMiB: num('target')!,
        ...(kv.has('hold') ? { holdSeconds: num('hold')! } : {}), ...(kv.has('release') ? { releaseMiBps: num('release')! } : {}),
      })));
    } else if (verb === 'scan') {
      console.log(JSON.stringify(await controller.setScan(name, parseScan(rest))));
    } else if (verb === 'hot') {
      console.log(JSON.stringify(await controller.setHot(name, parseHot(rest))));
    } else if (verb === 'drop' && rest.length === 0) {
      console.log(JSON.stringify(await controller.dropCaches(name)));
    } else if (verb === 'probe' && rest.length === 1 && (rest[0] === 'on' || rest[0] === 'off')) {
      console.log(JSON.stringify((await controller.setProbe(name, rest[0] === 'on')).probe));
    } else if (verb === 'status' && rest.length === 0) {
      console.log(JSON.stringify(await controller.status(name)));
    } else {
      throw new UsageError(`lab workload: unknown command '${words.join(' ')}' (cpu, mem, scan, hot, drop, probe on|off, status)`);
    }
    return 0;
  });
}

/** `scan 1536 [rate=50]` or `scan stop`. */
export function parseScan(words: string[]): ScanSchedule | 'stop' {
  if (words.length === 1 && words[0] === 'stop') return 'stop';
  const [size, ...opts] = words;
  const mib = positiveNumber(size, 'scan MiB');
  const kv = keyValues(opts, ['rate'], 'scan');
  return { mib, ...(kv.has('rate') ? { rateMiBps: nonNegativeNumber(kv.get('rate'), 'scan rate') } : {}) };
}

/** `hot 600 every=10 [rate=R]` or `hot off`. */
export function parseHot(words: string[]): HotSchedule | 'off' {
  if (words.length === 1 && words[0] === 'off') return 'off';
  const [size, ...opts] = words;
  const mib = positiveNumber(size, 'hot MiB');
  const kv = keyValues(opts, ['every', 'rate'], 'hot');
  if (!kv.has('every')) throw new UsageError('lab workload hot: needs every=<seconds>');
  return { mib, everySeconds: positiveNumber(kv.get('every'), 'hot every'), ...(kv.has('rate') ? { rateMiBps: nonNegativeNumber(kv.get('rate'), 'hot rate') } : {}) };
}

function keyValues(words: string[], allowed: string[], verb: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    const k = eq > 0 ? w.slice(0, eq) : w;
    if (eq <= 0 || !allowed.includes(k)) throw new UsageError(`lab workload ${verb}: unknown '${w}' (${allowed.map((a) => `${a}=`).join(', ')})`);
    kv.set(k, w.slice(eq + 1));
  }
  return kv;
}

function help(): number {
  console.log(HELP);
  return 0;
}

async function run(argvAll: string[]): Promise<number> {
  const dash = argvAll.indexOf('--');
  const argv = dash < 0 ? argvAll : argvAll.slice(0, dash);
  const command = dash < 0 ? undefined : argvAll.slice(dash + 1);
  if (command !== undefined && command.length === 0) throw new UsageError('lab run: give the program to judge after --');
  const { values, positionals } = parseCommandLine(argv, {
    ...connectOption, ...helpOption,
    intervals: { type: 'string' },
    prefix: { type: 'string', default: DEFAULT_LAB_RUN_PREFIX },
    out: { type: 'string', default: 'out' },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    accel: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    'no-namespace': { type: 'boolean' },
    'no-free-page-reporting': { type: 'boolean' },
  }, 'lab run');
  if (values.help) return help();
  const scenarioPath = labRunScenario(positionals);
  const accel = values.accel;
  if (accel !== undefined && accel !== 'kvm' && accel !== 'qemu') throw new UsageError(`--accel must be kvm or qemu, got '${accel}'`);
  const prefix = values.prefix;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/.test(prefix)) throw new UsageError(`--prefix '${prefix}' must be letters, digits, '_', '.', '-' (at most 41)`);
  const intervals = values.intervals !== undefined ? positiveInteger(values.intervals, '--intervals') : undefined;
  const bootTimeoutSeconds = positiveNumber(values.timeout, '--timeout');
  // A bad scenario file is bad input: say so before any guest is started.
  const plannedScenario = loadScenario(scenarioPath);
  for (const d of plannedScenario.domains) checkGuestNameOrUsage(`${prefix}${d.name}`);
  await withClient(values.connect, (client) => labRun(client, {
    scenarioPath, uri: values.connect, prefix, keep: !!values.keep, outDir: values.out, intervals,
    json: !!values.json, quiet: !!values.quiet, root: labRoot(), accel: accel as DomainType | undefined,
    ...(values['no-free-page-reporting'] ? { freePageReporting: false } : {}), bootTimeoutSeconds, progress: consoleProgress('lab'),
    ...(command ? { judged: { command, namespace: !values['no-namespace'] } } : {}),
  }));
  return 0;
}

function checkGuestNameOrUsage(name: string): void {
  try {
    checkGuestName(name);
  } catch (err) {
    throw new UsageError(`lab run: ${(err as Error).message}`);
  }
}

/** `lab run SCENARIO` or `lab run cpu 2` / `lab run memory 1` (the shipped grader cases). */
export function labRunScenario(positionals: readonly string[]): string {
  if (positionals.length === 1) return resolveScenarioPath(positionals[0]!);
  if (positionals.length === 2) {
    const [kind, number] = positionals as [string, string];
    const found = shippedScenarioByNumber(shippedScenariosDir, kind, number);
    if (found) return found;
    throw new UsageError(`lab run: no shipped scenario '${kind} ${number}' (shipped: ${shippedScenarioCases(shippedScenariosDir)}; or a scenario file)`);
  }
  throw new UsageError('lab run: give a scenario (a file or shipped name), or cpu|memory and a case number, e.g. `lab run cpu 2`');
}

const subcommands: Record<string, (argv: string[]) => Promise<number>> = { up, run, status, down, image, workload };

export async function labCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  const run = subcommands[sub];
  if (!run) throw new UsageError(`lab: unknown subcommand '${sub}' (up, run, status, down, image, workload)`);
  return run(rest);
}
