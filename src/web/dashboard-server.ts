import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isIP, type AddressInfo } from 'node:net';
import type { TraceHeader, TraceInterval } from '../ground/trace-record.js';
import type { Hypervisor } from '../ground/hypervisor.js';
import { errorText } from '../ground/errors.js';
import { FatalError } from '../ground/errors.js';
import { EventStream } from './event-stream.js';
import { InstrumentedHypervisor, type CallReport } from './instrumented-hypervisor.js';
import { dashboardUrl, isLoopbackAddress, type ListenAddress } from '../config/listen-address.js';
import { RunMetrics } from './metrics.js';
import { RunState, type RunPhase } from './run-state.js';

// The dashboard's HTTP server (node:http, no framework):
//   GET /            the live page (src/web/page/), which draws with uPlot served from node_modules
//   GET /events      server-sent events: hello, header, interval, trials, status, ping
//   GET /api/state   JSON: header, status and the last intervals (?last=N), for late joiners
//   GET /metrics     Prometheus text format
//   GET /healthz     `ok`

export interface DashboardOptions {
  listen: ListenAddress;
  /** Serving beyond loopback was asked for: accept any Host header. */
  allowPublic?: boolean;
  uri: string;
  dryRun: boolean;
  pace?: number;
  plannedIntervals?: number;
  heartbeatMs?: number;
  historyLimit?: number;
  /** /metrics adds the libvirt exporter's per-domain series (docs/fleet.md). */
  libvirtNames?: boolean;
  /** /metrics adds node_exporter's host CPU idle and memory series (docs/fleet.md). */
  nodeNames?: boolean;
}

interface Asset {
  type: string;
  body: Buffer;
}

const pageDir = fileURLToPath(new URL('../../../src/web/page/', import.meta.url));
const require = createRequire(import.meta.url);

