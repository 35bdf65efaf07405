import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UsageError } from '../ground/errors.js';

// Where the dashboard and /metrics listen (`--http`, or `http:` in the config file): `[HOST:]PORT`,
// loopback only unless the operator asks for more. The dashboard has no authentication and shows
// every guest's name and load, so serving it beyond this machine must be a deliberate choice
// (--http-public, or `httpPublic: true`).

export interface ListenAddress {
  host: string;
  port: number;
}

export const defaultDashboardHost = '127.0.0.1';

/** `8080`, `:8080`, `localhost:8080`, `0.0.0.0:8080`, `[::1]:8080`. Port 0 picks a free port. */
export function parseListenAddress(text: string, option = '--http'): ListenAddress {
  const bad = (why: string) => new UsageError(`${option} '${text}': ${why} (expected [HOST:]PORT, e.g. 8080 or 127.0.0.1:8080)`);
  let host = defaultDashboardHost;
  let portText = text;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (isIP(host) !== 6) throw bad(`'${host}' is not an IPv6 address`);
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    if (text.indexOf(':') !== at) throw bad('write an IPv6 address in brackets, [::1]:8080');
    if (at > 0) host = text.slice(0, at);
    portText = text.slice(at + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad(`'${portText}' is not a port number`);
  const port = Number(portText);
  if (port > 65535) throw bad(`port ${port} is above 65535`);
  return { host, port };
}

export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) {
    const lower = address.toLowerCase();
    return lower === '::1' || /^::ffff:127\./.test(lower) || lower === '0:0:0:0:0:0:0:1';
  }
  return false;
}

/**
 * Refuses a host that reaches beyond loopback unless allowPublic. Names are resolved: a name
 * is loopback only when every address it resolves to is.
 */
export async function checkListenAddress(address: ListenAddress, allowPublic: boolean, option = '--http', howToAllow = 'add --http-public to allow it'): Promise<void> {
  if (allowPublic) return;
  let addresses: string[];
  if (isIP(address.host)) addresses = [address.host];
  else {
    try {
      addresses = (await lookup(address.host, { all: true })).map((a) => a.address);
    } catch {
      throw new UsageError(`${option}: cannot resolve host '${address.host}'`);
    }
  }
  const outside = addresses.find((a) => !isLoopbackAddress(a));
  if (outside !== undefined) {
    const which = outside === address.host ? `${outside} is not a loopback address` : `'${address.host}' resolves to ${outside}, not a loopback address`;
    throw new UsageError(`${option} ${address.host}:${address.port} would serve the dashboard beyond this machine (${which}); ${howToAllow}`);
  }
}

/** The URL a person opens: brackets around IPv6, and the wildcard addresses shown as localhost. */
export function dashboardUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}/`;
}
