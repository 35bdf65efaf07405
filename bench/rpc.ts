// RPC benchmark: our libvirt client against virsh (a process per call, and one session fed on stdin) and
// python3-libvirt (libvirt's C library), side by side in one run against test+unix:///default; then our
// hand-written XDR decoder against @stellar/js-xdr on an all-domain-stats reply.
// Rounds are interleaved and the median kept: the machine is small and often shared.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { LibvirtClient } from '../src/libvirt/client.js';
import { LibvirtConnectError } from '../src/libvirt/errors.js';
import { DomainStatsGroup, procedures, type Domain, type TypedParamValue } from '../src/libvirt/protocol.js';
import { XdrReader, XdrWriter } from '../src/libvirt/xdr.js';

const URI = 'test+unix:///default';
const ROUND_SECONDS = Number(process.env.VB_BENCH_SECONDS ?? 0.4);
const ROUNDS = Number(process.env.VB_BENCH_ROUNDS ?? 7);
const IN_FLIGHT = 64;
const PY_THREADS = 16;
const STATS = DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon;

type Op = 'vcpus' | 'stats';
const OPS: Op[] = ['vcpus', 'stats'];
const VIRSH_ARGS: Record<Op, string[]> = {
  vcpus: ['vcpuinfo', 'test'],
  stats: ['domstats', '--state', '--vcpu', '--balloon'],
};