async function loadAssets(): Promise<Map<string, Asset>> {
  const files: [string, string, string][] = [
    ['/', `${pageDir}index.html`, 'text/html; charset=utf-8'],
    ['/assets/cpu-rules.js', `${pageDir}cpu-rules.js`, 'text/javascript; charset=utf-8'],
    ['/assets/dashboard.js', `${pageDir}dashboard.js`, 'text/javascript; charset=utf-8'],
    ['/assets/dashboard.css', `${pageDir}dashboard.css`, 'text/css; charset=utf-8'],
    ['/assets/uplot.js', require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/assets/uplot.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  const assets = new Map<string, Asset>();
  for (const [route, path, type] of files) {
    try {
      assets.set(route, { type, body: await readFile(path) });
    } catch (err) {
      throw new FatalError(`dashboard: cannot read ${path}: ${errorText(err)}`);
    }
  }
  return assets;
}

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

export class Dashboard {
  readonly state: RunState;
  readonly metrics: RunMetrics;
  private readonly stream: EventStream;
  private instrumented: InstrumentedHypervisor | undefined;
  private closed = false;

  private constructor(
    private readonly options: DashboardOptions,
    private readonly server: Server,
    private readonly assets: Map<string, Asset>,
  ) {
    this.metrics = new RunMetrics({ libvirtNames: options.libvirtNames, nodeNames: options.nodeNames });
    this.state = new RunState({ uri: options.uri, dryRun: options.dryRun, pace: options.pace, plannedIntervals: options.plannedIntervals }, options.historyLimit);
    this.stream = new EventStream({ heartbeatMs: options.heartbeatMs ?? 5000, onClientCount: (n) => this.metrics.dashboardClients.set(n) });
  }

  /** Binds the server; a taken port or a refused address is a one-line FatalError. */
  static async start(options: DashboardOptions): Promise<Dashboard> {
    const assets = await loadAssets();
    const server = createServer();
    const dashboard = new Dashboard(options, server, assets);
    server.on('request', (req, res) => dashboard.handle(req, res));
    // A client that sends garbage or vanishes mid-request costs only its own socket.
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException) => {
        const where = `${options.listen.host}:${options.listen.port}`;
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : errorText(err);
        reject(new FatalError(`--http ${where}: ${why}`));
      };
      server.once('error', fail);
      server.listen(options.listen.port, options.listen.host, () => {
        server.off('error', fail);
        resolve();
      });
    });
    server.on('error', () => {});
    return dashboard;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return dashboardUrl(this.options.listen.host, this.port);
  }

  /** Wraps the run's hypervisor so connection state, call errors and tick time reach the page and /metrics. */
  instrument(hypervisor: Hypervisor): Hypervisor {
    this.instrumented = new InstrumentedHypervisor(hypervisor, (r) => this.onCall(r));
    return this.instrumented;
  }

  publishHeader(header: TraceHeader): void {
    this.state.setHeader(header);
    this.metrics.recordHeader(header);
    this.stream.broadcast('header', header);
    this.stream.broadcast('status', this.state.status());
  }

  publishInterval(entry: TraceInterval): void {
    const started = this.instrumented?.lastObserveStartMs;
    const tickSeconds = started === undefined ? undefined : (performance.now() - started) / 1000;
    this.state.addInterval(entry);
    this.metrics.recordInterval(entry, { dryRun: this.options.dryRun, tickSeconds });
    this.stream.broadcast('interval', entry, entry.interval);
    // The trials over the whole run (a page's history may have dropped the intervals they happened in).
    if (entry.cpu) this.stream.broadcast('trials', this.state.trials());
  }

  setPhase(phase: RunPhase): void {
    this.stream.broadcast('status', this.state.update({ phase }));
  }

  get clients(): number {
    return this.stream.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream.close();
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closing;
  }

  private onCall(report: CallReport): void {
    this.metrics.recordCall(report.call, report.seconds, report.error !== undefined);
    if (report.observation) this.metrics.recordObservation(report.observation);
    const before = this.state.status();
    if (report.call === 'observe' && report.error === undefined && before.connection !== 'connected') {
      this.stream.broadcast('status', this.state.update({ connection: 'connected', failedObservations: 0 }));
    } else if (report.call === 'observe' && report.error !== undefined) {
      this.stream.broadcast('status', this.state.update({ connection: 'reconnecting', connectionError: errorText(report.error), failedObservations: before.failedObservations + 1 }));
    } else if (report.call === 'close') {
      this.stream.broadcast('status', this.state.update({ connection: 'closed' }));
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reply(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    if (!this.hostAllowed(req.headers.host)) {
      return this.reply(res, 403, 'text/plain; charset=utf-8', 'forbidden: this dashboard listens on loopback only; open it as localhost or 127.0.0.1 (or start it with --http-public)\n');
    }
    const asset = this.assets.get(url.pathname === '/index.html' ? '/' : url.pathname);
    if (asset) return this.reply(res, 200, asset.type, asset.body, { 'cache-control': 'no-cache' });
    switch (url.pathname) {
      case '/events':
        return this.stream.attach(req, res, [{ event: 'hello', data: { header: this.state.header, status: this.state.status(), lastInterval: this.state.latest()?.interval, trials: this.state.trials() } }]);
      case '/api/state': {
        const lastParam = url.searchParams.get('last');
        const last = lastParam === null || !/^\d+$/.test(lastParam) ? undefined : Number(lastParam);
        return this.reply(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.state.snapshot(last)), { 'cache-control': 'no-store' });
      }
      case '/metrics':
        this.metrics.text().then(
          (text) => this.reply(res, 200, this.metrics.contentType, text, { 'cache-control': 'no-store' }),
          (err) => this.reply(res, 500, 'text/plain; charset=utf-8', `metrics: ${errorText(err)}\n`),
        );
        return;
      case '/healthz':
        return this.reply(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/favicon.ico':
        return this.reply(res, 204, 'text/plain', '');
      default:
        return this.reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }

  /** Against DNS rebinding: a loopback-only server answers only to loopback names. */
  private hostAllowed(hostHeader: string | undefined): boolean {
    if (this.options.allowPublic) return true;
    if (hostHeader === undefined) return false;
    const host = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d+$/, '');
    if (host === 'localhost' || host === this.options.listen.host) return true;
    return isIP(host) !== 0 && isLoopbackAddress(host);
  }

  private reply(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, ...securityHeaders, ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : bytes);
  }
}
