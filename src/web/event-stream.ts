import type { IncomingMessage, ServerResponse } from 'node:http';

// Server-sent events to every open dashboard page. A page that goes away (tab closed, network
// dropped, mid-write) is forgotten without disturbing the others; a page that stops reading is
// dropped once its backlog passes maxBacklogBytes, so one stuck client cannot grow the server's
// memory. A heartbeat keeps proxies from closing an idle stream and lets the page tell a quiet
// run from a dead connection.

export interface EventStreamOptions {
  heartbeatMs: number;
  maxBacklogBytes?: number;
  /** Told whenever the number of connected pages changes. */
  onClientCount?: (count: number) => void;
}

export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxBacklogBytes: number;

  constructor(private readonly options: EventStreamOptions) {
    this.maxBacklogBytes = options.maxBacklogBytes ?? 4 * 1024 * 1024;
    this.heartbeat = setInterval(() => this.broadcast('ping', { serverTimeMs: Date.now() }), options.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over the response as an event stream; `first` events go to this page only. */
  attach(req: IncomingMessage, res: ServerResponse, first: { event: string; data: unknown; id?: number }[] = []): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    // Browsers retry after this many ms when the stream breaks.
    res.write('retry: 2000\n\n');
    const forget = () => this.remove(res);
    req.on('close', forget);
    res.on('close', forget);
    res.on('error', forget);
    this.clients.add(res);
    this.options.onClientCount?.(this.clients.size);
    for (const e of first) this.write(res, frame(e.event, e.data, e.id));
  }

  broadcast(event: string, data: unknown, id?: number): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data, id);
    for (const res of this.clients) this.write(res, text);
  }

  /** Ends every stream (the pages will retry, and find the server gone or restarted). */
  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.options.onClientCount?.(0);
  }

  private write(res: ServerResponse, text: string): void {
    if (res.destroyed || res.writableEnded) return this.remove(res);
    if (res.writableLength > this.maxBacklogBytes) {
      res.destroy();
      return this.remove(res);
    }
    res.write(text);
  }

  private remove(res: ServerResponse): void {
    if (this.clients.delete(res)) this.options.onClientCount?.(this.clients.size);
  }
}

/** One SSE frame. JSON never holds a raw newline, so the data fits on one `data:` line. */
export function frame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
