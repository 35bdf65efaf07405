// A real libvirt daemon served through a filter: only the named domains can be seen or changed.
import type { Action } from '../ground/actions.js';
import { LibvirtClient } from '../libvirt/client.js';
import { LibvirtServer } from '../libvirt/server.js';
import { upstreamProcedures } from './upstream-procedures.js';

export interface UpstreamServerOptions {
  upstream: string;
  only: readonly string[];
  socket?: string;
  tcp?: { host: string; port: number };
  onWarning?: (message: string) => void;
  /** Every change a client made to one of the domains (pins, balloon targets, stats periods). */
  onAction?: (action: Action) => void;
}

export interface UpstreamServer {
  server: LibvirtServer;
  upstream: LibvirtClient;
  tcpPort?: number;
  close(): Promise<void>;
}

export async function startUpstreamServer(options: UpstreamServerOptions): Promise<UpstreamServer> {
  const upstream = await LibvirtClient.connect(options.upstream);
  const server = new LibvirtServer({ handlers: upstreamProcedures(upstream, options.only, { onAction: options.onAction }), maxClients: 256 });
  server.on('warning', (m) => options.onWarning?.(m));
  upstream.on('close', (info) => {
    options.onWarning?.(`the upstream connection to ${options.upstream} closed${info.error ? `: ${info.error.message}` : ''}; clients are closed too`);
    void server.close();
  });
  let tcpPort: number | undefined;
  try {
    if (options.socket) await server.listenUnix(options.socket);
    if (options.tcp) tcpPort = await server.listenTcp(options.tcp.host, options.tcp.port);
  } catch (err) {
    await server.close();
    await upstream.close();
    throw err;
  }
  return {
    server,
    upstream,
    tcpPort,
    async close() {
      await server.close();
      await upstream.close();
    },
  };
}