function log(s: string): void {
  console.log(`[bench rpc] ${s}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

// ---- ours ----

async function oursSequential(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function oursInFlight(fn: () => Promise<unknown>, seconds: number, inFlight: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      await fn();
      n++;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

// ---- python3-libvirt, one long-lived helper so its rounds interleave with ours ----

const PY_HELPER = String.raw`
import sys, time, threading
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open(sys.argv[1])
d = c.lookupByName('test')
ops = {'vcpus': lambda: d.vcpus(), 'stats': lambda: c.getAllDomainStats(int(sys.argv[2]))}
print('ready', flush=True)
for line in sys.stdin:
    mode, op, secs, threads = line.split()
    fn, secs, threads = ops[op], float(secs), int(threads)
    if mode == 'seq':
        n = 0; t0 = time.perf_counter(); end = t0 + secs
        while time.perf_counter() < end:
            fn(); n += 1
        print(n / (time.perf_counter() - t0), flush=True)
    else:
        counts = [0] * threads; end = time.perf_counter() + secs
        def work(i):
            while time.perf_counter() < end:
                fn(); counts[i] += 1
        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        t0 = time.perf_counter()
        for t in ts: t.start()
        for t in ts: t.join()
        print(sum(counts) / (time.perf_counter() - t0), flush=True)
`;

class PythonLibvirt {
  private buffered = '';
  private waiters: ((line: string) => void)[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.buffered += s;
      let i: number;
      while ((i = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiters.shift()?.(line);
      }
    });
  }

  static async start(): Promise<PythonLibvirt | string> {
    const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import libvirt']).status === 0);
    if (!python) return 'python3-libvirt not importable (apt-get install python3-libvirt)';
    const child = spawn(python, ['-u', '-c', PY_HELPER, URI, String(STATS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new PythonLibvirt(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const ready = await Promise.race([p.nextLine(), new Promise<string>((r) => child.once('exit', () => r(`exited: ${stderr.trim().split('\n').pop()}`)))]);
    return ready === 'ready' ? p : `python3-libvirt helper ${ready}`;
  }

  private nextLine(): Promise<string> {
    return new Promise((r) => this.waiters.push(r));
  }

  async run(mode: 'seq' | 'thr', op: Op, seconds: number): Promise<number> {
    this.child.stdin.write(`${mode} ${op} ${seconds} ${PY_THREADS}\n`);
    return Number(await this.nextLine());
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

// ---- virsh ----

function virshOnce(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('virsh', ['-q', '-c', URI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`virsh ${args.join(' ')}: ${err.trim()}`))));
  });
}

async function virshPerProcess(op: Op, seconds: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await virshOnce(VIRSH_ARGS[op]);
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

/** One virsh process reading commands from stdin; `echo` marks the end of a batch. */
async function virshSession(op: Op, seconds: number): Promise<number> {
  const child = spawn('virsh', ['-q', '-c', URI], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8');
  let out = '';
  let marker = '';
  let done: (() => void) | undefined;
  child.stdout.on('data', (s: string) => {
    out = (out + s).slice(-200);
    if (marker && out.includes(marker)) done?.();
  });
  const batch = async (count: number, tag: string): Promise<number> => {
    marker = `__vb_done_${tag}__`;
    out = '';
    const finished = new Promise<void>((r) => { done = r; });
    const t0 = performance.now();
    child.stdin.write(`${VIRSH_ARGS[op].join(' ')}\n`.repeat(count) + `echo ${marker}\n`);
    await finished;
    return performance.now() - t0;
  };
  try {
    const probeMs = await batch(50, 'probe');
    const count = Math.max(50, Math.round((seconds * 1000 * 50) / Math.max(probeMs, 1)));
    const ms = await batch(count, 'run');
    return count / (ms / 1000);
  } finally {
    child.stdin.end();
    child.kill();
  }
}

// ---- codec: ours vs @stellar/js-xdr on an all-domain-stats reply ----

function statsReplyPayload(domains: number, vcpus: number): { bytes: Buffer; domains: number; params: number } {
  const records = Array.from({ length: domains }, (_, i) => {
    const params = new Map<string, TypedParamValue>([
      ['state.state', 1], ['state.reason', 1], ['vcpu.current', vcpus], ['vcpu.maximum', vcpus],
    ]);
    for (let v = 0; v < vcpus; v++) {
      params.set(`vcpu.${v}.state`, 1);
      params.set(`vcpu.${v}.time`, 179_559_205_666_202 + v * 7_919 + i);
      params.set(`vcpu.${v}.wait`, 0);
      params.set(`vcpu.${v}.delay`, 12_345_678 + v);
    }
    for (const [k, val] of [['current', 524288], ['maximum', 2097152], ['swap_in', 0], ['swap_out', 0], ['major_fault', 211], ['minor_fault', 81231],
      ['unused', 402312], ['available', 492000], ['usable', 420112], ['last-update', 1_732_520_000 + i], ['disk_caches', 12000], ['rss', 612000]] as const) {
      params.set(`balloon.${k}`, val);
    }
    const dom: Domain = { name: `vm-${i}`, uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, id: i + 1 };
    return { dom, params };
  });
  const w = new XdrWriter();
  procedures.connectGetAllDomainStats.ret.enc(w, { retStats: records });
  return { bytes: w.toBuffer(), domains, params: records.reduce((s, r) => s + r.params.size, 0) };
}

interface JsXdrRet {
  retStats(): Array<{ dom(): { name(): Buffer | string; uuid(): Buffer; id(): number }; params(): Array<{ field(): Buffer | string; value(): { switch(): number; value(): unknown } }> }>;
}

function loadJsXdr(): { fromXDR(b: Buffer): JsXdrRet } | string {
  let X: any;
  try {
    X = createRequire(import.meta.url)('@stellar/js-xdr');
  } catch {
    return '@stellar/js-xdr not installed (npm i -D @stellar/js-xdr@3)';
  }
  const types = X.config((xdr: any) => {
    xdr.typedef('NonnullString', xdr.string(4_194_304));
    xdr.struct('Domain', [['name', xdr.lookup('NonnullString')], ['uuid', xdr.opaque(16)], ['id', xdr.int()]]);
    xdr.union('TypedParamValue', {
      switchOn: xdr.int(),
      switchName: 'type',
      switches: [[1, 'i'], [2, 'ui'], [3, 'l'], [4, 'ul'], [5, 'd'], [6, 'b'], [7, 's']],
      arms: { i: xdr.int(), ui: xdr.uint(), l: xdr.hyper(), ul: xdr.uhyper(), d: xdr.double(), b: xdr.int(), s: xdr.lookup('NonnullString') },
    });
    xdr.struct('TypedParam', [['field', xdr.lookup('NonnullString')], ['value', xdr.lookup('TypedParamValue')]]);
    xdr.struct('StatsRecord', [['dom', xdr.lookup('Domain')], ['params', xdr.varArray(xdr.lookup('TypedParam'), 262_144)]]);
    xdr.struct('GetAllDomainStatsRet', [['retStats', xdr.varArray(xdr.lookup('StatsRecord'), 16_384)]]);
  });
  return types.GetAllDomainStatsRet;
}

/** js-xdr's result turned into what our decoder returns directly (names as strings, numbers in a Map). */
function jsXdrToMaps(r: JsXdrRet): Array<{ name: string; params: Map<string, TypedParamValue> }> {
  return r.retStats().map((rec) => {
    const params = new Map<string, TypedParamValue>();
    for (const p of rec.params()) {
      const raw = p.value().value() as unknown;
      const v = typeof raw === 'object' && raw !== null && 'toBigInt' in raw ? (raw as { toBigInt(): bigint }).toBigInt() : raw;
      params.set(p.field().toString(), typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : (v as TypedParamValue));
    }
    return { name: rec.dom().name().toString(), params };
  });
}

function timeDecode(fn: () => unknown, seconds: number): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function codecBench(): Promise<void> {
  const payload = statsReplyPayload(16, 4);
  const ret = procedures.connectGetAllDomainStats.ret;
  const oursDecode = () => ret.dec(new XdrReader(payload.bytes));
  log(`codec: all-domain-stats reply of ${payload.bytes.length} bytes (${payload.domains} domains, ${payload.params} typed params)`);
  const jsxdr = loadJsXdr();
  if (typeof jsxdr === 'string') {
    log(`codec: ${jsxdr}; comparing against nothing`);
  } else {
    // Same answer from both decoders before timing them.
    const a = oursDecode().retStats.map((r) => ({ name: r.dom.name, params: r.params }));
    const b = jsXdrToMaps(jsxdr.fromXDR(payload.bytes));
    if (JSON.stringify(a.map((x) => [x.name, [...x.params]])) !== JSON.stringify(b.map((x) => [x.name, [...x.params]]))) {
      throw new Error('codec bench: the two decoders disagree');
    }
  }
  const rates: Record<string, number[]> = { ours: [], jsxdr: [], jsxdrMaps: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rates.ours!.push(timeDecode(oursDecode, 0.5));
    if (typeof jsxdr !== 'string') {
      rates.jsxdr!.push(timeDecode(() => jsxdr.fromXDR(payload.bytes), 0.5));
      rates.jsxdrMaps!.push(timeDecode(() => jsXdrToMaps(jsxdr.fromXDR(payload.bytes)), 0.5));
    }
  }
  const ours = median(rates.ours!);
  const mb = (r: number) => ((r * payload.bytes.length) / 1e6).toFixed(0);
  console.log('');
  console.log('  decoder (all-domain-stats reply)          decodes/s      MB/s   ours is');
  console.log(`  ours (hand-written, into Maps)        ${fmt(ours).padStart(13)} ${mb(ours).padStart(9)}`);
  if (typeof jsxdr !== 'string') {
    const j = median(rates.jsxdr!);
    const jm = median(rates.jsxdrMaps!);
    console.log(`  @stellar/js-xdr 3 (raw objects)       ${fmt(j).padStart(13)} ${mb(j).padStart(9)}   ${(ours / j).toFixed(1)}x faster`);
    console.log(`  @stellar/js-xdr 3 + to the same Maps  ${fmt(jm).padStart(13)} ${mb(jm).padStart(9)}   ${(ours / jm).toFixed(1)}x faster`);
  }
}

// ---- the run ----

interface Row {
  label: string;
  rates: Record<Op, number[]>;
  note?: string;
}

function row(label: string, note?: string): Row {
  return { label, rates: { vcpus: [], stats: [] }, ...(note ? { note } : {}) };
}

export async function runRpcBench(): Promise<void> {
  const t0 = performance.now();
  log(`against ${URI}; ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s per measurement, median kept; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  let client: LibvirtClient;
  try {
    client = await LibvirtClient.connect(URI);
  } catch (err) {
    if (err instanceof LibvirtConnectError) {
      log(`skipped: ${err.message}; start it with scripts/libvirt-test-host.sh up`);
      return;
    }
    throw err;
  }
  const [dom] = await client.listAllDomains();
  if (!dom) throw new Error(`${URI} lists no domain`);
  const { vcpus } = await client.domainInfo(dom);
  const { cpus: pcpus } = await client.nodeInfo();
  const ours: Record<Op, () => Promise<unknown>> = {
    vcpus: () => client.getVcpus(dom, { vcpus, pcpus }),
    stats: () => client.getAllDomainStats(STATS),
  };
  // python's dom.vcpus() also looks up the domain's vCPU count and the host's CPU map each time: do the same once.
  const oursLikePython = () => Promise.all([client.domainInfo(dom), client.nodeInfo()]).then(([i, n]) => client.getVcpus(dom, { vcpus: i.vcpus, pcpus: n.cpus }));

  const py = await PythonLibvirt.start();
  if (typeof py === 'string') log(`python3-libvirt: ${py}; its rows stay empty`);

  const oursSeq = row('ours, sequential');
  const oursLookups = row('ours, sequential, with python\'s look-ups', 'vcpus: 3 RPCs per call');
  const oursPar = row(`ours, ${IN_FLIGHT} in flight`);
  const pySeq = row('python3-libvirt, sequential');
  const pyThr = row(`python3-libvirt, ${PY_THREADS} threads`);
  const virshProc = row('virsh, a process per call');
  const virshSess = row('virsh, one session on stdin');

  for (let round = 1; round <= ROUNDS; round++) {
    for (const op of OPS) {
      const steps: (() => Promise<void>)[] = [
        async () => { oursSeq.rates[op].push(await oursSequential(ours[op], ROUND_SECONDS)); },
        async () => { oursPar.rates[op].push(await oursInFlight(ours[op], ROUND_SECONDS, IN_FLIGHT)); },
      ];
      if (typeof py !== 'string') {
        steps.push(async () => { pySeq.rates[op].push(await py.run('seq', op, ROUND_SECONDS)); });
        steps.push(async () => { pyThr.rates[op].push(await py.run('thr', op, ROUND_SECONDS)); });
      }
      if (op === 'vcpus') steps.push(async () => { oursLookups.rates[op].push(await oursSequential(oursLikePython, ROUND_SECONDS)); });
      // Alternate who goes first, so a burst of load from elsewhere does not always hit the same side.
      if (round % 2 === 0) steps.reverse();
      for (const step of steps) await step();
      log(`round ${round}/${ROUNDS} ${op}: ours seq ${fmt(oursSeq.rates[op].at(-1))}/s, ${IN_FLIGHT} in flight ${fmt(oursPar.rates[op].at(-1))}/s; python seq ${fmt(pySeq.rates[op].at(-1))}/s, threads ${fmt(pyThr.rates[op].at(-1))}/s`);
    }
  }
  if (typeof py !== 'string') py.stop();
  for (const op of OPS) {
    virshProc.rates[op].push(await virshPerProcess(op, 1.5));
    virshSess.rates[op].push(await virshSession(op, 1.5));
    log(`virsh ${op}: a process per call ${fmt(virshProc.rates[op].at(-1))}/s, one session ${fmt(virshSess.rates[op].at(-1))}/s`);
  }
  await client.close();

  const rows = [oursSeq, oursLookups, oursPar, pySeq, pyThr, virshProc, virshSess];
  const m = (r: Row, op: Op) => median(r.rates[op]);
  console.log('');
  console.log(`  calls/second against ${URI}            get vCPUs   all-domain stats`);
  for (const r of rows) console.log(`  ${r.label.padEnd(44)} ${fmt(m(r, 'vcpus')).padStart(10)} ${fmt(m(r, 'stats')).padStart(18)}${r.note ? `   (${r.note})` : ''}`);
  console.log('');
  console.log('  ratio                                              target  get vCPUs   all-domain stats');
  const ratio = (label: string, target: number | undefined, a: Row, b: Row) => {
    const cells = OPS.map((op) => {
      const x = m(a, op) / m(b, op);
      if (!Number.isFinite(x)) return 'n/a';
      return target === undefined ? `${x.toFixed(1)}x` : `${x.toFixed(1)}x ${x >= target ? 'ok' : 'BELOW'}`;
    });
    const t = target === undefined ? '-' : `≥${target}x`;
    console.log(`  ${label.padEnd(50)} ${t.padStart(6)} ${cells[0]!.padStart(10)} ${cells[1]!.padStart(18)}`);
  };
  ratio('ours sequential / python sequential', 1, oursSeq, pySeq);
  ratio(`ours ${IN_FLIGHT} in flight / python sequential`, 3, oursPar, pySeq);
  ratio(`ours ${IN_FLIGHT} in flight / python ${PY_THREADS} threads`, undefined, oursPar, pyThr);
  ratio('ours sequential / virsh a process per call', 50, oursSeq, virshProc);
  ratio('ours sequential / virsh one session', undefined, oursSeq, virshSess);

  console.log('');
  await codecBench();
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
